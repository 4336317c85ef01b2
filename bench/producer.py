#!/usr/bin/python3
"""Benchmark producer: inserts outbox rows and prints when each committed.

usage: producer.py DB single COUNT RATE NUSERS   (rows to random users)
       producer.py DB broadcast                   (one row to everyone)
Prints "id t_commit" per row, t_commit = CLOCK_MONOTONIC right after COMMIT
returned, so latency measured against it is commit-to-receipt. DB may be
a PostgreSQL URI (psycopg2); the id, given at commit there, is read after
it (currval of the sequence the commit-order trigger drew from).
"""
import random
import sqlite3
import sys
import time


class Postgres:
    def __init__(self, uri):
        import psycopg2
        self.conn = psycopg2.connect(uri)
        self.conn.autocommit = True
        self.cur = self.conn.cursor()

    def execute(self, sql, args=()):
        self.cur.execute(sql.replace("?", "%s"), args)
        return self

    @property
    def lastrowid(self):
        self.cur.execute("SELECT currval('outbox_id_seq')")
        return self.cur.fetchone()[0]


def main():
    if sys.argv[1].startswith(("postgresql://", "postgres://")):
        db = Postgres(sys.argv[1])
    else:
        db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
    mode = sys.argv[2]
    if mode == "single":
        count, rate, nusers = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
        targets = ["u%d" % random.randrange(nusers) for _ in range(count)]
    else:
        count, rate, targets = 1, 1.0, [None]
    start = time.monotonic()
    for i, user in enumerate(targets):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        db.execute("BEGIN")
        cur = db.execute("INSERT INTO outbox (user_id, event, data) VALUES (?, 'bench', ?)",
                         (user, '{"n":%d}' % i))
        db.execute("COMMIT")
        t = time.monotonic()
        print(cur.lastrowid, "%.6f" % t, user or "*", flush=True)


if __name__ == "__main__":
    main()
