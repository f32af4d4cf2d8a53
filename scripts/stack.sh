#!/usr/bin/env bash
# The local stack: moto (AWS APIs), the CloudWatch protocol adapter and MariaDB, all on
# 127.0.0.1. `up` starts what is not running and writes the variables that reach it to
# .local/stack.env; `down` stops only what `up` started; `env` prints the variables.
#
#   scripts/stack.sh up [--lease PID] | release PID | down | env
#
# A script that needs the stack for its own run takes a lease with `up --lease $$` and
# hands it back with `release $$`: the stack stops when the last lease is handed back, and
# only if a lease holder started it. A lease whose process is gone (killed with SIGKILL)
# stops counting at the next `up` or `release`, whoever calls it. Two runs side by side thus
# share one stack without the first to finish stopping it under the other. A stack started
# without a lease stays up until `down`.
#
# MariaDB: a server already answering on 127.0.0.1:3306 as root without a password is
# used as it is. Otherwise a throw-away mariadbd runs with its data under .local/, and
# mariadb-server is installed from Debian's packages first when it is missing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run="$root/.local"
envfile="$run/stack.env"
mkdir -p "$run"

say() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/venv.sh
source "$root/scripts/venv.sh"

free_port() {
  "$PY" - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_http() { # url name log
  for _ in $(seq 1 150); do
    if "$PY" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" \
      >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "$2 did not answer on $1 within 30 s; its log: $3"
}

mysql_ping() { # port
  "$PY" - "$1" <<'PY' >/dev/null 2>&1
import sys, pymysql
pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="root", password="",
                connect_timeout=2).close()
PY
}

start_moto() {
  if alive "$run/moto.pid"; then return; fi
  local port; port=$(free_port)
  say "starting moto on 127.0.0.1:$port"
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$run/moto.log" 2>&1 9>&- &
  echo $! >"$run/moto.pid"; echo "$port" >"$run/moto.port"
  wait_http "http://127.0.0.1:$port/moto-api/" moto "$run/moto.log"
}

start_cloudwatch_adapter() {
  if alive "$run/cloudwatch.pid"; then return; fi
  local port; port=$(free_port)
  say "starting the CloudWatch CBOR adapter on 127.0.0.1:$port"
  nohup "$PY" "$root/scripts/cloudwatch_cbor.py" --port "$port" \
    --moto "http://127.0.0.1:$(cat "$run/moto.port")" >"$run/cloudwatch.log" 2>&1 9>&- &
  echo $! >"$run/cloudwatch.pid"; echo "$port" >"$run/cloudwatch.port"
  for _ in $(seq 1 100); do
    "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" \
      "$port" 2>/dev/null && return 0
    sleep 0.2
  done
  die "the CloudWatch adapter did not start; its log: $run/cloudwatch.log"
}

install_package() { # package
  command -v apt-get >/dev/null || die "$1 is missing and there is no apt-get to install it"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing $1 from Debian's packages"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1" >/dev/null \
    || die "apt-get could not install $1"
}

install_mariadb() { install_package mariadb-server; }

start_mariadb() {
  if [ -z "${MIGRATION_MYSQL_PORT:-}" ] && mysql_ping 3306; then
    echo 3306 >"$run/mysql.port"; return
  fi
  throwaway_mariadb mariadb mysql "${MIGRATION_MYSQL_PORT:-}"
}

# A CA and a server certificate for 127.0.0.1 under $run/tls, for the TLS server.
make_certificates() {
  local tls="$run/tls"
  [ -s "$tls/server.pem" ] && [ -s "$tls/ca.pem" ] && return
  command -v openssl >/dev/null || install_package openssl
  rm -rf "$tls"; mkdir -p "$tls"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=payment-migration test CA" \
      -keyout "$tls/ca.key" -out "$tls/ca.pem"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$tls/server.key" -out "$tls/server.csr"
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
      >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
      -CAcreateserial -days 3650 -extfile "$tls/server.ext" -out "$tls/server.pem"
  } >"$run/tls.log" 2>&1 || die "openssl could not make the test certificates; its log: $run/tls.log"
}

# A second, throw-away MariaDB that offers TLS (the one on 3306 usually does not), for the
# validator's TLS tests.
start_tls_mariadb() {
  make_certificates
  throwaway_mariadb mariadb-tls mysql-tls "" --ssl-ca="$run/tls/ca.pem" \
    --ssl-cert="$run/tls/server.pem" --ssl-key="$run/tls/server.key"
  # A user the server lets in over TLS only: a test that gets through as it has proved TLS.
  local client; client=$(command -v mariadb || command -v mysql) || die "no mariadb client"
  "$client" --no-defaults --socket="$run/mariadb-tls/mysqld.sock" -uroot -e \
    "CREATE USER IF NOT EXISTS 'tls_user'@'127.0.0.1' REQUIRE SSL; GRANT ALL ON *.* TO 'tls_user'@'127.0.0.1';" \
    >/dev/null 2>&1 || die "could not create tls_user on the TLS server"
}

throwaway_mariadb() { # name port-name [port] [mariadbd options...]
  local name=$1 portname=$2 wanted=$3; shift 3
  if alive "$run/$name.pid" && mysql_ping "$(cat "$run/$portname.port")"; then return; fi
  local daemon; daemon=$(command -v mariadbd || echo /usr/sbin/mariadbd)
  [ -x "$daemon" ] || { install_mariadb; daemon=$(command -v mariadbd || echo /usr/sbin/mariadbd); }
  local data="$run/$name" port="${wanted:-$(free_port)}"
  local user; user=$(id -un)
  if [ ! -d "$data/db/mysql" ]; then
    rm -rf "$data"; mkdir -p "$data"
    local installer; installer=$(command -v mariadb-install-db || echo /usr/bin/mariadb-install-db)
    "$installer" --no-defaults --datadir="$data/db" --user="$user" \
      --auth-root-authentication-method=normal --skip-test-db >"$run/$name-install.log" 2>&1 \
      || die "mariadb-install-db failed; its log: $run/$name-install.log"
  fi
  say "starting a throw-away mariadbd on 127.0.0.1:$port (data under $data)"
  nohup "$daemon" --no-defaults --datadir="$data/db" --socket="$data/mysqld.sock" \
    --port="$port" --bind-address=127.0.0.1 --user="$user" \
    --pid-file="$data/mysqld.pid" "$@" >"$run/$name.log" 2>&1 9>&- &
  echo $! >"$run/$name.pid"; echo "$port" >"$run/$portname.port"
  for _ in $(seq 1 150); do
    if [ -S "$data/mysqld.sock" ]; then break; fi
    sleep 0.2
  done
  local client; client=$(command -v mariadb || command -v mysql) || die "no mariadb client"
  "$client" --no-defaults --socket="$data/mysqld.sock" -uroot -e \
    "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" \
    >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do mysql_ping "$port" && return 0; sleep 0.2; done
  die "mariadbd did not answer on 127.0.0.1:$port; its log: $run/$name.log"
}

write_env() {
  local moto="http://127.0.0.1:$(cat "$run/moto.port")"
  cat >"$envfile" <<EOF
export AWS_ENDPOINT_URL=$moto
export AWS_ENDPOINT_URL_CLOUDWATCH=http://127.0.0.1:$(cat "$run/cloudwatch.port")
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export MIGRATION_TEST_MYSQL_URL=mysql://root@127.0.0.1:$(cat "$run/mysql.port")
export MIGRATION_TEST_MYSQL_TLS_URL=mysql://root@127.0.0.1:$(cat "$run/mysql-tls.port")
export MIGRATION_TEST_MYSQL_TLS_ONLY_USER=tls_user
export MIGRATION_TEST_MYSQL_TLS_CA=$run/tls/ca.pem
export MIGRATION_VENV=$VENV
EOF
}

stop_one() { # name
  local pidfile="$run/$1.pid"
  if alive "$pidfile"; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  rm -f "$pidfile"
}

# One `up` or `release` at a time, so two runs never start or stop the stack together. The
# servers are started with descriptor 9 closed, or they would hold the lock for ever.
hold_lock() {
  if command -v flock >/dev/null; then
    exec 9>"$run/stack.lock"
    flock 9
  fi
}

# The leases whose process is still running.
live_leases() {
  local lease
  for lease in "$run"/leases/*; do
    [ -e "$lease" ] || continue
    if kill -0 "$(basename "$lease")" 2>/dev/null; then echo "$lease"; else rm -f "$lease"; fi
  done
}

stop_all() {
  stop_one cloudwatch
  stop_one moto
  stop_one mariadb
  stop_one mariadb-tls
  rm -rf "$envfile" "$run/leases" "$run/leased"
}

case "${1:-}" in
  up)
    hold_lock
    if [ "${2:-}" = --lease ]; then
      [[ "${3:-}" =~ ^[1-9][0-9]+$ ]] || die "usage: scripts/stack.sh up --lease PID (a process id above 9)"
      live_leases >/dev/null
      alive "$run/moto.pid" || touch "$run/leased"
      mkdir -p "$run/leases"; : >"$run/leases/$3"
    else
      rm -f "$run/leased"
    fi
    ensure_venv
    start_moto
    start_cloudwatch_adapter
    start_mariadb
    start_tls_mariadb
    write_env
    say "ready: source $envfile"
    ;;
  release)
    [[ "${2:-}" =~ ^[1-9][0-9]+$ ]] || die "usage: scripts/stack.sh release PID"
    hold_lock
    rm -f "$run/leases/$2"
    if [ -z "$(live_leases)" ] && [ -f "$run/leased" ]; then stop_all; fi
    ;;
  down)
    stop_all
    ;;
  env)
    [ -f "$envfile" ] || die "the stack is not up; run scripts/stack.sh up"
    cat "$envfile"
    ;;
  *)
    die "usage: scripts/stack.sh up [--lease PID] | release PID | down | env"
    ;;
esac
