#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Notify from Python: the outbox row is written in the same transaction
as the change it announces, so a rolled-back change notifies no one.

    python3 examples/producer.py /var/lib/myapp/app.db 42

Places an order for user 42 (committed: the browser gets an "order"
event), then tries to cancel it and rolls back (no event is ever sent).
The database must have the outbox (sql/schema.sql); the orders table is
created here if it is missing. Only the standard library is used.
"""

import json
import os
import sqlite3
import sys


class PaymentDeclined(Exception):
    """Stands for whatever makes a real change fail halfway."""


def connect(path):
    if not os.path.isfile(path):    # sqlite3 would create an empty file
        sys.exit(f"producer.py: no database at {path}")
    db = sqlite3.connect(path, timeout=5,                # wait for a writer
                         isolation_level="IMMEDIATE")   # `with db:` BEGINs
    db.execute("""CREATE TABLE IF NOT EXISTS orders (
                    id      INTEGER PRIMARY KEY,
                    user_id TEXT NOT NULL,
                    item    TEXT NOT NULL,
                    status  TEXT NOT NULL)""")
    return db


def notify(db, user, event, payload):
    """The whole integration: one INSERT, inside the caller's transaction."""
    cur = db.execute(
        "INSERT INTO outbox (user_id, event, data) VALUES (?, ?, ?)",
        (user, event, json.dumps(payload)))
    return cur.lastrowid


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: producer.py DATABASE USER_ID")
    path, user = argv[1], argv[2]
    db = connect(path)

    # 1. A change that commits: the order and its notification together.
    with db:    # commits at the end of the block, rolls back on an exception
        order = db.execute(
            "INSERT INTO orders (user_id, item, status) VALUES (?, ?, ?)",
            (user, "tea", "placed")).lastrowid
        row = notify(db, user, "order",
                     {"order": order, "status": "placed", "item": "tea",
                      "by": "python"})
    print(f"order {order} placed; outbox row {row} committed")

    # 2. A change that fails: its notification is rolled back with it.
    try:
        with db:
            db.execute("UPDATE orders SET status = ? WHERE id = ?",
                       ("cancelled", order))
            notify(db, user, "order",
                   {"order": order, "status": "cancelled", "by": "python"})
            raise PaymentDeclined("refund declined")
    except PaymentDeclined as e:
        print(f"cancelling order {order} failed ({e}); rolled back with "
              f"its outbox row: no notification")
    db.close()


if __name__ == "__main__":
    main(sys.argv)
