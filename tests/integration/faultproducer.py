#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Producers that misbehave on purpose, for the fault, burst and chaos
tests. Like producer.py (whose connection and insert they reuse) each is
a separate process writing the database as an application would.

    faultproducer.py hold DB USER SECONDS [--rows N] [--spill]
        BEGIN IMMEDIATE, insert N rows, print {"holding": t}, sleep,
        COMMIT, print {"ids": [...], "t_commit": t}. --spill shrinks
        the page cache so the rows reach the -wal before the commit.
    faultproducer.py checkpoint DB --rows N --interval S --users a,b,-
        N one-row transactions, users in turn ("-": a broadcast); after
        every third commit a wal_checkpoint, the modes in turn PASSIVE,
        FULL, RESTART and TRUNCATE (every other one TRUNCATE). Prints
        {"id", "t_commit"} per commit and {"checkpoint": mode,
        "result": [busy, wal frames, checkpointed]} per checkpoint.
    faultproducer.py bigtx DB USER N [--pad B]
        N rows for USER in one transaction; prints
        {"first", "last", "t_commit", "bytes"} (bytes: data length).
    faultproducer.py chaos DB --seconds S --users a,b,... --seed K
        random transactions of 1 to 5 rows for random users, about one
        row in eight a broadcast (user NULL), 2 to 20 ms apart, until S
        seconds passed; busy or locked database errors are retried.
        Prints {"rows": n, "commits": c} at the end.
"""

import argparse
import json
import random
import sqlite3
import sys
import time

import producer

CHECKPOINT_MODES = ("PASSIVE", "TRUNCATE", "FULL", "TRUNCATE", "RESTART",
                    "TRUNCATE")


def out(obj):
    print(json.dumps(obj), flush=True)


def insert_rows(db, rows):
    """One transaction; the ids, or raises sqlite3.OperationalError."""
    db.execute("BEGIN IMMEDIATE")
    try:
        ids = [db.execute("INSERT INTO outbox (user_id, event, data) "
                          "VALUES (?, ?, ?)", row).lastrowid for row in rows]
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return ids


def cmd_hold(a):
    db = producer.connect(a.db)
    if a.spill:
        db.execute("PRAGMA cache_size = 1")
    db.execute("BEGIN IMMEDIATE")
    ids = []
    for i in range(a.rows):
        data = json.dumps({"seq": i, "held": a.seconds,
                           "pad": "h" * (400 if a.spill else 0)})
        ids.append(db.execute("INSERT INTO outbox (user_id, event, data) "
                              "VALUES (?, 'held', ?)",
                              (a.user, data)).lastrowid)
    out({"holding": time.time()})
    time.sleep(a.seconds)
    db.execute("COMMIT")
    out({"ids": ids, "t_commit": time.time()})
    db.close()


def cmd_checkpoint(a):
    db = producer.connect(a.db)
    users = [None if u == "-" else u for u in a.users.split(",")]
    n_ckpt = 0
    for i in range(a.rows):
        if i:
            time.sleep(a.interval)
        producer.insert(db, users[i % len(users)], "ck",
                        json.dumps({"seq": i}))
        if i % 3 == 2:
            mode = CHECKPOINT_MODES[n_ckpt % len(CHECKPOINT_MODES)]
            n_ckpt += 1
            res = db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            out({"checkpoint": mode, "result": list(res)})
    db.close()


def cmd_bigtx(a):
    db = producer.connect(a.db)
    pad = "x" * a.pad
    rows = ((a.user, "burst", '{"seq":%d,"pad":"%s"}' % (i, pad))
            for i in range(a.n))
    db.execute("BEGIN IMMEDIATE")
    first = last = None
    size = 0
    for row in rows:
        last = db.execute("INSERT INTO outbox (user_id, event, data) "
                          "VALUES (?, ?, ?)", row).lastrowid
        size += len(row[2])
        if first is None:
            first = last
    db.execute("COMMIT")
    out({"first": first, "last": last, "t_commit": time.time(),
         "bytes": size})
    db.close()


def cmd_chaos(a):
    rnd = random.Random(a.seed)
    users = a.users.split(",")
    db = producer.connect(a.db)
    end = time.monotonic() + a.seconds
    rows = commits = retries = 0
    while time.monotonic() < end:
        batch = []
        for _ in range(rnd.randint(1, 5)):
            user = None if rnd.random() < 0.125 else rnd.choice(users)
            batch.append((user, rnd.choice((None, "note", "order")),
                          json.dumps({"p": a.seed, "n": rows + len(batch),
                                      "to": user})))
        for attempt in range(50):
            try:
                insert_rows(db, batch)
                break
            except sqlite3.OperationalError:
                retries += 1
                time.sleep(0.01)
        else:
            sys.exit("faultproducer chaos: database stayed locked")
        rows += len(batch)
        commits += 1
        time.sleep(rnd.uniform(0.002, 0.02))
    db.close()
    out({"rows": rows, "commits": commits, "retries": retries})


def main(argv):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("hold")
    p.add_argument("db")
    p.add_argument("user")
    p.add_argument("seconds", type=float)
    p.add_argument("--rows", type=int, default=1)
    p.add_argument("--spill", action="store_true")
    p = sub.add_parser("checkpoint")
    p.add_argument("db")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--interval", type=float, default=0.01)
    p.add_argument("--users", required=True)
    p = sub.add_parser("bigtx")
    p.add_argument("db")
    p.add_argument("user")
    p.add_argument("n", type=int)
    p.add_argument("--pad", type=int, default=40)
    p = sub.add_parser("chaos")
    p.add_argument("db")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    {"hold": cmd_hold, "checkpoint": cmd_checkpoint, "bigtx": cmd_bigtx,
     "chaos": cmd_chaos}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
