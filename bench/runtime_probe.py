"""Start a function binary against a minimal Lambda runtime API and measure it.

It serves the three calls a function makes to the runtime API (next invocation, response,
error) on 127.0.0.1, hands the function one event, and reports as JSON:

- ready_ms: from just before the process is spawned to its first request for an invocation,
  which is the cold start a function pays before it can take work (its init phase);
- handled_ms: from handing out the event to receiving the function's answer;
- peak_rss_kb: the process's peak resident memory (VmHWM) after it answered;
- outcome: "response" or "error", and the answer's first 200 characters.

The function runs with the environment this script was started with, plus
AWS_LAMBDA_RUNTIME_API and the variables Lambda itself sets.

Usage: python runtime_probe.py BINARY EVENT_FILE [RUNS]
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Probe:
    def __init__(self, event):
        self.event = event
        self.first_next = None
        self.handed_out = None
        self.answered = None
        self.outcome = None
        self.body = b""
        self.done = threading.Event()
        self.served = False


class QuietServer(ThreadingHTTPServer):
    """Says nothing when the function is stopped while its next poll is held open."""

    def handle_error(self, request, client_address):
        pass


def make_handler(probe):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            if self.path != f"{PREFIX}/invocation/next":
                self.send_error(404)
                return
            now = time.monotonic()
            if probe.first_next is None:
                probe.first_next = now
            if probe.served:
                # A second poll after the answer: hold it until the process is stopped.
                probe.done.wait()
                time.sleep(60)
                return
            probe.served = True
            probe.handed_out = time.monotonic()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(probe.event)))
            self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-request-1")
            deadline = int(time.time() * 1000) + 300_000
            self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
            self.send_header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.end_headers()
            self.wfile.write(probe.event)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path.endswith("/response"):
                probe.outcome = "response"
            elif self.path.endswith("/error"):
                probe.outcome = "error"
            else:
                probe.outcome = "init-error"
            probe.body = body
            probe.answered = time.monotonic()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            probe.done.set()

    return Handler


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def measure(binary, event):
    probe = Probe(event)
    server = QuietServer(("127.0.0.1", 0), make_handler(probe))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": os.path.basename(binary),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    })
    start = time.monotonic()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not probe.done.wait(120):
            raise SystemExit(f"{binary} gave no answer within 120 s")
        rss = peak_rss_kb(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()
    return {
        "ready_ms": (probe.first_next - start) * 1000,
        "handled_ms": (probe.answered - probe.handed_out) * 1000 if probe.handed_out else None,
        "peak_rss_kb": rss,
        "outcome": probe.outcome,
        "answer": probe.body.decode("utf-8", "replace")[:200],
    }


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    binary, event_file = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with open(event_file, "rb") as f:
        event = f.read()
    results = [measure(binary, event) for _ in range(runs)]
    print(json.dumps({
        "ready_ms_median": statistics.median(r["ready_ms"] for r in results),
        "peak_rss_kb_max": max(r["peak_rss_kb"] for r in results),
        "outcome": results[-1]["outcome"],
        "answer": results[-1]["answer"],
        "runs": runs,
    }))


if __name__ == "__main__":
    main()
