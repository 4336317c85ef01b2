#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Benchmark producer: inserts outbox rows and prints when each committed.

usage: producer.py DB single COUNT RATE NUSERS   (rows to random users)
       producer.py DB broadcast                   (one row to everyone)
Prints "id t_commit user" per row (all of them at the end, LINGER seconds
after the last row), t_commit = CLOCK_MONOTONIC right after
COMMIT returned, so latency measured against it is commit-to-receipt. DB
may be a PostgreSQL URI (psycopg2); the id, given at commit there, is
read after it (currval of the sequence the commit-order trigger drew
from).

With DB an http:// URL (nchan's publisher location, ending in "/pub/"),
each row is a POST to URL + user (URL + "all" for a broadcast) over one
kept connection; the message is a number unique to the run, printed in
place of the id, and t is taken right before the request is sent: nchan
writes to its subscribers before it answers the publisher, so the answer
can arrive after the event (a commit is complete when COMMIT returns; a
publish is complete somewhere inside its request).
"""
import http.client
import random
import sqlite3
import sys
import time
import urllib.parse

LINGER = 0.3  # seconds after the last row: longer than a fan-out to 9,000


class Publisher:
    """nchan: one HTTP/1.1 connection, one POST per message."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.path = u.path
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)

    def send(self, user, i):
        n = time.monotonic_ns() // 1000 * 100 + i % 100
        t = time.monotonic()
        self.conn.request("POST", self.path + (user or "all"), body=str(n),
                          headers={"Content-Type": "text/plain"})
        r = self.conn.getresponse()
        r.read()
        if r.status not in (201, 202):
            sys.exit("publisher answered %d" % r.status)
        return n, t


class Store:
    """sse-outbox: one row per transaction in the SQLite outbox."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.db.execute("PRAGMA journal_mode=WAL")

    def send(self, user, i):
        self.db.execute("BEGIN")
        cur = self.db.execute(
            "INSERT INTO outbox (user_id, event, data) VALUES (?, 'bench', ?)",
            (user, '{"n":%d}' % i))
        self.db.execute("COMMIT")
        return cur.lastrowid, time.monotonic()


class PostgresStore:
    """sse-outbox: one row per transaction in a PostgreSQL outbox."""

    def __init__(self, uri):
        import psycopg2
        self.conn = psycopg2.connect(uri)
        self.conn.autocommit = True
        self.cur = self.conn.cursor()

    def send(self, user, i):
        self.cur.execute("BEGIN")
        self.cur.execute(
            "INSERT INTO outbox (user_id, event, data) VALUES (%s, 'bench', %s)",
            (user, '{"n":%d}' % i))
        self.cur.execute("COMMIT")
        t = time.monotonic()
        self.cur.execute("SELECT currval('outbox_id_seq')")
        return self.cur.fetchone()[0], t


def main():
    if sys.argv[1].startswith("http://"):
        sink = Publisher(sys.argv[1])
    elif sys.argv[1].startswith(("postgresql://", "postgres://")):
        sink = PostgresStore(sys.argv[1])
    else:
        sink = Store(sys.argv[1])
    mode = sys.argv[2]
    if mode == "single":
        count, rate, nusers = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
        targets = ["u%d" % random.randrange(nusers) for _ in range(count)]
    else:
        count, rate, targets = 1, 1.0, [None]
    start = time.monotonic()
    sent = []
    for i, user in enumerate(targets):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        rid, t = sink.send(user, i)
        sent.append("%d %.6f %s\n" % (rid, t, user or "*"))
    # Quiet while the last row is delivered: neither this interpreter's
    # exit nor the bench reading these lines may compete for the two
    # cores with it. A commit returns before its event goes out (and a
    # publish to nchan after nchan wrote to every subscriber), so without
    # this only sse-outbox's last row and broadcasts were measured
    # against a busy machine.
    time.sleep(LINGER)
    sys.stdout.write("".join(sent))


if __name__ == "__main__":
    main()
