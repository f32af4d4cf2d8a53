#!/usr/bin/env bash
# The local migration rehearsal: the migration's checks run on one machine against a real
# MariaDB and the local AWS stack, with a short account of each step and a summary table.
#
#   bash scripts/rehearse.sh
#
# It brings up the local stack (moto, the CloudWatch adapter, MariaDB), seeds a source and
# a target payment ledger with planted differences, compares them with the validator's
# command line, then hands over to the driver (tests/src/bin/rehearse/): the migration
# stack created from template.json on moto's CloudFormation, the functions run under one
# `cargo lambda watch` and driven with `cargo lambda invoke` on the sample events of
# events/. It hands back its lease on the stack (see scripts/stack.sh) and exits non-zero
# when any step did not do what it should. It can run again at once, even beside another
# run: its databases are its own and dropped at the end, the stack gets a new name on every
# run, and the local stack stays up until the last run using it is done.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
work=$(mktemp -d)
results=()
failed=0

say() { printf '\n== %s\n' "$*"; }
note() { printf '   %s\n' "$*"; }
record() { # step outcome detail (a long detail is cut: the account above has it whole)
  local detail=$3
  [ "${#detail}" -le 160 ] || detail="${detail:0:157}..."
  results+=("$(printf '| %-34s | %-4s | %s |' "$1" "$2" "$detail")")
  [ "$2" = ok ] || failed=1
}
finish() {
  local code=$?
  # The driver stops `cargo lambda watch` and the AWS Backup fake itself; this covers a
  # driver that was killed.
  if [ -f "$work/watch.pid" ]; then
    kill -TERM -- "-$(cat "$work/watch.pid")" 2>/dev/null || true
  fi
  if [ -f "$work/backup_fake.pid" ]; then
    kill -TERM "$(cat "$work/backup_fake.pid")" 2>/dev/null || true
  fi
  if [ -n "${seeded:-}" ]; then
    "$py" scripts/seed_ledger.py --url "$MIGRATION_TEST_MYSQL_TLS_URL" --prefix "$prefix" --drop \
      >/dev/null 2>&1 || true
  fi
  bash scripts/stack.sh release $$ >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$code"
}
trap finish EXIT

for tool in cargo python3; do
  command -v "$tool" >/dev/null || {
    echo "rehearse: error: $tool is missing (install Rust with rustup, and python3)" >&2; exit 1; }
done

say "local stack: moto, the CloudWatch adapter and MariaDB on 127.0.0.1"
bash scripts/stack.sh up --lease $$
# shellcheck disable=SC1091
source .local/stack.env
py="$MIGRATION_VENV/bin/python"
record "local stack" ok "moto $AWS_ENDPOINT_URL, MariaDB with TLS ${MIGRATION_TEST_MYSQL_TLS_URL#mysql://root@}"

# The ledgers live on the stack's TLS server, whose user $MIGRATION_TEST_MYSQL_TLS_ONLY_USER
# gets in over TLS only: every validation below that reads them went over TLS.
tls_only="mysql://$MIGRATION_TEST_MYSQL_TLS_ONLY_USER@${MIGRATION_TEST_MYSQL_TLS_URL#mysql://*@}"
say "seed the source and target ledgers with planted differences"
# Databases of this run only, so two rehearsals on one server never see each other's rows.
prefix="rehearsal_$$"
seeded=1
"$py" scripts/seed_ledger.py --url "$MIGRATION_TEST_MYSQL_TLS_URL" --prefix "$prefix" --rows 20000 \
  >"$work/expected.json"
"$py" - "$work/expected.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
print(f"   {e['rows']} payments in {e['source']}; in {e['target']}: "
      f"{len(e['missing_in_target'])} missing, {len(e['missing_in_source'])} extra, "
      f"{len(e['different'])} changed")
for key, why in e["changes"].items():
    print(f"     id {key}: {why}")
PY
record "seed ledgers" ok "20000 rows, 11 planted differences"

say "replication validator (command line): compare the source and the target over TLS"
cargo build -q --locked -p replication-validator --bin validate
validate="${CARGO_TARGET_DIR:-$root/target}/debug/validate"
code=0
"$validate" --source "$tls_only/${prefix}_source?ssl_mode=required" \
  --target "$tls_only/${prefix}_target?ssl_mode=verify_identity&ssl_ca=$MIGRATION_TEST_MYSQL_TLS_CA" \
  >"$work/report.json" || code=$?
verdict=$("$py" - "$work/report.json" "$work/expected.json" "$code" <<'PY'
import json, sys
report, expected = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
code = int(sys.argv[3])
tables = {t["table"]: t for t in report["tables"]}
problems = []
pay = tables.get("payments")
if pay is None:
    problems.append("no payments table in the report")
else:
    for kind in ("missing_in_target", "missing_in_source", "different"):
        got = sorted(pay.get(kind, []), key=lambda k: int(k[0]))
        want = expected[kind]
        print(f"   payments {kind}: {', '.join(k[0] for k in got) or 'none'}", file=sys.stderr)
        if got != want:
            problems.append(f"{kind} was {got}, planted {want}")
fx = tables.get("fx_rates")
status = fx and fx["status"]
print(f"   fx_rates: {status}", file=sys.stderr)
if status != "match":
    problems.append(f"fx_rates should match, was {status}")
if code != 1:
    problems.append(f"exit code {code}, expected 1 (differences found)")
print("; ".join(problems) if problems else "")
PY
)
if [ -z "$verdict" ]; then
  record "validator CLI finds planted keys" ok "exactly 11 keys over TLS; fx_rates matches; exit 1"
else
  note "$verdict"
  record "validator CLI finds planted keys" FAIL "$verdict"
fi

say "build the four functions and the rehearsal's driver"
cargo_lambda="$MIGRATION_VENV/bin/cargo-lambda"
[ -x "$cargo_lambda" ] || {
  echo "rehearse: error: $cargo_lambda is missing (run bash scripts/venv.sh)" >&2; exit 1; }
cargo build -q --locked -p weight-shifter -p compliance-remediator -p backup-verifier \
  -p replication-validator
cargo build -q --locked -p migration-tests --no-default-features --bin rehearse
note "built into ${CARGO_TARGET_DIR:-$root/target}/debug"

# The driver creates the stack from template.json on moto, runs the functions under one
# `cargo lambda watch` and drives them with `cargo lambda invoke`; it prints its own
# account and writes one summary row per step.
code=0
CARGO_LAMBDA="$cargo_lambda" MIGRATION_REPO_ROOT="$root" \
  "${CARGO_TARGET_DIR:-$root/target}/debug/rehearse" \
  --work "$work" --rows "$work/rows.tsv" --expected "$work/expected.json" || code=$?
if [ -f "$work/rows.tsv" ]; then
  while IFS=$'\t' read -r step outcome detail; do
    record "$step" "$outcome" "$detail"
  done <"$work/rows.tsv"
fi
[ "$code" = 0 ] || [ "$failed" = 1 ] || record "rehearsal driver" FAIL "exit code $code"

say "summary"
printf '| %-34s | %-4s | %s |\n' step ok detail
printf '|%s|%s|%s|\n' "------------------------------------" "------" "--------"
printf '%s\n' "${results[@]}"
if [ "$failed" = 0 ]; then echo "rehearsal passed"; else echo "rehearsal FAILED"; fi
exit "$failed"
