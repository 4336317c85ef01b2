# SPDX-License-Identifier: BSD-2-Clause
"""The producer examples in examples/ (PHP with PDO SQLite, Python's
sqlite3, the sqlite3 shell), each run as shipped against a live stream
behind lighttpd: the committed change's event arrives, the rolled-back
one never does (a later row arrives first and nothing comes between),
and the database holds the committed change only."""

import json
import sqlite3
import subprocess
import sys

import pytest

import harness

EXAMPLES = harness.ROOT / "examples"
PHP = "/usr/bin/php"
SQLITE3 = "/usr/bin/sqlite3"


def command(lang, db, user):
    if lang == "php":
        harness.require_program(PHP)
        return [PHP, str(EXAMPLES / "producer.php"), str(db), user], None
    if lang == "python":
        return [sys.executable, str(EXAMPLES / "producer.py"), str(db),
                user], None
    harness.require_program(SQLITE3)
    quoted = "'" + user.replace("'", "''") + "'"
    return [SQLITE3, "-cmd", f".parameter set @user {quoted}", str(db)], \
        (EXAMPLES / "producer.sql").read_bytes()


@pytest.fixture(scope="module")
def server(session_factory):
    """lighttpd as shipped, the user from ?user= (no Basic auth)."""
    return session_factory.lighttpd(auth="query")


@pytest.mark.parametrize("lang", ["php", "python", "sqlite3"])
def test_producer_example(server, lang):
    user = f"shop-{lang}"
    with server.open(user=user) as stream:
        stream.wait_fields(1)       # retry: flushed: the stream is live
        argv, stdin = command(lang, server.db, user)
        p = subprocess.run(argv, input=stdin, capture_output=True,
                           timeout=30)
        out = p.stdout.decode()
        assert p.returncode == 0, out + p.stderr.decode()
        assert "placed; outbox row" in out and "rolled back" in out, out
        # A row committed after the example: everything before it in the
        # outbox has been delivered by the time it arrives.
        sentinel = server.produce((user, "done", "sentinel"))[0]
        events = stream.wait_events(2, timeout=10)
        assert stream.no_more_events(2, settle=0.3), stream.events

    order = events[0]
    assert order.type == "order", events
    payload = json.loads(order.data)
    assert payload["status"] == "placed" and payload["by"] == lang, payload
    assert int(order.id) < sentinel
    assert (events[1].type, events[1].id, events[1].data) == \
        ("done", str(sentinel), "sentinel")
    assert not [e for e in events if "cancelled" in e.data]

    db = sqlite3.connect(server.db, timeout=5)
    try:
        rows = db.execute("SELECT id, status FROM orders WHERE user_id = ?",
                          (user,)).fetchall()
        cancelled = db.execute(
            "SELECT count(*) FROM outbox WHERE user_id = ? AND data LIKE "
            "'%cancelled%'", (user,)).fetchone()[0]
    finally:
        db.close()
    assert rows == [(payload["order"], "placed")]
    assert cancelled == 0


def test_examples_need_an_existing_database(tmp_path):
    """A mistyped path fails instead of creating an empty database."""
    missing = tmp_path / "nope.db"
    for lang in ("php", "python"):
        argv, _ = command(lang, missing, "42")
        p = subprocess.run(argv, capture_output=True, timeout=30)
        assert p.returncode != 0, lang
        assert not missing.exists(), lang


# ---- the same on PostgreSQL ----

PSQL = "/usr/bin/psql"


def pg_command(lang, postgres, db, user):
    if lang == "php":
        harness.require_program(PHP)
        dsn = (f"pgsql:host={postgres.sock};port={postgres.port};"
               f"dbname={db};user=postgres")
        return [PHP, str(EXAMPLES / "producer-postgresql.php"), dsn, user]
    if lang == "python":
        return [sys.executable, str(EXAMPLES / "producer-postgresql.py"),
                postgres.url(db), user]
    harness.require_program(PSQL)
    return [PSQL, "-X", postgres.url(db), "-v", f"user={user}", "-f",
            str(EXAMPLES / "producer-postgresql.sql")]


def pg_rows(postgres, db, sql, args=()):
    c = postgres.connect(db)
    try:
        cur = c.cursor()
        cur.execute(sql, args)
        return cur.fetchall()
    finally:
        c.close()


@pytest.mark.parametrize("lang", ["php", "python", "psql"])
def test_producer_example_postgresql(postgres, servers, lang):
    """examples/producer-postgresql.* as shipped (PDO pgsql, psycopg2,
    psql): the committed order's event arrives, the rolled-back
    cancellation's never does."""
    db = postgres.new_db()
    srv = servers.lighttpd(db=postgres.url(db), auth="query")
    user = f"shop-{lang}"
    with srv.open(user=user) as stream:
        stream.wait_fields(1)
        p = subprocess.run(pg_command(lang, postgres, db, user),
                           capture_output=True, timeout=60)
        out = p.stdout.decode()
        assert p.returncode == 0, out + p.stderr.decode()
        assert "placed; outbox row" in out and "rolled back" in out, out
        sentinel = postgres.produce(db, (user, "done", "sentinel"))[0]
        events = stream.wait_events(2, timeout=15)
        assert stream.no_more_events(2, settle=0.3), stream.events
    order = events[0]
    assert order.type == "order", events
    payload = json.loads(order.data)
    assert payload["status"] == "placed" and payload["by"] == lang, payload
    assert 0 < int(order.id) < sentinel
    assert (events[1].type, events[1].id, events[1].data) == \
        ("done", str(sentinel), "sentinel")
    assert pg_rows(postgres, db, "SELECT id, status FROM orders WHERE "
                   "user_id = %s", (user,)) == [(payload["order"], "placed")]
    assert pg_rows(postgres, db, "SELECT count(*) FROM outbox WHERE "
                   "data LIKE '%%cancelled%%'") == [(0,)]


def test_trigger_example_postgresql(postgres, servers):
    """examples/trigger-postgresql.sql: an AFTER INSERT trigger on an
    application table writes the outbox row in the inserting
    transaction; a rolled-back insert notifies no one, and each message
    reaches its recipient only."""
    harness.require_program(PSQL)
    db = postgres.new_db()
    for _ in range(2):      # idempotent
        p = subprocess.run([PSQL, "-X", "-q", postgres.url(db), "-f",
                            str(EXAMPLES / "trigger-postgresql.sql")],
                           capture_output=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
    srv = servers.lighttpd(db=postgres.url(db), auth="query")
    with srv.open(user="42") as a, srv.open(user="7") as b:
        a.wait_fields(1)
        b.wait_fields(1)
        c = postgres.connect(db, autocommit=False)
        try:
            cur = c.cursor()
            cur.execute("INSERT INTO messages (recipient, sender, body) "
                        "VALUES ('42', '7', 'hi 42') RETURNING id")
            kept = cur.fetchone()[0]
            c.commit()
            cur.execute("INSERT INTO messages (recipient, sender, body) "
                        "VALUES ('42', '7', 'never sent')")
            c.rollback()
            cur.execute("INSERT INTO messages (recipient, sender, body) "
                        "VALUES ('7', '42', 'hi 7')")
            c.commit()
        finally:
            c.close()
        sentinel = postgres.produce(db, ("42", "done", "sentinel"))[0]
        got = a.wait_events(2, timeout=15)
        assert a.no_more_events(2, settle=0.3), a.events
        other = b.wait_events(1, timeout=15)
        assert b.no_more_events(1, settle=0.3), b.events
    assert got[0].type == "message", got
    assert json.loads(got[0].data) == {"message": kept, "from": "7",
                                       "body": "hi 42"}
    assert int(got[0].id) < sentinel and got[1].data == "sentinel"
    assert json.loads(other[0].data)["body"] == "hi 7"
    assert pg_rows(postgres, db, "SELECT count(*) FROM messages") == [(2,)]
