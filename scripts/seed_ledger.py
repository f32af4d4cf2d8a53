"""Seed a source and a target payment ledger on MariaDB with a few planted differences.

The rehearsal's databases: `<prefix>_source` and `<prefix>_target`, each with a `payments`
table (and a `fx_rates` table that matches exactly), dropped and made anew when seeded, so
the rehearsal needs no clean-up. The target starts as a byte-for-byte copy of the source;
then the planted differences are applied to the target, and their keys are printed as JSON
on stdout in the validator's report shape (`missing_in_target`, `missing_in_source`,
`different`, each a sorted list of keys, a key being a list of strings).

The planted differences are the ones a payment team cares about and a careless comparison
misses: a cent on an amount, a case-only change and a trailing space under a
case-insensitive collation, NULL against the empty string, an emoji swapped, a microsecond.

Usage: python seed_ledger.py --url mysql://root@127.0.0.1:3306 [--prefix rehearsal] [--rows N]
       python seed_ledger.py --url ... --prefix P --drop      (remove the two databases)
"""

import argparse
import json
import random
import sys
from urllib.parse import unquote, urlparse

import pymysql

PAYMENTS = """
CREATE TABLE payments (
  id          BIGINT        NOT NULL,
  account_id  BIGINT        NOT NULL,
  amount      DECIMAL(18,2) NOT NULL,
  currency    CHAR(3)       NOT NULL,
  status      VARCHAR(16)   NOT NULL,
  memo        VARCHAR(255)  NULL,
  created_at  DATETIME(6)   NOT NULL,
  updated_at  TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci
"""

FX_RATES = """
CREATE TABLE fx_rates (
  base      CHAR(3)        NOT NULL,
  quote     CHAR(3)        NOT NULL,
  day       DATE           NOT NULL,
  rate      DECIMAL(18,8)  NOT NULL,
  PRIMARY KEY (base, quote, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci
"""

MEMOS = [None, "", "invoice", "refund", "Café au lait", "東京 office", "rent 🏦", "O'Brien",
         "back\\slash", "50% deposit"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF"]
STATUSES = ["Paid", "Pending", "Settled", "Refunded"]

# (id, column, new value, what it shows)
CHANGES = [
    (11, "amount", "amount + 0.01", "one cent"),
    (12, "status", "LOWER(status)", "case only, under a case-insensitive collation"),
    (13, "status", "CONCAT(status, ' ')", "a trailing space, under a pad-space collation"),
    (14, "memo", "''", "NULL became the empty string"),
    (15, "memo", "REPLACE(memo, '🏦', '💸')", "one emoji for another"),
    (16, "created_at", "created_at + INTERVAL 1 MICROSECOND", "one microsecond"),
]
MISSING_IN_TARGET = [1, 500, 777]
MISSING_IN_SOURCE = [100001, 100002]


def connect(url, database=None):
    u = urlparse(url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("seed: refusing to seed a database that is not on this machine")
    return pymysql.connect(host=u.hostname, port=u.port or 3306, user=unquote(u.username or "root"),
                           password=unquote(u.password or ""), database=database,
                           charset="utf8mb4", autocommit=True)


def rows(n, rng):
    for i in range(1, n + 1):
        memo = MEMOS[i % len(MEMOS)]
        if i in (14,):
            memo = None
        if i in (15,):
            memo = "rent 🏦"
        status = "Paid" if i in (12, 13) else STATUSES[i % len(STATUSES)]
        yield (i, 1000 + i % 97, f"{rng.randint(1, 500000) / 100:.2f}", CURRENCIES[i % 5],
               status, memo, f"2026-11-{1 + i % 28:02d} 10:{i % 60:02d}:00.{i % 1000000:06d}",
               "2026-11-30 00:00:00.000000")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--prefix", default="rehearsal")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--drop", action="store_true", help="drop the two databases and stop")
    a = ap.parse_args()
    if a.drop:
        admin = connect(a.url)
        with admin.cursor() as cur:
            for side in ("source", "target"):
                cur.execute(f"DROP DATABASE IF EXISTS `{a.prefix}_{side}`")
        admin.close()
        return
    if a.rows < 1000:
        sys.exit("seed: --rows must be at least 1000 so every planted key exists")
    rng = random.Random(7)
    data = list(rows(a.rows, rng))
    admin = connect(a.url)
    with admin.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        for side in ("source", "target"):
            db = f"{a.prefix}_{side}"
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
            cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
            cur.execute(f"USE `{db}`")
            cur.execute(PAYMENTS)
            cur.execute(FX_RATES)
            cur.executemany("INSERT INTO payments (id, account_id, amount, currency, status, memo,"
                            " created_at, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", data)
            cur.executemany("INSERT INTO fx_rates VALUES (%s,%s,%s,%s)",
                            [(b, q, f"2026-11-{d:02d}", f"{1 + d / 1000 + len(b + q) / 7:.8f}")
                             for b in ("USD", "EUR") for q in ("GBP", "JPY", "CHF")
                             for d in range(1, 29)])
        target = f"`{a.prefix}_target`.payments"
        cur.execute(f"DELETE FROM {target} WHERE id IN ({','.join(map(str, MISSING_IN_TARGET))})")
        for extra in MISSING_IN_SOURCE:
            cur.execute(f"INSERT INTO {target} SELECT {extra}, account_id, amount, currency, status,"
                        f" memo, created_at, updated_at FROM {target} WHERE id = 2")
        for key, column, value, _ in CHANGES:
            cur.execute(f"UPDATE {target} SET {column} = {value} WHERE id = %s", (key,))
            if cur.rowcount != 1:
                sys.exit(f"seed: the planted change on id {key} ({column}) changed nothing")
    admin.close()
    print(json.dumps({
        "source": f"{a.prefix}_source",
        "target": f"{a.prefix}_target",
        "table": "payments",
        "rows": a.rows,
        "missing_in_target": [[str(k)] for k in sorted(MISSING_IN_TARGET)],
        "missing_in_source": [[str(k)] for k in sorted(MISSING_IN_SOURCE)],
        "different": [[str(k)] for k, *_ in sorted(CHANGES)],
        "changes": {str(k): why for k, _, _, why in CHANGES},
    }))


if __name__ == "__main__":
    main()
