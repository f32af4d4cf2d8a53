# Sourced by the other scripts: the project's Python virtualenv with moto, cfn-lint,
# checkov and cargo-lambda, made (or brought up to date) from scripts/requirements.txt.
# MIGRATION_VENV chooses where it lives; by default .venv in the repository.
# shellcheck shell=bash

VENV=${MIGRATION_VENV:-"$root/.venv"}
PY="$VENV/bin/python"

ensure_venv() {
  local want have=""
  want=$(sha256sum "$root/scripts/requirements.txt" | cut -d' ' -f1)
  [ -f "$VENV/.requirements.sha256" ] && have=$(cat "$VENV/.requirements.sha256")
  if [ -x "$PY" ] && [ "$want" = "$have" ]; then return 0; fi
  command -v python3 >/dev/null || { printf 'setup: error: python3 is missing\n' >&2; return 1; }
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    printf 'setup: installing python3-venv from Debian packages\n' >&2
    $sudo apt-get update -qq >/dev/null && \
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
  fi
  printf 'setup: installing the Python tools into %s (once)\n' "$VENV" >&2
  python3 -m venv "$VENV"
  "$PY" -m pip install -q --disable-pip-version-check -r "$root/scripts/requirements.txt"
  echo "$want" >"$VENV/.requirements.sha256"
}
