# SPDX-License-Identifier: BSD-2-Clause
"""Database faults and bursts, each with its defined answer.

Through a real lighttpd (bin-path, one responder serving every stream)
and producers in separate processes:

* the database missing when a request arrives, then created;
* a producer holding SQLite's write lock for seconds;
* the outbox table dropped under live streams;
* WAL checkpoints, TRUNCATE included, in a loop with inserts;
* the database file replaced (os.replace) or deleted under live streams;
* a read error in the middle of a stream (a damaged page);
* 100,000 rows committed in one transaction for one user, live and
  replayed, in bounded responder memory, while another user's stream
  keeps its latency.

What each test measures goes to the session summary (harness.report).
"""

import json
import os
import select
import sqlite3
import statistics
import struct
import subprocess
import sys
import time

import pytest

import harness
import swarm

FAULTPRODUCER = harness.HERE / "faultproducer.py"


# ---- helpers ----

def fault_producer(*args):
    return subprocess.Popen(
        [sys.executable, str(FAULTPRODUCER)] + [str(a) for a in args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_line(p, timeout):
    """One JSON line from a running producer, within timeout seconds."""
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    if not ready:
        harness.fail(f"producer said nothing within {timeout} s")
    line = p.stdout.readline()
    if not line:
        harness.fail(f"producer ended early: {p.stderr.read().decode()}")
    return json.loads(line)


def query(db, sql, params=()):
    """Read the database as a separate, short-lived connection."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def operator(db, script):
    """What an operator or a migration does: one connection, a script."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.executescript(script)
    finally:
        conn.close()


def checkpoint(db, mode="TRUNCATE"):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    finally:
        conn.close()


def rows_for(db, user, after=0):
    """[(id, type, data)] a stream of user resuming after `after` is owed."""
    return [tuple(r) for r in query(
        db, "SELECT id, coalesce(event, 'message'), data FROM outbox "
        "WHERE id > ? AND (user_id IS NULL OR user_id = ?) ORDER BY id",
        (after, user))]


def events_of(c):
    """(id, type, data) of an sseclient stream's events."""
    return [(int(e.id), e.type, e.data) for e in c.events]


def copy_database(src, dst):
    """A consistent copy (SQLite's backup API), left without -wal."""
    s = sqlite3.connect(src)
    d = sqlite3.connect(dst)
    try:
        s.backup(d)
    finally:
        s.close()
    d.execute("PRAGMA journal_mode = WAL")
    d.close()
    os.chmod(dst, 0o666)


def memory_kib(pid):
    """VmRSS, VmHWM (peak RSS) and Pss of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1])
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def the_responder(srv):
    pids = srv.responders()
    assert len(pids) == 1, pids
    return pids[0]


def hub_outage_lines(text):
    return [line for line in harness.responder_lines(text)
            if "retrying every" in line]


# ---- the database missing, then created ----

def test_database_created_while_clients_wait(servers):
    """No database yet: 503 with Retry-After and one line naming it; the
    application then creates it and commits at once; the very next
    request is served from the resume point with nothing missed."""
    srv = servers.lighttpd(db="missing")
    mark = srv.logs.mark()
    r = srv.request("alice", last_event_id=0)
    assert r.status == 503, r.describe()
    harness.assert_retry_after(r.headers, r.header_list)
    srv.logs.wait_for(r"sse-outbox\[\d+\]: warning: req=\d+ refused 503: "
                      r"cannot open database \S*app\.db", mark)
    pid = the_responder(srv)

    harness.make_db(srv.db)     # sqlite3 app.db < sql/schema.sql
    t_created = time.monotonic()
    srv.produce(("alice", "m", "first"), (None, "all", "to everyone"),
                ("bob", "m", "not alice's"))
    c = srv.open("alice", last_event_id=0)
    try:
        assert c.status == 200, c.describe()
        c.wait_events(2, timeout=3)
        served = time.monotonic() - t_created
        live = srv.produce(("alice", "m", "live"))
        c.wait_events(3, timeout=3)
        assert events_of(c) == rows_for(srv.db, "alice"), c.describe()
        assert events_of(c)[-1][0] == live[0]
    finally:
        c.close()
    assert the_responder(srv) == pid        # the same process all along
    outage = hub_outage_lines(srv.logs.since(mark))
    assert len(outage) <= 1, outage         # logged once, not per retry
    harness.report(f"database missing: 503 with Retry-After "
                   f"{r.headers['retry-after']} s; created, then served "
                   f"with its first rows {served:.2f} s later, same process")


# ---- a writer holding the lock ----

def test_writer_holding_the_write_lock_for_seconds(servers):
    """BEGIN IMMEDIATE, 200 inserts (spilled into the -wal, so the
    watcher is woken and probes while the lock is held), 3 s of sleep,
    COMMIT. Meanwhile the streams stay open with their heartbeats, a new
    stream opens and replays its backlog (readers never wait for the
    writer), and nothing of the transaction shows early; after the
    commit every row arrives at once."""
    srv = servers.lighttpd(heartbeat=1)
    pid = the_responder(srv)
    backlog = srv.produce(("carol", "m", "carol's backlog"))
    alice = srv.open("alice")
    bob = srv.open("bob")
    streams = [alice, bob]
    try:
        for c in streams:
            assert c.status == 200
            c.wait_fields(1)
        wal = f"{srv.db}-wal"
        cpu0 = cpu_seconds(pid)
        p = fault_producer("hold", srv.db, "alice", 3, "--rows", 200,
                           "--spill")
        held_at = read_line(p, 10)["holding"]
        wal_during = os.path.getsize(wal)
        t0 = time.time()
        carol = srv.open("carol", last_event_id=0, timeout=3)
        streams.append(carol)
        assert carol.status == 200, carol.describe()
        got = carol.wait_events(1, timeout=2)
        carol_replay = time.time() - t0
        assert [int(e.id) for e in got] == backlog
        out = harness.finish_burst(p, timeout=15)[-1]
        t_commit = out["t_commit"]
        cpu_hold = cpu_seconds(pid) - cpu0
        got = alice.wait_events(200, timeout=5)
        assert [int(e.id) for e in got] == out["ids"]
        # The transaction sleeps 3 s after saying "holding".
        early = [e for e in got if e.time < held_at + 2.9]
        assert not early, f"{len(early)} rows seen before the commit"
        delay = got[-1].time - t_commit
        beats = [m for m in bob.comments if held_at < m.time < t_commit]
        assert len(beats) >= 2, (len(beats), bob.describe())
        for c in streams:
            assert not c.ended, c.describe()
        assert bob.events == []
        assert the_responder(srv) == pid
    finally:
        for c in streams:
            c.close()
    harness.report(
        f"write lock held {t_commit - held_at:.1f} s (wal {wal_during} "
        f"bytes before the commit): streams stayed open, {len(beats)} "
        f"heartbeats meanwhile, a new stream replayed its backlog in "
        f"{carol_replay * 1000:.0f} ms; the 200 rows arrived "
        f"{delay * 1000:.0f} ms after the commit; responder CPU during "
        f"the hold {cpu_hold * 1000:.0f} ms")
    assert delay < 1.0, delay


# ---- the outbox table dropped ----

def test_outbox_table_dropped_under_live_streams(servers):
    srv = servers.lighttpd(heartbeat=30)
    pid = the_responder(srv)
    ids = srv.produce(("alice", "m", "1"), ("alice", "m", "2"),
                      ("alice", "m", "3"))
    c = srv.open("alice", last_event_id=0)
    try:
        assert [int(e.id) for e in c.wait_events(3)] == ids
        mark = srv.logs.mark()
        t0 = time.time()
        operator(srv.db, "DROP TABLE outbox;")
        assert c.wait_end(timeout=3), c.describe()
        assert c.complete, "stream cut, not ended: " + c.describe()
        ended = c.end_time - t0
    finally:
        c.close()
    srv.logs.wait_for(r"sse-outbox\[\d+\]: warning: .*no such table: outbox"
                      r"; ending streams so clients resume", mark)
    # Requests meanwhile: 503, each with a line naming the missing table.
    for _ in range(2):
        mark = srv.logs.mark()
        r = srv.request("alice", last_event_id=ids[-1])
        assert r.status == 503, r.describe()
        harness.assert_retry_after(r.headers, r.header_list)
        srv.logs.wait_for(r"req=\d+ refused 503: .*(no such table: outbox|"
                          r"has no outbox table)", mark)
    # Re-created (its AUTOINCREMENT counter went with it: ids restart),
    # the client's old id is unknown here: a reset, then every row.
    operator(srv.db, harness.SCHEMA.read_text())
    again = srv.produce(("alice", "m", "new 1"), (None, "all", "new 2"))
    c2 = srv.open("alice", last_event_id=ids[-1])
    try:
        assert c2.status == 200, c2.describe()
        evs = c2.wait_events(3)
        assert evs[0].type == "reset" and not evs[0].has_id
        assert json.loads(evs[0].data)["reason"] == "unknown-id"
        assert [int(e.id) for e in evs[1:]] == again
    finally:
        c2.close()
    assert the_responder(srv) == pid
    harness.report(f"outbox table dropped: live stream ended cleanly after "
                   f"{ended * 1000:.0f} ms; requests got 503 naming the "
                   f"table; re-created, the client got a reset and the new "
                   f"rows; same process")


# ---- checkpoints ----

def test_checkpoints_while_streams_are_live(servers):
    """240 one-row commits 10 ms apart; after every third a checkpoint
    (PASSIVE, FULL, RESTART, and TRUNCATE every other time), which
    rewinds or empties the -wal the watcher listens to. Every row must
    arrive, and quickly: a missed wake-up would show as a delay near the
    1 s safety poll."""
    srv = servers.lighttpd(heartbeat=30)
    streams = {u: srv.open(u) for u in ("alice", "bob", "carol")}
    try:
        for c in streams.values():
            c.wait_fields(1)
        p = fault_producer("checkpoint", srv.db, "--rows", 240,
                           "--interval", 0.01, "--users", "alice,bob,-")
        out = harness.finish_burst(p, timeout=60)
        commits = {o["id"]: o["t_commit"] for o in out if "id" in o}
        ckpts = [o for o in out if "checkpoint" in o]
        latencies = []
        for user, c in streams.items():
            want = rows_for(srv.db, user)
            c.wait_events(len(want), timeout=5)
            time.sleep(0.1)
            assert events_of(c) == want, user
            latencies += [e.time - commits[int(e.id)] for e in c.events]
    finally:
        for c in streams.values():
            c.close()
    truncated = [o for o in ckpts if o["checkpoint"] == "TRUNCATE" and
                 o["result"] == [0, 0, 0]]
    assert len(truncated) >= 5, ckpts      # the -wal really was emptied
    lat = sorted(latencies)
    modes = {}
    for o in ckpts:
        modes[o["checkpoint"]] = modes.get(o["checkpoint"], 0) + 1
    harness.report(
        f"checkpoints during inserts: {len(commits)} commits, checkpoints "
        f"{modes} ({len(truncated)} TRUNCATE emptied the -wal); "
        f"{len(lat)} deliveries, latency median "
        f"{statistics.median(lat) * 1000:.1f} ms, p99 "
        f"{harness.percentile(lat, 0.99) * 1000:.1f} ms, max "
        f"{lat[-1] * 1000:.1f} ms")
    assert lat[-1] < 0.5, f"a wake-up was missed: {lat[-1]:.3f} s"


# ---- the file replaced or deleted ----

def test_database_replaced_by_a_restored_copy(servers):
    """An operator restores the database from a copy that carries on the
    same history (os.replace over the live file, after a checkpoint, as
    the -wal belongs to the old file). Live streams end cleanly at
    once, the clients resume, and get the copy's rows and then live
    ones."""
    srv = servers.lighttpd(heartbeat=30)
    pid = the_responder(srv)
    srv.produce(("alice", "m", "a1"), ("bob", "m", "b1"),
                (None, "all", "x1"))
    a = srv.open("alice", last_event_id=0)
    b = srv.open("bob", last_event_id=0)
    try:
        a.wait_events(2)
        b.wait_events(2)
        new = srv.db.parent / "restored.db"
        checkpoint(srv.db)
        copy_database(srv.db, new)
        operator(new, "INSERT INTO outbox (user_id, event, data) VALUES "
                      "('alice', 'm', 'only in the copy'), "
                      "(NULL, 'all', 'copy broadcast');")
        mark = srv.logs.mark()
        t0 = time.time()
        os.replace(new, srv.db)
        for c in (a, b):
            assert c.wait_end(timeout=3), c.describe()
            assert c.complete, "stream cut, not ended: " + c.describe()
        ended = max(a.end_time, b.end_time) - t0
        srv.logs.wait_for(r"database \S+app\.db was replaced or removed; "
                          r"ending streams so clients resume", mark)
        a2 = srv.open("alice", last_event_id=a.last_event_id)
        b2 = srv.open("bob", last_event_id=b.last_event_id)
        try:
            a2.wait_events(2)
            b2.wait_events(1)
            live = srv.produce(("alice", "m", "live"), ("bob", "m", "live"))
            a2.wait_events(3)
            b2.wait_events(2)
            time.sleep(0.2)
            assert events_of(a) + events_of(a2) == rows_for(srv.db, "alice")
            assert events_of(b) + events_of(b2) == rows_for(srv.db, "bob")
            assert events_of(a2)[-1][0] == live[0]
        finally:
            a2.close()
            b2.close()
    finally:
        a.close()
        b.close()
    assert the_responder(srv) == pid
    harness.report(f"database replaced by a restored copy: streams ended "
                   f"cleanly {ended * 1000:.0f} ms after os.replace; "
                   f"clients resumed with the copy's rows, then live ones")


def test_database_replaced_by_a_new_one_ids_restart(servers):
    """Replaced by a new database (made with sql/schema.sql): the resume
    point belongs to the old one, so the client gets a reset
    (unknown-id), then the new database's rows, live."""
    srv = servers.lighttpd(heartbeat=30)
    old = srv.produce(*[("alice", "m", f"old {i}") for i in range(5)])
    a = srv.open("alice", last_event_id=0)
    try:
        a.wait_events(5)
        checkpoint(srv.db)
        new = srv.db.parent / "new.db"
        harness.make_db(new)
        os.replace(new, srv.db)
        assert a.wait_end(timeout=3) and a.complete, a.describe()
    finally:
        a.close()
    a2 = srv.open("alice", last_event_id=old[-1])
    try:
        first = a2.wait_events(1)[0]
        assert first.type == "reset" and json.loads(first.data) == {
            "reason": "unknown-id", "last_event_id": old[-1],
            "newest_id": 0}
        time.sleep(0.3)                 # caught up: waiting for live rows
        live = srv.produce(("alice", "m", "new 1"), ("alice", "m", "new 2"))
        got = a2.wait_events(3, timeout=3)
        assert [int(e.id) for e in got[1:]] == live
    finally:
        a2.close()


def test_database_deleted_under_a_live_stream(servers):
    """rm app.db (its -wal and -shm stay, as rm leaves them): live
    streams end cleanly at once; the process lives on, logs the outage
    once, and serves again once the file is back (restored from a copy
    made just before); the clients resume and lose nothing."""
    srv = servers.lighttpd(heartbeat=30)
    pid = the_responder(srv)
    srv.produce(("alice", "m", "a1"), (None, "all", "x1"))
    a = srv.open("alice", last_event_id=0)
    try:
        a.wait_events(2)
        backup = srv.db.parent / "backup.db"
        checkpoint(srv.db)
        copy_database(srv.db, backup)
        mark = srv.logs.mark()
        t0 = time.time()
        os.unlink(srv.db)
        assert a.wait_end(timeout=3), a.describe()
        assert a.complete, "stream cut, not ended: " + a.describe()
        ended = a.end_time - t0
        srv.logs.wait_for(r"database \S+app\.db was replaced or removed",
                          mark)
        srv.logs.wait_for(r"warning: cannot open database \S+app\.db: .*"
                          r"retrying every", mark)
        time.sleep(1.5)                 # the loop retries meanwhile
        os.replace(backup, srv.db)
        srv.logs.wait_for(r"info: database \S+app\.db is readable again",
                          mark, timeout=3)
        outage = hub_outage_lines(srv.logs.since(mark))
        assert len(outage) == 1, outage     # once per outage
        a2 = srv.open("alice", last_event_id=a.last_event_id)
        try:
            assert a2.status == 200, a2.describe()
            a2.wait_fields(1)
            live = srv.produce(("alice", "m", "after"), (None, "all", "x2"))
            assert [int(e.id) for e in a2.wait_events(2)] == live
            assert events_of(a) + events_of(a2) == rows_for(srv.db, "alice")
        finally:
            a2.close()
    finally:
        a.close()
    assert the_responder(srv) == pid
    harness.report(f"database deleted: stream ended cleanly after "
                   f"{ended * 1000:.0f} ms, outage logged once, served "
                   f"again once restored, nothing lost; same process")


def test_requests_while_the_database_is_deleted_get_503(servers):
    srv = servers.lighttpd(heartbeat=30)
    warm = [srv.open("alice") for _ in range(8)]    # every acceptor busy
    try:
        for c in warm:
            c.wait_fields(1)
        checkpoint(srv.db)
        os.unlink(srv.db)
        for c in warm:
            assert c.wait_end(timeout=3)
    finally:
        for c in warm:
            c.close()
    answers = [srv.request("alice", last_event_id=0) for _ in range(8)]
    statuses = [(r.status, r.headers.get("retry-after")) for r in answers]
    assert all(s == 503 and ra == harness.RETRY_AFTER
               for s, ra in statuses), statuses


# ---- a read error in the middle of a stream ----

def _leaf_rowids(page):
    """First and last rowid on a table b-tree leaf page (type 13)."""
    def varint(buf, i):
        v = 0
        for k in range(9):
            b = buf[i + k]
            if k == 8:
                return (v << 8) | b, i + 9
            v = (v << 7) | (b & 0x7F)
            if b < 0x80:
                return v, i + k + 1
    assert page[0] == 13, page[0]
    n = struct.unpack(">H", page[3:5])[0]
    ptrs = [struct.unpack(">H", page[8 + 2 * i:10 + 2 * i])[0]
            for i in range(n)]
    ids = []
    for p in ptrs:
        _, j = varint(page, p)          # payload size
        rowid, _ = varint(page, j)
        ids.append(rowid)
    return min(ids), max(ids)


def test_read_error_in_the_middle_of_a_stream(servers):
    """How a read really fails: a page holding rows a slow client has
    not been sent yet is damaged on disk (its b-tree page type byte
    overwritten, as a bad sector or a stray write would), after the
    rows were checkpointed into the database file. The client stalls
    (its window full) during a 20,000-row burst, the page is damaged,
    then the client reads again: its stream, catching up from the
    outbox, meets SQLITE_CORRUPT and must end cleanly after the rows
    before the damage; the process lives on and serves the next
    request; a client resuming past the damage gets the rest."""
    srv = servers.lighttpd(heartbeat=30)
    pid = the_responder(srv)
    sw = swarm.Swarm()
    try:
        a = sw.open(srv, "alice", rcvbuf=4096)
        assert sw.wait(lambda: a.status is not None, 5)
        assert a.status == 200
        sw.pause(a)                     # the client stops reading
        n = 20000
        p = fault_producer("bigtx", srv.db, "alice", n, "--pad", 400)
        big = harness.finish_burst(p, timeout=60)[0]
        time.sleep(1.0)                 # the responder fills every buffer
        assert checkpoint(srv.db)[0] == 0
        pages = query(srv.db, "SELECT pageno FROM dbstat WHERE name = "
                      "'outbox' AND pagetype = 'leaf' ORDER BY path")
        page_size = query(srv.db, "PRAGMA page_size")[0][0]
        victim = pages[int(len(pages) * 0.9)][0]
        with open(srv.db, "r+b") as f:
            f.seek((victim - 1) * page_size)
            page = bytearray(f.read(page_size))
            lo, hi = _leaf_rowids(page)
            f.seek((victim - 1) * page_size)
            f.write(b"\x00")            # no valid b-tree page type
        assert big["first"] < lo <= hi < big["last"]
        mark = srv.logs.mark()
        sw.unpause(a)
        assert sw.wait(lambda: a.ended, 20), "stream did not end"
        assert a.complete, "stream cut, not ended"
        ids = a.ids
        assert ids, "nothing arrived before the error"
        assert ids == list(range(big["first"], ids[-1] + 1)), \
            "gap or disorder before the error"
        assert ids[-1] < lo, (
            f"rows {lo}..{hi} were framed before the damage: the buffers "
            f"took more than {ids[-1] - big['first']} rows; make the "
            f"burst larger")
        line = srv.logs.wait_for(
            r"sse-outbox\[\d+\]: warning: req=\d+ reading outbox rows: "
            r"database disk image is malformed; ending the stream so the "
            r"client resumes", mark)
        assert the_responder(srv) == pid    # the process lives on

        # The next request is served: live rows for someone else.
        b = sw.open(srv, "bob")
        assert sw.wait(lambda: b.status is not None, 5) and b.status == 200
        live = srv.produce(("bob", "m", "still serving"))
        assert sw.wait(lambda: b.ids == live, 3), b.events
        # The same resume point meets the same damage: it ends again,
        # cleanly, repeating nothing.
        a2 = sw.open(srv, "alice", last_event_id=ids[-1])
        assert sw.wait(lambda: a2.ended, 10) and a2.complete
        assert all(i > ids[-1] for i in a2.ids) and \
            (not a2.ids or a2.ids[-1] < lo)
        # Well past the damage (a few pages on), the rest arrives.
        past = hi + 100
        a3 = sw.open(srv, "alice", last_event_id=past, raw=True)
        want_last = big["last"]
        assert sw.wait(lambda: b"id: %d\n" % want_last in a3.body[-2000:],
                       20), "rows after the damage did not arrive"
        a3.parse_body()
        assert a3.ids == list(range(past + 1, want_last + 1))
    finally:
        sw.close()
    harness.report(
        f"read error (page {victim}, rows {lo}..{hi}, damaged): the stream "
        f"ended cleanly after {len(ids)} rows (last {ids[-1]}); log "
        f"'{line.group(0).split(': ', 1)[1]}'; same process served "
        f"bob and the rows after the damage")


# ---- bursts ----

BURST_ROWS = 100000
BURST_PAD = 100             # bytes of padding per row: ~150 framed bytes
BOB_ROWS = 40               # bob's rows, 50 ms apart, during the burst


def run_burst(srv, replay):
    """100,000 rows for alice in one transaction. replay=False: alice's
    streams are open (one reading, one stalled until the first has
    everything); replay=True: alice connects afterwards, resuming from
    before the burst. Meanwhile bob's stream gets a row every 50 ms.
    Returns what was measured."""
    pid = the_responder(srv)
    sw = swarm.Swarm()
    res = {"replay": replay}
    try:
        bob = sw.open(srv, "bob")
        alices = []
        if not replay:
            alices = [sw.open(srv, "alice", raw=True),
                      sw.open(srv, "alice", raw=True, rcvbuf=4096)]
        assert sw.wait(lambda: all(s.status for s in [bob] + alices), 5)
        assert all(s.status == 200 for s in [bob] + alices)
        if alices:
            sw.pause(alices[1])
        res["mem_before"] = memory_kib(pid)
        p = fault_producer("bigtx", srv.db, "alice", BURST_ROWS,
                           "--pad", BURST_PAD)
        deadline = time.monotonic() + 60
        while p.poll() is None and time.monotonic() < deadline:
            sw.poll(0.02)
        big = harness.finish_burst(p, timeout=5)[0]
        res["big"] = big
        if replay:
            time.sleep(0.5)             # the watcher is level again
            alices = [sw.open(srv, "alice", raw=True,
                              last_event_id=big["first"] - 1)]
        t0 = time.time()
        bobp = harness.start_burst(srv.db, BOB_ROWS, 0.05, "bob")
        tail = b"id: %d\n" % big["last"]
        done = {}
        peak_rss = peak_pss = 0
        next_sample = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sw.poll(0.01)
            now = time.time()
            for i, a in enumerate(alices):
                if i not in done and tail in a.body[-400:]:
                    done[i] = now - t0
                    if i == 0 and len(alices) > 1:
                        sw.unpause(alices[1])
            if now >= next_sample:
                next_sample = now + 0.05
                m = memory_kib(pid)
                peak_rss = max(peak_rss, m["VmRSS"])
                peak_pss = max(peak_pss, m["Pss"])
            if len(done) == len(alices) and bobp.poll() is not None and \
                    len(bob.events) >= BOB_ROWS:
                break
        bob_rows = harness.finish_burst(bobp, timeout=5)
        res["mem_after"] = memory_kib(pid)
        res["peak_rss"], res["peak_pss"] = peak_rss, peak_pss
        res["done"] = done
        res["bytes"] = [a.body_len for a in alices]
        for a in alices:
            a.parse_body()
        res["alice_ids"] = [a.ids for a in alices]
        res["alice_seq_ok"] = [
            all(json.loads(e[2])["seq"] == e[0] - big["first"]
                for e in a.events) for a in alices]
        res["bob_ids"] = bob.ids
        res["bob_want"] = [r["id"] for r in bob_rows]
        commits = {r["id"]: r["t_commit"] for r in bob_rows}
        res["bob_latency"] = sorted(e[3] - commits[e[0]]
                                    for e in bob.events if e[0] in commits)
        res["same_process"] = the_responder(srv) == pid
    finally:
        sw.close()
    return res


@pytest.fixture(scope="module")
def live_burst(module_servers):
    return run_burst(module_servers.lighttpd(heartbeat=30), replay=False)


@pytest.fixture(scope="module")
def replayed_burst(module_servers):
    return run_burst(module_servers.lighttpd(heartbeat=30), replay=True)


def check_burst(res):
    big = res["big"]
    want = list(range(big["first"], big["last"] + 1))
    assert len(want) == BURST_ROWS
    for i, ids in enumerate(res["alice_ids"]):
        assert i in res["done"], f"alice stream {i}: not every row came"
        assert ids == want, f"alice stream {i}: gap, duplicate or disorder"
        assert res["alice_seq_ok"][i]
    assert res["bob_ids"] == res["bob_want"]
    assert res["same_process"]
    # Memory. The framed burst is ~15 MB per stream (res["bytes"]): a
    # responder that held it, or let a stalled client's output grow,
    # would grow by that much. What it may hold: SQLite's page cache
    # (2 MB by default, per connection), one 512-row watcher read, one
    # 256-row batch and ~64 KiB of unwritten output per stream. So its
    # peak RSS must stay below 40 MB and grow by less than 8 MB.
    before = res["mem_before"]["VmHWM"]
    peak = res["mem_after"]["VmHWM"]
    assert min(res["bytes"]) > 8 * 1024 * 1024 * 1.5
    if harness.sanitized_build():
        # ASan keeps freed memory in quarantine and adds shadow memory:
        # the bound holds for the normal build (make test) only.
        return
    assert peak < 40 * 1024, res
    assert peak - before < 8 * 1024, res


def burst_report(res):
    lat = res["bob_latency"]
    kind = ("replayed (alice resumes from before it)" if res["replay"]
            else "live (one alice stream reading, one stalled until the "
                 "first had all)")
    return (
        f"burst of {BURST_ROWS} rows in one transaction, {kind}: alice "
        f"got every row, in order, after "
        f"{', '.join(f'{t:.2f}' for t in res['done'].values())} s "
        f"({res['bytes'][0] / 1e6:.1f} MB each); responder peak RSS "
        f"{res['mem_after']['VmHWM'] / 1024:.1f} MiB (before "
        f"{res['mem_before']['VmHWM'] / 1024:.1f} MiB), peak PSS "
        f"{res['peak_pss'] / 1024:.1f} MiB; bob's {len(lat)} rows "
        f"meanwhile: latency median {statistics.median(lat) * 1000:.0f} "
        f"ms, max {lat[-1] * 1000:.0f} ms")


def test_burst_live_in_order_in_bounded_memory(live_burst):
    harness.report(burst_report(live_burst))
    check_burst(live_burst)


def check_bob_latency(lat):
    """bob's rows, one every 50 ms while alice's burst goes out: tens of
    milliseconds at most on an idle machine (max 95 ms live, 6 ms
    replayed). A row held behind the burst, or behind the stalled
    reader, would typically wait seconds; the bounds leave room for a
    loaded 2-core machine."""
    assert statistics.median(lat) < 0.25, \
        f"bob's rows waited {statistics.median(lat):.2f} s (median)"
    assert lat[-1] < 2.0, f"bob's rows waited up to {lat[-1]:.2f} s"


def test_burst_replayed_in_order_in_bounded_memory(replayed_burst):
    harness.report(burst_report(replayed_burst))
    check_burst(replayed_burst)
    check_bob_latency(replayed_burst["bob_latency"])


def test_burst_live_other_users_keep_their_latency(live_burst):
    check_bob_latency(live_burst["bob_latency"])
