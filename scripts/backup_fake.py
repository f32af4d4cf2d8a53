"""A wire-level fake of the AWS Backup REST-JSON API, for the tests and the rehearsal.

moto does not serve AWS Backup's recovery-point, vault-lock and restore-job calls, so
this small server answers them on 127.0.0.1 from state a test seeds. A function reaches
it through the standard AWS_ENDPOINT_URL_BACKUP variable (or an SDK config whose backup
endpoint is this server), so the function's own code takes no test-only path and its
real SDK client serialises every request and parses every answer.

Operations served, with the SDK's own paths:
  GET  /backup-vaults/{name}                                DescribeBackupVault
  GET  /backup-vaults/{name}/recovery-points/{arn}          DescribeRecoveryPoint
  GET  /resources/{arn}/recovery-points                     ListRecoveryPointsByResource
  GET  /restore-jobs/{id}                                   DescribeRestoreJob
  PUT  /restore-jobs/{id}/validations                       PutRestoreValidationResult
  GET  /copy-jobs/{id}                                      DescribeCopyJob
  GET  /backup-jobs/{id}                                    DescribeBackupJob

Control endpoints (not part of AWS):
  POST /_fake/state   replace the state with the JSON body:
        {"vaults": {name: DescribeBackupVault output},
         "recoveryPoints": [DescribeRecoveryPoint output, ...],
         "restoreJobs": {id: DescribeRestoreJob output},
         "copyJobs": {id: CopyJob},
         "backupJobs": {id: DescribeBackupJob output},
         "pageSize": n,                      # ListRecoveryPointsByResource page size
         "failures": {Operation: {"status": 403, "code": "...", "message": "..."}}}
      Timestamps are given as epoch seconds, as they travel on the wire.
  GET  /_fake/calls   every operation served so far, in order, with its inputs

Usage: python backup_fake.py [--port PORT]   (0, the default, picks a free port)
It prints "listening on 127.0.0.1:PORT" on its first line of stdout, and binds
127.0.0.1 only.
"""

import argparse
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ROUTES = [
    ("GET", re.compile(r"^/backup-vaults/([^/]+)/recovery-points/([^/]+)$"),
     "DescribeRecoveryPoint"),
    ("GET", re.compile(r"^/backup-vaults/([^/]+)$"), "DescribeBackupVault"),
    ("GET", re.compile(r"^/resources/([^/]+)/recovery-points/?$"), "ListRecoveryPointsByResource"),
    ("PUT", re.compile(r"^/restore-jobs/([^/]+)/validations$"), "PutRestoreValidationResult"),
    ("GET", re.compile(r"^/restore-jobs/([^/]+)$"), "DescribeRestoreJob"),
    ("GET", re.compile(r"^/copy-jobs/([^/]+)$"), "DescribeCopyJob"),
    ("GET", re.compile(r"^/backup-jobs/([^/]+)$"), "DescribeBackupJob"),
]

# Fields of DescribeRecoveryPoint that ListRecoveryPointsByResource also returns.
BY_RESOURCE_FIELDS = (
    "RecoveryPointArn", "CreationDate", "Status", "StatusMessage", "EncryptionKeyArn",
    "BackupVaultName", "IsParent", "ParentRecoveryPointArn", "ResourceName", "VaultType",
)


class ServiceError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def not_found(what):
    return ServiceError(404, "ResourceNotFoundException", f"{what} not found")


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.data = {}
        self.calls = []

    def replace(self, data):
        with self.lock:
            self.data = data
            self.calls = []


STATE = State()


def describe_backup_vault(name, query, _body):
    vault = STATE.data.get("vaults", {}).get(name)
    if vault is None:
        raise not_found(f"backup vault {name}")
    return vault


def describe_recovery_point(vault, arn, query, _body):
    for point in STATE.data.get("recoveryPoints", []):
        if point.get("RecoveryPointArn") == arn and point.get("BackupVaultName") == vault:
            return point
    raise not_found(f"recovery point {arn} in vault {vault}")


def list_recovery_points_by_resource(resource, query, _body):
    points = [
        {k: p[k] for k in BY_RESOURCE_FIELDS if k in p}
        for p in STATE.data.get("recoveryPoints", [])
        if p.get("ResourceArn") == resource
    ]
    size = int((query.get("maxResults") or [STATE.data.get("pageSize", 100)])[0])
    size = min(size, int(STATE.data.get("pageSize", size)))
    start = int((query.get("nextToken") or ["0"])[0])
    page = points[start:start + size]
    out = {"RecoveryPoints": page}
    if start + size < len(points):
        out["NextToken"] = str(start + size)
    return out


def describe_restore_job(job_id, query, _body):
    job = STATE.data.get("restoreJobs", {}).get(job_id)
    if job is None:
        raise not_found(f"restore job {job_id}")
    return job


def put_restore_validation_result(job_id, query, body):
    job = STATE.data.get("restoreJobs", {}).get(job_id)
    if job is None:
        raise not_found(f"restore job {job_id}")
    status = body.get("ValidationStatus")
    if status not in ("FAILED", "SUCCESSFUL", "TIMED_OUT", "VALIDATING"):
        raise ServiceError(400, "InvalidParameterValueException", "invalid ValidationStatus")
    with STATE.lock:
        job["ValidationStatus"] = status
        if "ValidationStatusMessage" in body:
            job["ValidationStatusMessage"] = body["ValidationStatusMessage"]
    return None


def describe_copy_job(job_id, query, _body):
    job = STATE.data.get("copyJobs", {}).get(job_id)
    if job is None:
        raise not_found(f"copy job {job_id}")
    return {"CopyJob": job}


def describe_backup_job(job_id, query, _body):
    job = STATE.data.get("backupJobs", {}).get(job_id)
    if job is None:
        raise not_found(f"backup job {job_id}")
    return job


HANDLERS = {
    "DescribeBackupVault": describe_backup_vault,
    "DescribeRecoveryPoint": describe_recovery_point,
    "ListRecoveryPointsByResource": list_recovery_points_by_resource,
    "DescribeRestoreJob": describe_restore_job,
    "PutRestoreValidationResult": put_restore_validation_result,
    "DescribeCopyJob": describe_copy_job,
    "DescribeBackupJob": describe_backup_job,
}


class Fake(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep the test output quiet
        pass

    def reply(self, status, payload, error_code=None):
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if error_code:
            self.send_header("x-amzn-ErrorType", error_code)
        self.send_header("x-amzn-RequestId", "fake-request")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw.strip() else {}

    def handle_any(self, method):
        url = urlsplit(self.path)
        try:
            body = self.read_body()
        except ValueError as err:
            self.reply(400, {"message": f"body is not JSON: {err}"}, "SerializationException")
            return
        if url.path == "/_fake/state" and method == "POST":
            STATE.replace(body)
            self.reply(200, {"ok": True})
            return
        if url.path == "/_fake/calls" and method == "GET":
            with STATE.lock:
                self.reply(200, list(STATE.calls))
            return
        query = parse_qs(url.query)
        for route_method, pattern, operation in ROUTES:
            match = pattern.match(url.path)
            if route_method != method or not match:
                continue
            labels = [unquote(g) for g in match.groups()]
            with STATE.lock:
                STATE.calls.append({"operation": operation, "labels": labels,
                                    "query": query, "body": body})
            failure = STATE.data.get("failures", {}).get(operation)
            if failure:
                code = failure.get("code", "ServiceUnavailableException")
                self.reply(failure.get("status", 503),
                           {"Code": code, "Message": failure.get("message", "injected")}, code)
                return
            try:
                result = HANDLERS[operation](*labels, query, body)
            except ServiceError as err:
                self.reply(err.status, {"Code": err.code, "Message": err.message}, err.code)
                return
            self.reply(200, result if result is not None else {})
            return
        self.reply(404, {"Message": f"no route for {method} {url.path}"},
                   "UnknownOperationException")

    def do_GET(self):
        self.handle_any("GET")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_POST(self):
        self.handle_any("POST")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Fake)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
