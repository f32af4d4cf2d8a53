#!/usr/bin/env bash
# Every test of the project, on a fresh machine as on a developer's: formatting, lints,
# unit tests, integration tests against the local stack (moto, the CloudWatch adapter,
# MariaDB), the local migration rehearsal end to end, and the template's checks. It
# installs what it needs, starts the stack (and stops what it started), and exits non-zero
# if anything fails.
#
#   bash scripts/test.sh [extra arguments for the test runner]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step() { printf '\n== %s\n' "$*" >&2; }

command -v cargo >/dev/null || { echo "test: error: cargo is missing; install Rust with rustup" >&2; exit 1; }
if command -v rustup >/dev/null; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" \
      || rustup component add "$component"
  done
fi

step "local stack"
# The lease is handed back however the run ends, a failed or interrupted `up` included.
trap 'bash scripts/stack.sh release $$' EXIT
bash scripts/stack.sh up --lease $$
# shellcheck disable=SC1091
source .local/stack.env

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

if [ -f template.json ]; then
  step "template checks (cfn-lint, checkov)"
  "$MIGRATION_VENV/bin/cfn-lint" template.json
  "$MIGRATION_VENV/bin/checkov" --quiet --compact --skip-download --framework cloudformation \
    -f template.json
fi

step "the local stack's leases"
bash scripts/test_stack_leases.sh

step "the local migration rehearsal, end to end"
bash scripts/rehearse.sh

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci "$@"
else
  cargo test --workspace --locked "$@"
fi
