"""CloudWatch protocol adapter for the local stack.

The current AWS SDK for Rust speaks CloudWatch's Smithy RPC v2 CBOR protocol
(`POST /service/GraniteServiceVersion20100801/operation/<Operation>`, CBOR bodies), while
moto serves CloudWatch only in the older query protocol and answers a CBOR request with a
404. This adapter sits between the two: it decodes the CBOR request, makes the same
operation against moto through boto3 (which speaks the query protocol), and encodes the
answer, or the error, back as CBOR. Alarm state therefore lives in moto, where the tests
and the rehearsal can also drive it.

Usage: python cloudwatch_cbor.py --port PORT --moto http://127.0.0.1:MOTO_PORT
It binds 127.0.0.1 only.
"""

import argparse
import datetime
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.exceptions
import cbor2
from botocore import xform_name

PATH = re.compile(r"^/service/GraniteServiceVersion20100801/operation/([A-Za-z]+)$")


def encode(value):
    """CBOR with timestamps as tag 1 (epoch seconds), as the protocol requires."""
    return cbor2.dumps(value, datetime_as_timestamp=True, timezone=datetime.timezone.utc)


class Adapter(BaseHTTPRequestHandler):
    client = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep the test output quiet
        pass

    def reply(self, status, payload):
        body = encode(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/cbor")
        self.send_header("smithy-protocol", "rpc-v2-cbor")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        match = PATH.match(self.path.split("?", 1)[0])
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not match:
            self.reply(404, {"__type": "UnknownOperationException", "message": self.path})
            return
        operation = match.group(1)
        try:
            params = cbor2.loads(raw) if raw else {}
        except Exception as err:  # a body that is not CBOR
            self.reply(400, {"__type": "SerializationException", "message": str(err)})
            return
        method = xform_name(operation)
        if not hasattr(self.client, method):
            self.reply(400, {"__type": "UnknownOperationException", "message": operation})
            return
        try:
            result = getattr(self.client, method)(**(params or {}))
        except botocore.exceptions.ParamValidationError as err:
            self.reply(400, {"__type": "ValidationError", "message": str(err)})
            return
        except botocore.exceptions.ClientError as err:
            error = err.response.get("Error", {})
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
            self.reply(
                status,
                {"__type": error.get("Code", "InternalFailure"), "message": error.get("Message", "")},
            )
            return
        result.pop("ResponseMetadata", None)
        self.reply(200, result)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--moto", required=True, help="moto's endpoint URL")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    Adapter.client = boto3.client(
        "cloudwatch",
        endpoint_url=args.moto,
        region_name=args.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Adapter)
    print(f"cloudwatch adapter on 127.0.0.1:{args.port} -> {args.moto}", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
