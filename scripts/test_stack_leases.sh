#!/usr/bin/env bash
# Checks scripts/stack.sh's leases on a stack of its own: a copy of the scripts in a
# temporary folder, so its moto and MariaDB servers are not the ones the other tests use.
# Two lease holders share one stack; the stack stops only when the last one is done, or
# when the holders' processes are gone; a stack started without a lease stays up.
#
#   bash scripts/test_stack_leases.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MIGRATION_VENV="${MIGRATION_VENV:-$root/.venv}"
copy=$(mktemp -d)
holders=()
cleanup() {
  bash "$copy/scripts/stack.sh" down >/dev/null 2>&1 || true
  for pid in "${holders[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$copy"
}
trap cleanup EXIT
mkdir -p "$copy/scripts"
cp "$root"/scripts/*.sh "$root"/scripts/*.py "$root/scripts/requirements.txt" "$copy/scripts/"
stack="$copy/scripts/stack.sh"

failures=0
check() { # what, then a command that must succeed
  local what=$1; shift
  if "$@"; then printf 'stack leases: ok: %s\n' "$what"
  else printf 'stack leases: FAILED: %s\n' "$what" >&2; failures=$((failures + 1)); fi
}
moto_up() { [ -f "$copy/.local/moto.pid" ] && kill -0 "$(cat "$copy/.local/moto.pid")" 2>/dev/null; }
moto_down() { ! moto_up; }
holder() { sleep 600 & holders+=("$!"); }

# Two runs side by side: the first to finish leaves the stack to the other.
holder; first=${holders[-1]}
holder; second=${holders[-1]}
bash "$stack" up --lease "$first" 2>/dev/null
bash "$stack" up --lease "$second" 2>/dev/null
check "two holders share one stack" moto_up
bash "$stack" release "$first"
check "the stack stays up while the second holder runs" moto_up
bash "$stack" release "$second"
check "the stack stops when the last holder is done" moto_down

# A holder killed without releasing (SIGKILL) does not keep the stack up for ever.
holder; gone=${holders[-1]}
holder; last=${holders[-1]}
bash "$stack" up --lease "$gone" 2>/dev/null
bash "$stack" up --lease "$last" 2>/dev/null
kill -9 "$gone"; wait "$gone" 2>/dev/null || true
bash "$stack" release "$last"
check "a lease whose process is gone does not count" moto_down

# A stack brought up by hand is not stopped by a holder's release.
bash "$stack" up 2>/dev/null
holder; visitor=${holders[-1]}
bash "$stack" up --lease "$visitor" 2>/dev/null
bash "$stack" release "$visitor"
check "a stack started without a lease stays up" moto_up
bash "$stack" down
check "down stops it" moto_down

[ "$failures" = 0 ] || { echo "stack leases: $failures check(s) failed" >&2; exit 1; }
