#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Notify from Python on PostgreSQL (psycopg2): the outbox row is written
in the same transaction as the change it announces, so a rolled-back
change notifies no one.

    python3 examples/producer-postgresql.py postgresql://app@db.example/app 42

Places an order for user 42 (committed: the browser gets an "order"
event), then tries to cancel it and rolls back (no event is ever sent).
The database must have the outbox (sql/schema-postgresql.sql); the
orders table is created here if it is missing. Needs psycopg2 (Debian:
python3-psycopg2); psycopg 3 reads the same.

The outbox id is given at COMMIT (see docs/postgresql.md), so
INSERT ... RETURNING id would return a placeholder: the example does not
ask for it.
"""

import json
import sys

import psycopg2


class PaymentDeclined(Exception):
    """Stands for whatever makes a real change fail halfway."""


def notify(cur, user, event, payload):
    """The whole integration: one INSERT, inside the caller's transaction."""
    cur.execute("INSERT INTO outbox (user_id, event, data) "
                "VALUES (%s, %s, %s)", (user, event, json.dumps(payload)))


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: producer-postgresql.py CONNINFO USER_ID")
    conninfo, user = argv[1], argv[2]
    db = psycopg2.connect(conninfo)     # a transaction per `with db:`
    with db, db.cursor() as cur:
        cur.execute("""CREATE TABLE IF NOT EXISTS orders (
                         id      bigserial PRIMARY KEY,
                         user_id text NOT NULL,
                         item    text NOT NULL,
                         status  text NOT NULL)""")

    # 1. A change that commits: the order and its notification together.
    with db, db.cursor() as cur:    # commits at the end, rolls back on error
        cur.execute("INSERT INTO orders (user_id, item, status) "
                    "VALUES (%s, %s, %s) RETURNING id", (user, "tea", "placed"))
        order = cur.fetchone()[0]
        notify(cur, user, "order", {"order": order, "status": "placed",
                                    "item": "tea", "by": "python"})
    print(f"order {order} placed; outbox row committed")

    # 2. A change that fails: its notification is rolled back with it.
    try:
        with db, db.cursor() as cur:
            cur.execute("UPDATE orders SET status = %s WHERE id = %s",
                        ("cancelled", order))
            notify(cur, user, "order", {"order": order, "status": "cancelled",
                                        "by": "python"})
            raise PaymentDeclined("refund declined")
    except PaymentDeclined as e:
        print(f"cancelling order {order} failed ({e}); rolled back with "
              f"its outbox row: no notification")
    db.close()


if __name__ == "__main__":
    main(sys.argv)
