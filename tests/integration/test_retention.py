# SPDX-License-Identifier: BSD-2-Clause
"""Retention and schema: `sse-outbox prune`, the reset event, ids never
reused, sql/schema.sql applied again, a schema too new, the bare table.

    sse-outbox prune --older-than SECONDS     (SSE_DB names the database)

deletes every row up to the newest row older than SECONDS, in one
transaction, and records that id as outbox_meta.pruned_through. A client
resuming from below it first gets

    event: reset
    data: {"reason":"pruned","last_event_id":L,"pruned_through":P}

(no id), then every row that remains after its resume point; one
resuming from above every id the database ever gave gets a reset with
"reason":"unknown-id" and then every row for it.
"""

import json
import os
import re
import sqlite3
import subprocess
import time

import pytest

import harness
import swarm

DAY = 86400


def prune(responder, db, older_than, env_extra=None):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SSE_DB": str(db)}
    env.update(env_extra or {})
    return subprocess.run([responder, "prune", "--older-than",
                           str(older_than)], env=env, capture_output=True,
                          timeout=30)


def check(responder, db):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SSE_DB": str(db), "SSE_AUTH": "remote-user"}
    return subprocess.run([responder, "--check"], env=env,
                          capture_output=True, timeout=30)


def insert_aged(db, rows, age):
    """Rows (user, event, data) whose created_at is age seconds ago, in
    one transaction, as an application that ran `age` ago would have
    left them. Returns their ids."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    try:
        conn.execute("BEGIN IMMEDIATE")
        ids = [conn.execute(
            "INSERT INTO outbox (user_id, event, data, created_at) VALUES "
            "(?, ?, ?, ?)", (u, e, d, int(time.time()) - age)).lastrowid
            for u, e, d in rows]
        conn.execute("COMMIT")
        return ids
    finally:
        conn.close()


def snapshot(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {
            "rows": conn.execute("SELECT * FROM outbox ORDER BY id")
            .fetchall(),
            "seq": conn.execute("SELECT * FROM sqlite_sequence").fetchall(),
            "meta": conn.execute("SELECT * FROM outbox_meta ORDER BY key")
            .fetchall(),
            "schema": conn.execute("SELECT type, name, sql FROM "
                                   "sqlite_master ORDER BY name").fetchall(),
        }
    finally:
        conn.close()


def events(c):
    return [(e.id if e.has_id else None, e.type, e.data) for e in c.events]


def reset_data(reason, last, **kw):
    return {"reason": reason, "last_event_id": last, **kw}


def own_db(servers, name, schema=True):
    """A database made before its server starts, in a directory the
    www-data responders can write (for its -wal and -shm)."""
    d = harness.make_dir(servers.base_dir / f"{name}-{os.getpid()}-"
                         f"{time.monotonic_ns()}")
    return harness.make_db(d / "app.db", schema=schema)


def test_prune_then_reset_and_the_rest(servers, responder):
    srv = servers.lighttpd(heartbeat=30)
    old = insert_aged(srv.db, [("alice", "m", "old a1"),
                               ("bob", "m", "old b1"),
                               (None, "all", "old broadcast"),
                               ("alice", "m", "old a2"),
                               ("bob", "m", "old b2"),
                               ("alice", "m", "old a3")], age=2 * DAY)
    new = srv.produce(("alice", "m", "new a1"), (None, "all", "new all"),
                      ("bob", "m", "new b1"), ("alice", "m", "new a2"))
    assert old == [1, 2, 3, 4, 5, 6] and new == [7, 8, 9, 10]
    live = srv.open("alice")            # level with the outbox: unaffected
    streams = [live]
    try:
        live.wait_fields(1)
        p = prune(responder, srv.db, DAY)
        assert p.returncode == 0, p.stderr
        assert p.stdout.decode().strip() == "deleted 6 rows (ids up to 6)"
        snap = snapshot(srv.db)
        assert [r[0] for r in snap["rows"]] == new
        assert dict(snap["meta"]) == {"pruned_through": 6,
                                      "schema_version": 1}

        mark = srv.logs.mark()
        c = srv.open("alice", last_event_id=3)
        streams.append(c)
        assert c.status == 200
        c.wait_events(4)
        # The reset comes first, right after retry:, and has no id.
        names = [f[0] for f in c.fields]
        assert names[:3] == ["retry", "event", "data"], c.fields
        assert events(c)[0][:2] == (None, "reset")
        assert json.loads(events(c)[0][2]) == reset_data(
            "pruned", 3, pruned_through=6)
        assert events(c)[1:] == [("7", "m", "new a1"), ("8", "all", "new all"),
                                 ("10", "m", "new a2")]
        srv.logs.wait_for(r"info: req=\d+ user=alice resumes from 3: "
                          r"sending reset", mark)

        # Resuming at or after the pruned id: nothing lost, no reset.
        for resume, want in ((6, [7, 8, 10]), (8, [10]), (10, [])):
            r = srv.open("alice", last_event_id=resume)
            streams.append(r)
            r.wait_fields(1)
            if want:
                r.wait_events(len(want))
            assert r.no_more_events(len(want), settle=0.2)
            assert [e.id for e in r.events] == [str(i) for i in want]
        # Just below it: a reset.
        r = srv.open("alice", last_event_id=5)
        streams.append(r)
        assert r.wait_events(1)[0].type == "reset"

        # Every stream goes on with live rows; nothing repeats.
        after = str(srv.produce(("alice", "m", "after the prune"))[0])
        for s in streams:
            assert s.wait(lambda: s.parser.events and
                          s.parser.events[-1].id == after, 3), s.describe()
        ids = [e.id for e in c.events if e.has_id]
        assert ids == ["7", "8", "10", after]
    finally:
        for s in streams:
            s.close()
    harness.report("prune --older-than 86400: deleted ids 1..6 in one "
                   "transaction; resuming from 3 and 5: reset (pruned, "
                   "pruned_through 6) then exactly the remaining rows; from "
                   "6, 8, 10: no reset; live streams unaffected")


def test_ids_never_reused_after_pruning_everything(servers, responder):
    srv = servers.lighttpd(heartbeat=30)
    old = insert_aged(srv.db, [("alice", "m", f"old {i}") for i in range(5)],
                      age=2 * DAY)
    c = srv.open("alice", last_event_id=0)
    try:
        assert [int(e.id) for e in c.wait_events(5)] == old
        p = prune(responder, srv.db, 60)
        assert p.returncode == 0, p.stderr
        assert p.stdout.decode().strip() == "deleted 5 rows (ids up to 5)"
        assert snapshot(srv.db)["rows"] == []
        # A responder started now finds the outbox empty.
        fresh = servers.lighttpd(db=srv.db, heartbeat=30)
        c2 = fresh.open("alice", last_event_id=old[-1])
        c3 = fresh.open("alice")
        try:
            c2.wait_fields(1)
            c3.wait_fields(1)
            new = srv.produce(("alice", "m", "after pruning everything"))
            assert new[0] > old[-1]         # AUTOINCREMENT: never reused
            for s in (c, c2, c3):
                assert s.wait(lambda: s.parser.events and
                              s.parser.events[-1].id == str(new[0]), 3), \
                    s.describe()
            assert [e.type for e in c2.events] == ["m"]   # no reset
            assert [e.type for e in c3.events] == ["m"]
        finally:
            c2.close()
            c3.close()
    finally:
        c.close()
    harness.report(f"pruned everything (ids 1..5): the next insert got id "
                   f"{new[0]}; resuming from 5, in the running and in a "
                   f"newly started responder, gave it without a reset")


def test_unknown_id_reset_then_every_row(servers):
    srv = servers.lighttpd(heartbeat=30)
    ids = srv.produce(("alice", "m", "a"), ("bob", "m", "b"),
                      (None, "all", "everyone"))
    c = srv.open("alice", last_event_id=1000)
    try:
        got = c.wait_events(3)
        assert events(c)[0][:2] == (None, "reset")
        assert json.loads(got[0].data) == reset_data(
            "unknown-id", 1000, newest_id=ids[-1])
        assert events(c)[1:] == [(str(ids[0]), "m", "a"),
                                 (str(ids[2]), "all", "everyone")]
        live = srv.produce(("alice", "m", "live"))
        assert c.wait_events(4)[-1].id == str(live[0])
    finally:
        c.close()


def test_schema_applied_again_changes_nothing(servers, responder):
    """sql/schema.sql applied as README says (sqlite3 app.db <
    sql/schema.sql), twice, to a database with rows and a prune behind
    it: rows, ids, the AUTOINCREMENT counter and outbox_meta stay; the
    next id continues; the stream goes on."""
    srv = servers.lighttpd(heartbeat=30)
    insert_aged(srv.db, [("alice", "m", "old 1"), ("bob", "m", "old 2")],
                age=2 * DAY)
    srv.produce(("alice", "m", "kept 1"), (None, "all", "kept 2"))
    assert prune(responder, srv.db, DAY).returncode == 0
    c = srv.open("alice", last_event_id=2)
    try:
        c.wait_events(2)
        before = snapshot(srv.db)
        assert dict(before["meta"])["pruned_through"] == 2
        for _ in range(2):
            p = subprocess.run(["sqlite3", str(srv.db)],
                               input=harness.SCHEMA.read_bytes(),
                               capture_output=True, timeout=30)
            assert p.returncode == 0, p.stderr
            assert snapshot(srv.db) == before
        new = srv.produce(("alice", "m", "after the migration"))
        assert new[0] == before["rows"][-1][0] + 1
        assert c.wait_events(3)[-1].id == str(new[0])
        assert not c.ended
    finally:
        c.close()


def test_newer_schema_version_is_refused(servers, responder):
    db = own_db(servers, "v2")
    conn = sqlite3.connect(db)
    conn.execute("UPDATE outbox_meta SET value = 2 "
                 "WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    srv = servers.lighttpd(db=db, heartbeat=30)
    cause = (r"database \S+app\.db has outbox schema version 2; this "
             r"sse-outbox understands up to 1 \(upgrade sse-outbox\)")
    for _ in range(2):
        mark = srv.logs.mark()
        r = srv.request("alice", last_event_id=0)
        assert r.status == 503, r.describe()
        harness.assert_retry_after(r.headers, r.header_list)
        srv.logs.wait_for(r"warning: req=\d+ refused 503: " + cause, mark)
    p = check(responder, db)
    assert p.returncode != 0
    assert re.search(cause, p.stderr.decode()), p.stderr
    assert b"configuration OK" not in p.stdout
    harness.report("schema_version 2: 503 + Retry-After and '" +
                   re.search(cause, p.stderr.decode()).group(0) +
                   "'; --check exits " + str(p.returncode))


BARE_TABLE = """
PRAGMA journal_mode = WAL;
CREATE TABLE outbox (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id    TEXT,
  event      TEXT,
  data       TEXT NOT NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s','now') AS INTEGER))
);
CREATE INDEX outbox_user_id ON outbox (user_id, id);
"""


def test_bare_contract_table_is_served(servers, responder):
    """The table exactly as interface.md gives it, no outbox_meta: a
    version 1 database that was never pruned. Served normally; prune
    refuses it (and deletes nothing) until sql/schema.sql is applied."""
    db = own_db(servers, "bare", schema=False)
    os.unlink(db)
    conn = sqlite3.connect(db)
    conn.executescript(BARE_TABLE)
    conn.close()
    os.chmod(db, 0o666)
    old = insert_aged(db, [("alice", "m", "old"), (None, "all", "old all")],
                      age=2 * DAY)
    assert check(responder, db).returncode == 0
    srv = servers.lighttpd(db=db, heartbeat=30)
    c = srv.open("alice", last_event_id=0)
    u = srv.open("alice", last_event_id=99)
    try:
        assert [int(e.id) for e in c.wait_events(2)] == old
        live = srv.produce(("alice", "m", "live"))
        assert c.wait_events(3)[-1].id == str(live[0])
        got = u.wait_events(4)
        assert got[0].type == "reset" and json.loads(got[0].data) == \
            reset_data("unknown-id", 99, newest_id=old[-1])
        p = prune(responder, db, DAY)
        assert p.returncode != 0
        assert "schema.sql" in p.stderr.decode(), p.stderr
        assert len(snapshot_rows(db)) == 3      # nothing deleted
        # Migrated, it can be pruned; streams go on.
        subprocess.run(["sqlite3", str(db)],
                       input=harness.SCHEMA.read_bytes(),
                       capture_output=True, timeout=30, check=True)
        p = prune(responder, db, DAY)
        assert p.returncode == 0, p.stderr
        assert [r[0] for r in snapshot_rows(db)] == live
        more = srv.produce(("alice", "m", "still live"))
        assert c.wait_events(4)[-1].id == str(more[0])
    finally:
        c.close()
        u.close()


def snapshot_rows(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id FROM outbox ORDER BY id").fetchall()
    finally:
        conn.close()


def test_prune_arguments(responder, base_dir):
    db = harness.make_db(harness.make_dir(base_dir / "prune-args") /
                         "app.db")
    for args in ([], ["--older-than"], ["--older-than", "-5"],
                 ["--older-than", "1x"], ["--older-than", ""],
                 ["--newer-than", "5"]):
        p = subprocess.run([responder, "prune"] + args,
                           env={"SSE_DB": str(db), "PATH": "/usr/bin:/bin"},
                           capture_output=True, timeout=10)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert p.stderr, args
    p = subprocess.run([responder, "prune", "--older-than", "60"],
                       env={"PATH": "/usr/bin:/bin"}, capture_output=True,
                       timeout=10)
    assert p.returncode == 1 and b"SSE_DB" in p.stderr, p.stderr
    p = prune(responder, base_dir / "prune-args" / "missing.db", 60)
    assert p.returncode == 1, p.stderr
    assert not (base_dir / "prune-args" / "missing.db").exists()
    p = prune(responder, db, 60)
    assert p.returncode == 0
    assert p.stdout.decode().strip() == "deleted 0 rows (ids up to 0)"


def test_prune_under_a_stream_that_is_behind(servers, responder):
    """A slow client's stream stops taking live rows once ~64 KiB wait
    unwritten, and later reads them from the outbox. If `prune` deletes
    them meanwhile, that stream's resume point is below pruned_through
    just as a reconnecting client's would be: it must be told (a reset
    event) before the rows that remain, not skip the gap silently."""
    srv = servers.lighttpd(heartbeat=30)
    sw = swarm.Swarm()
    try:
        a = sw.open(srv, "alice", rcvbuf=4096, raw=True)
        assert sw.wait(lambda: a.status is not None, 5) and a.status == 200
        sw.pause(a)                     # the client stops reading
        pad = "x" * 400
        old = insert_aged(srv.db, [("alice", "m", f"{i} {pad}")
                                   for i in range(20000)], age=2 * DAY)
        time.sleep(1.0)                 # the responder fills every buffer
        new = srv.produce(("alice", "m", "new"))
        p = prune(responder, srv.db, DAY)
        assert p.returncode == 0, p.stderr
        sw.unpause(a)
        assert sw.wait(lambda: b"id: %d\n" % new[0] in a.body[-2000:], 20)
        a.parse_body()
        ids = a.ids
        assert ids[0] == old[0] and ids[-1] == new[0]
        sent_before = [i for i in ids if i in range(old[0], old[-1] + 1)]
        assert sent_before == list(range(old[0], sent_before[-1] + 1))
        assert sent_before[-1] < old[-1], "the buffers took every old row"
        types = [e[1] for e in a.events]
        assert "reset" in types, (
            f"rows {sent_before[-1] + 1}..{old[-1]} were pruned under the "
            f"stream and skipped without a reset event")
        k = types.index("reset")
        assert a.events[k - 1][0] == sent_before[-1]
        assert json.loads(a.events[k][2])["reason"] == "pruned"
        assert [e[0] for e in a.events[k + 1:]] == new
    finally:
        sw.close()
