#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Insert outbox rows the way an application would: a separate process,
plain INSERTs, WAL mode, one transaction per row.

    producer.py DB USER EVENT DATA [USER EVENT DATA ...]
        one row per triple; the two characters \\N mean NULL
    producer.py DB --burst N --interval SECONDS --user USER [--event E]
        N rows, SECONDS apart; data is JSON {"seq": i, "t_insert": t},
        t taken just before the commit (--size B adds "pad": B bytes;
        --user - sends to every stream)
    producer.py DB --json FILE [--interval SECONDS] [--batch N]
        the rows of FILE, a JSON list of [user, event, data] (null for
        NULL; any text, CR, LF and NUL included), N rows per transaction

After each commit it prints one JSON line: {"id": ..., "t_commit": ...},
where t_commit is time.time() right after the commit returned.

DB may also be a PostgreSQL URI (postgresql://...): the same inserts
through psycopg2. Ids are given at commit there (sql/schema-postgresql.sql);
to print them, each transaction runs its commit-order trigger at the end
of each INSERT (SET CONSTRAINTS ... IMMEDIATE, which the schema allows:
the trigger's lock is then held to the commit) and reads the id it gave.
"""

import argparse
import json
import sqlite3
import sys
import time

NULL = "\\N"


class PostgresOutbox:
    """The few sqlite3 calls used here, on PostgreSQL."""

    def __init__(self, uri):
        import psycopg2
        self.conn = psycopg2.connect(uri)
        self.conn.autocommit = True
        self.cur = self.conn.cursor()
        self.lastrowid = None

    def execute(self, sql, args=()):
        if sql.startswith("BEGIN"):
            self.cur.execute("BEGIN")
            self.cur.execute("SET CONSTRAINTS outbox_commit_order "
                             "IMMEDIATE")
            return self
        if sql.startswith("INSERT"):
            self.cur.execute(sql.replace("?", "%s"), args)
            self.cur.execute("SELECT currval('outbox_id_seq')")
            self.lastrowid = self.cur.fetchone()[0]
            return self
        self.cur.execute(sql, args)
        return self

    def close(self):
        self.conn.close()


def connect(path):
    if path.startswith(("postgresql://", "postgres://")):
        return PostgresOutbox(path)
    # Never create the database: a typo must fail, not make a new file.
    db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=10,
                         isolation_level=None)
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        sys.exit(f"producer: {path}: journal_mode is {mode}, not wal")
    return db


def insert(db, user, event, data):
    db.execute("BEGIN IMMEDIATE")
    cur = db.execute("INSERT INTO outbox (user_id, event, data) "
                     "VALUES (?, ?, ?)", (user, event, data))
    row_id = cur.lastrowid
    db.execute("COMMIT")
    t_commit = time.time()
    print(json.dumps({"id": row_id, "t_commit": t_commit}), flush=True)
    return row_id


def insert_many(db, rows):
    """One transaction for rows; one output line per row."""
    db.execute("BEGIN IMMEDIATE")
    ids = [db.execute("INSERT INTO outbox (user_id, event, data) "
                      "VALUES (?, ?, ?)", tuple(row)).lastrowid
           for row in rows]
    db.execute("COMMIT")
    t_commit = time.time()
    for row_id in ids:
        print(json.dumps({"id": row_id, "t_commit": t_commit}), flush=True)


def main_json(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--json", required=True)
    ap.add_argument("--interval", type=float, default=0.0)
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args(argv)
    with open(args.json, encoding="utf-8") as f:
        rows = json.load(f)
    db = connect(args.db)
    for i in range(0, len(rows), args.batch):
        if i and args.interval:
            time.sleep(args.interval)
        insert_many(db, rows[i:i + args.batch])
    db.close()
    return 0


def main(argv):
    if len(argv) > 1 and argv[1] == "--json":
        return main_json(argv)
    if len(argv) > 1 and argv[1] == "--burst":
        ap = argparse.ArgumentParser()
        ap.add_argument("db")
        ap.add_argument("--burst", type=int, required=True)
        ap.add_argument("--interval", type=float, default=0.02)
        ap.add_argument("--user", required=True)
        ap.add_argument("--event", default=None)
        ap.add_argument("--size", type=int, default=0,
                        help="pad each row's data to about this many bytes")
        args = ap.parse_args(argv)
        db = connect(args.db)
        for seq in range(args.burst):
            if seq:
                time.sleep(args.interval)
            row = {"seq": seq, "t_insert": time.time()}
            if args.size:
                row["pad"] = "x" * args.size
            payload = json.dumps(row)
            user = None if args.user == "-" else args.user
            insert(db, user, args.event, payload)
        db.close()
        return 0
    if len(argv) < 4 or (len(argv) - 1) % 3 != 0:
        sys.stderr.write(__doc__)
        return 2
    db = connect(argv[0])
    rest = argv[1:]
    for i in range(0, len(rest), 3):
        user, event, data = (None if v == NULL else v for v in rest[i:i + 3])
        if data is None:
            sys.exit("producer: data may not be NULL")
        insert(db, user, event, data)
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
