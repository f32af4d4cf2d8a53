#!/usr/bin/env bash
# Each function's footprint: the zipped arm64 package Lambda would load, the time from
# process start to its first request for work (its cold-start init), and its peak memory
# while it handles a sample event.
#
#   bash bench/footprint.sh [RUNS]      (default 5 starts per function)
#
# Packages: `cargo lambda build --release --arm64 --output-format zip`, as deployed.
# Start and memory: this machine cannot run arm64 code, so the same sources are built in
# release mode for this machine and started against bench/runtime_probe.py, a minimal Lambda
# runtime API on 127.0.0.1 that times the first `next` request and reads the process's peak
# resident memory (VmHWM) after it answered. The functions reach the local stack (moto) for
# any AWS call, as they would under `cargo lambda watch`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${1:-5}
target=${CARGO_TARGET_DIR:-"$root/target"}
say() { printf 'footprint: %s\n' "$*" >&2; }

# The function, the sample event it handles, and what that event makes it do.
cases=(
  "replication-validator|events/replication-validator/malformed.json|parses an SQS batch, fails the malformed body alone"
  "compliance-remediator|events/compliance-remediator/unknown-rule.json|parses a Config event, acknowledges an unknown rule"
  "backup-verifier|events/backup-verifier/backup-job-running.json|parses a Backup job event, skips an unfinished job"
  "weight-shifter|events/weight-shifter/status-direct.json|reads its plan and state from SSM (absent here: it answers an error)"
)

trap 'bash scripts/stack.sh release $$ >/dev/null 2>&1' EXIT
bash scripts/stack.sh up --lease $$ >/dev/null
# shellcheck disable=SC1091
source .local/stack.env

if command -v rustup >/dev/null && ! rustup target list --installed | grep -q aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu >&2
fi
say "building the arm64 packages (release, zipped)"
PATH="$MIGRATION_VENV/bin:$PATH" cargo lambda build --release --arm64 --output-format zip \
  --locked --bin replication-validator --bin compliance-remediator --bin backup-verifier \
  --bin weight-shifter >&2
say "building the same functions for this machine (release)"
cargo build -q --release --locked -p replication-validator -p compliance-remediator \
  -p backup-verifier -p weight-shifter

# What every function reads at start-up; the values only have to parse and point at moto.
export MIGRATION_ID=footprint METRICS_NAMESPACE=PaymentMigration AWS_LAMBDA_LOG_FORMAT=JSON
export VALIDATION_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/footprint-validation"
export RESULTS_BUCKET=footprint-results SOURCE_DB_SECRET_ID=footprint/source
export TARGET_DB_SECRET_ID=footprint/target SOURCE_DB_HOST=127.0.0.1 TARGET_DB_HOST=127.0.0.1
export SOURCE_DB_NAME=footprint TARGET_DB_NAME=footprint
export MIGRATION_KMS_KEY_ID=alias/footprint ALERT_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/footprint-alerts"
export FREEZE_PARAMETER=/footprint/freeze
export EXPECTED_VAULT_NAME=payments-vault
export EXPECTED_KMS_KEY_ARN=arn:aws:kms:us-east-1:123456789012:key/footprint
export DR_VAULT_ARN=arn:aws:backup:us-west-2:123456789012:backup-vault:footprint-dr
export MIN_RETENTION_DAYS=35 PROTECTED_RESOURCE_ARNS=arn:aws:rds:us-east-1:123456789012:cluster:footprint
export PLAN_PARAMETER=/footprint/plan STATE_PARAMETER=/footprint/state HOSTED_ZONE_ID=Z0FOOTPRINT
export RECORD_NAME=pay.footprint.example. ONPREM_SET_ID=on-premises AWS_SET_ID=aws
export GATE_ALARMS=footprint-gate

printf '| function | arm64 zip MB | start to ready ms (median of %s) | peak RSS MB | answer | event |\n' "$runs"
printf '|---|---:|---:|---:|---|---|\n'
for case in "${cases[@]}"; do
  IFS='|' read -r name event what <<<"$case"
  zip="$target/lambda/$name/bootstrap.zip"
  [ -f "$zip" ] || { say "no package at $zip"; exit 1; }
  size=$(stat -c %s "$zip")
  probe=$("$MIGRATION_VENV/bin/python" bench/runtime_probe.py "$target/release/$name" "$event" "$runs")
  "$MIGRATION_VENV/bin/python" - "$name" "$size" "$probe" "$event" "$what" <<'PY'
import json, sys
name, size, probe, event, what = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), *sys.argv[4:]
print(f"| {name} | {size / 1e6:.2f} | {probe['ready_ms_median']:.1f} | "
      f"{probe['peak_rss_kb_max'] / 1024:.1f} | {probe['outcome']} | `{event}`: {what} |")
PY
done
