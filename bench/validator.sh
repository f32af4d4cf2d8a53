#!/usr/bin/env bash
# The replication validator against reladiff and against the raw scan floor, on the same
# generated payment ledger, on the same machine, in one run.
#
#   bash bench/validator.sh [ROWS] [RUNS]      (defaults: 1000000 rows, 3 runs each)
#
# It uses the benchmark MariaDB and data generator beside the repository
# (../shared/bench: a server on 127.0.0.1:3316, user bench/bench, and src.payments /
# dst.payments with 210 planted differing ids), builds the validator's command-line binary
# in release mode, and prints one table: the median wall time of each contender, its ratio
# to the validator, its peak memory, and how many of the planted ids it found and missed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rows=${1:-1000000}
runs=${2:-3}
bench_tools=${BENCH_TOOLS:-"$root/../shared/bench"}
[ -x "$bench_tools/start_db.sh" ] || {
  echo "bench: error: no benchmark tools at $bench_tools (set BENCH_TOOLS)" >&2; exit 1; }
venv=${BENCH_VENV:-"$HOME/.cache/payment-migration/bench-venv"}
target=${CARGO_TARGET_DIR:-"$root/target"}
data=/tmp/bench_data/n${rows}_s42
uri=mysql://bench:bench@127.0.0.1:3316
say() { printf 'bench: %s\n' "$*" >&2; }

if [ ! -x "$venv/bin/reladiff" ]; then
  say "installing reladiff and pymysql into $venv (once)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check reladiff pymysql mysql-connector-python
fi
"$bench_tools/start_db.sh" >/dev/null
if [ ! -f "$data/expected_diff.json" ]; then
  say "generating the $rows-row ledger pair"
  "$venv/bin/python" "$bench_tools/gen_tables.py" --rows "$rows" >&2
fi
say "building the validator (release)"
cargo build -q --release --locked -p replication-validator --bin validate
validate="$target/release/validate"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# One timed run: wall seconds and peak resident kilobytes of the command, into $out/<name>.N.
timed() { # name n command...
  local name=$1 n=$2; shift 2
  /usr/bin/time -f '%e %M' -o "$out/$name.$n.time" "$@" >"$out/$name.$n.out" 2>"$out/$name.$n.err" \
    || [ "${name%-crc32}" = validator ] # the validator exits 1 on differences, as it should
}

raw_scan() {
  local sql="SELECT COUNT(*), BIT_XOR(CRC32(CONCAT_WS('#', id, account_id, amount, currency,
    status, IFNULL(memo, '\\\\N'), created_at, updated_at))) FROM"
  mariadb -h127.0.0.1 -P3316 -ubench -pbench -N -e "$sql src.payments" &
  mariadb -h127.0.0.1 -P3316 -ubench -pbench -N -e "$sql dst.payments" &
  wait
}
export -f raw_scan

# Warm the buffer pool so every contender reads cached pages.
raw_scan >/dev/null
for n in $(seq 1 "$runs"); do
  say "run $n of $runs"
  timed raw "$n" bash -c raw_scan
  timed validator "$n" "$validate" --source "$uri/src" --target "$uri/dst" --table payments
  timed validator-crc32 "$n" "$validate" --source "$uri/src" --target "$uri/dst" \
    --table payments --fingerprint crc32
  for j in 1 2 4; do
    COLUMNS=1000000 timed "reladiff-j$j" "$n" timeout 900 "$venv/bin/reladiff" \
      "$uri/src" payments "$uri/dst" payments -k id -c % --json --skip-sort-results -j "$j"
  done
done

"$venv/bin/python" - "$out" "$data/expected_diff.json" "$runs" <<'PY'
import json, statistics, sys
out, expected, runs = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])
want = set(expected["all_differing_ids"])

def times(name):
    pairs = [open(f"{out}/{name}.{n}.time").read().split()[-2:] for n in range(1, runs + 1)]
    return statistics.median(float(p[0]) for p in pairs), max(int(p[1]) for p in pairs)

def found_by_validator(name, n):
    report = json.load(open(f"{out}/{name}.{n}.out"))
    table = report["tables"][0]
    kinds = {k: {int(key[0]) for key in table[k]}
             for k in ("missing_in_target", "missing_in_source", "different")}
    exact = (kinds["missing_in_target"] == set(expected["missing_in_dst"])
             and kinds["missing_in_source"] == set(expected["only_in_dst"])
             and kinds["different"] == set(expected["changed_all"]))
    return set().union(*kinds.values()), exact

def found_by_reladiff(name, n):
    ids = set()
    for line in open(f"{out}/{name}.{n}.out"):
        try:
            ids.add(int(json.loads(line)[1][0]))
        except (ValueError, IndexError, TypeError):
            continue
    return ids

rows = []
v_time, v_mem = times("validator")
found, exact = found_by_validator("validator", runs)
rows.append(("replication-validator (validate)", v_time, v_mem, found, exact))
c_time, c_mem = times("validator-crc32")
c_found, c_exact = found_by_validator("validator-crc32", runs)
rows.append(("validate --fingerprint crc32", c_time, c_mem, c_found, c_exact))
best = None
for j in (1, 2, 4):
    t, m = times(f"reladiff-j{j}")
    if best is None or t < best[1]:
        best = (f"reladiff 0.6 hashdiff -j{j}", t, m, found_by_reladiff(f"reladiff-j{j}", runs), None)
rows.append(best)
r_time, r_mem = times("raw")
rows.append(("raw scan floor (COUNT + CRC of both tables at once)", r_time, r_mem, None, None))

print(f"{expected['src_rows']} source rows, {expected['dst_rows']} target rows, "
      f"{len(want)} planted differing ids; median of {runs} runs")
print()
print("| contender | wall s | vs validator | peak RSS MB | found | missed | false |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, t, mem, ids, _ in rows:
    if ids is None:
        cells = "n/a | n/a | n/a"
    else:
        cells = f"{len(ids & want)} | {len(want - ids)} | {len(ids - want)}"
    print(f"| {name} | {t:.2f} | {t / v_time:.1f}x | {mem / 1024:.0f} | {cells} |")
print()
print("validator found exactly the planted set, each id under its kind:",
      "yes" if exact and c_exact else "NO")
sys.exit(0 if exact and c_exact else 1)
PY
