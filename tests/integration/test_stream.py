# SPDX-License-Identifier: BSD-2-Clause
"""Streams through real servers: framing, recipients, resume, heartbeats.

Each test runs against lighttpd (mod_fastcgi, bin-path, max-procs 1) and
Apache (mod_fcgid), both as configured by the repository's examples,
with Basic authentication giving REMOTE_USER (SSE_AUTH=remote-user).
"""

import re
import time

import pytest

import harness

SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    "x-accel-buffering": "no",
}


def triples(events):
    return [(int(e.id), e.type, e.data) for e in events]


def assert_stream_headers(c):
    assert c.status == 200, c.describe()
    for name, value in SSE_HEADERS.items():
        assert c.headers.get(name) == value, (name, c.header_list)


def test_exact_event_sequence(server):
    user = "alice"
    c = server.open(user)
    try:
        assert_stream_headers(c)
        # The retry: field is flushed with the headers, before any event
        # exists, so a browser's open event fires at once.
        assert c.wait_fields(1, timeout=3)[0] == ("retry", "1500")
        assert c.retry == 1500
        assert c.events == []

        rows = [
            (user, "notice", "a\r\nb\rc\nd"),
            (user, None, '{"text":"hi"}'),
            ("bob", "notice", "for bob only"),
            (None, "broadcast", "to every stream"),
            (user, "", "empty event name"),
            (user, "x", "a\n"),
            (user, "x", ""),
            (user, "x", "\n\nid: 999\nevent: forged\nretry: 1\ndata: evil"),
            (user, "bad\r\nna\nme", "CR LF in the name"),
            (user, "unicode", "h\u00e9llo \u2713 \U0001F600"),
        ]
        ids = server.produce(*rows)
        expected = [
            (ids[0], "notice", "a\nb\nc\nd"),
            (ids[1], "message", '{"text":"hi"}'),
            (ids[3], "broadcast", "to every stream"),
            (ids[4], "message", "empty event name"),
            (ids[5], "x", "a\n"),
            (ids[6], "x", ""),
            (ids[7], "x", "\n\nid: 999\nevent: forged\nretry: 1\ndata: evil"),
            (ids[8], "badname", "CR LF in the name"),
            (ids[9], "unicode", "h\u00e9llo \u2713 \U0001F600"),
        ]
        got = c.wait_events(len(expected), timeout=5)
        assert triples(got) == expected
        assert all(e.has_id for e in got), "every event carries its id"
        assert c.no_more_events(len(expected), settle=0.5), c.describe()
        # The forged lines stayed data: one retry field in the stream.
        assert [f for f in c.fields if f[0] == "retry"] == [("retry", "1500")]
        assert c.retry == 1500

        raw = bytes(c.raw)
        assert (f"id: {ids[0]}\nevent: notice\n"
                f"data: a\ndata: b\ndata: c\ndata: d\n\n").encode() in raw
        # NULL event: no event: line at all.
        assert f'id: {ids[1]}\ndata: {{"text":"hi"}}\n\n'.encode() in raw
        assert f"id: {ids[5]}\nevent: x\ndata: a\ndata: \n\n".encode() in raw
        assert f"id: {ids[6]}\nevent: x\ndata: \n\n".encode() in raw
        assert raw.startswith(b"retry: 1500\n\n"), raw[:80]
        server.logs.wait_for(rf"row {ids[8]}: CR, LF or NUL dropped from "
                             rf"its event name")
    finally:
        c.close()


def test_two_users_see_only_their_rows(server):
    mark = server.logs.mark()
    alice = server.open("alice")
    bob = server.open("bob")
    try:
        assert_stream_headers(alice)
        assert_stream_headers(bob)
        alice.wait_fields(1)
        bob.wait_fields(1)
        ids = server.produce(
            ("alice", "m", "a1"),
            ("bob", "m", "b1"),
            (None, "all", "all1"),
            ("carol", "m", "c1"),
            ("Alice", "m", "other key (case)"),
            ("alice ", "m", "other key (space)"),
            ("alice", "m", "a2"),
            ("bob", "m", "b2"),
            (None, "all", "all2"),
        )
        want_alice = [(ids[i], t, d) for i, t, d in
                      [(0, "m", "a1"), (2, "all", "all1"), (6, "m", "a2"),
                       (8, "all", "all2")]]
        want_bob = [(ids[i], t, d) for i, t, d in
                    [(1, "m", "b1"), (2, "all", "all1"), (7, "m", "b2"),
                     (8, "all", "all2")]]
        assert triples(alice.wait_events(4)) == want_alice
        assert triples(bob.wait_events(4)) == want_bob
        time.sleep(0.5)
        assert triples(alice.events) == want_alice
        assert triples(bob.events) == want_bob

        if server.kind == "lighttpd":
            # max-procs 1: both streams are served by the one process.
            pids = server.responders()
            assert len(pids) == 1, pids
            log = server.logs.since(mark)
            opened = {}
            for user in ("alice", "bob"):
                m = re.findall(rf"sse-outbox\[(\d+)\]: debug: req=\d+ "
                               rf"user={user} stream opened", log)
                assert len(m) == 1, (user, log)
                opened[user] = int(m[0])
            assert opened["alice"] == opened["bob"] == pids[0], (opened, pids)
    finally:
        alice.close()
        bob.close()


@pytest.mark.parametrize("how", ["header", "query", "leading-zeros",
                                 "header-wins", "own-row"])
def test_resume_delivers_exactly_the_missed_rows(server, how):
    user = "carol"
    ids = server.produce(
        (user, "r", "r1"),
        (user, "r", "r2"),
        ("dave", "r", "not carol's"),
        (None, "r", "broadcast"),
        (user, "r", "r5"),
        (user, "r", "r6"),
    )
    want = [(ids[3], "r", "broadcast"), (ids[4], "r", "r5"),
            (ids[5], "r", "r6")]
    if how == "header":
        c = server.open(user, last_event_id=str(ids[2]))
    elif how == "query":
        c = server.open(user, query=f"lastEventId={ids[2]}")
    elif how == "leading-zeros":
        c = server.open(user, last_event_id=f"000{ids[2]}")
    elif how == "own-row":
        # The resume point is the user's own last row (the usual case: the
        # browser sends the id of the last event it got). That row was
        # delivered; it must not come again.
        c = server.open(user, last_event_id=str(ids[1]))
    elif how == "header-wins":
        # The header names the resume point; the query is only a fallback.
        c = server.open(user, last_event_id=str(ids[3]),
                        query=f"lastEventId={ids[0]}")
        want = want[1:]
    try:
        assert_stream_headers(c)
        assert triples(c.wait_events(len(want))) == want
        live = server.produce((user, "r", "live"))
        want.append((live[0], "r", "live"))
        assert triples(c.wait_events(len(want))) == want
        assert c.no_more_events(len(want)), c.describe()
    finally:
        c.close()


def test_rows_before_connecting_are_not_sent(server):
    user = "dave"
    server.produce((user, "old", "o1"), (None, "old", "o2"),
                   (user, "old", "o3"))
    c = server.open(user)
    try:
        assert_stream_headers(c)
        c.wait_fields(1)
        new = server.produce((user, "new", "n1"))
        assert triples(c.wait_events(1)) == [(new[0], "new", "n1")]
        assert c.no_more_events(1), c.describe()
    finally:
        c.close()


def test_heartbeat_on_idle_stream(server):
    # The shared servers run with SSE_HEARTBEAT=1.
    c = server.open("erin")
    try:
        assert_stream_headers(c)
        comments = c.wait_comments(3, timeout=6)
        assert c.events == []
        gaps = [round(b.time - a.time, 2)
                for a, b in zip(comments, comments[1:])]
        print(f"{server.kind}: heartbeat gaps {gaps} s")
        # One a second: neither a burst of them nor one skipped (room for
        # a loaded machine on the late side).
        assert all(0.5 <= g <= 3.0 for g in gaps), gaps
        # A heartbeat is a bare comment line.
        assert b"\n:\n" in bytes(c.raw), bytes(c.raw)[:200]
    finally:
        c.close()


def test_heartbeats_of_many_streams_share_the_process_beat(servers):
    """One process, 12 streams opened 0.1 s apart, SSE_HEARTBEAT=4:
    each heartbeat waits for the process's beat (every 0.5 s, an eighth
    of the interval), so they arrive in a few groups, not one by one
    (that costs a wake-up each, here and in the web server); none is
    early, none more than a beat late."""
    srv = servers.lighttpd(heartbeat=4)
    users = harness.CHAOS_USERS[:12]
    streams = []
    try:
        for u in users:
            c = srv.open(u)
            c.wait_fields(1)
            streams.append(c)
            time.sleep(0.1)
        for c in streams:
            c.wait_comments(1, timeout=10)
        firsts = sorted(c.comments[0].time for c in streams)
        delays = [c.comments[0].time - c.headers_at for c in streams]
        groups = 1 + sum(1 for a, b in zip(firsts, firsts[1:]) if b - a > 0.1)
        print(f"first heartbeats {min(delays):.2f}..{max(delays):.2f} s "
              f"after the headers, in {groups} groups")
        # Opened over about 1.5 s: a group for each beat of 0.5 s in
        # that span (one by one, they were 11 or 12).
        span = streams[-1].headers_at - streams[0].headers_at
        assert groups <= int(span / 0.5) + 2, \
            (span, [round(t - firsts[0], 3) for t in firsts])
        assert min(delays) >= 4 - 0.05, delays
        assert max(delays) <= 4 + 0.5 + 0.5, delays
    finally:
        for c in streams:
            c.close()


def test_idle_stream_with_a_deadline_sleeps(servers):
    """mod_fcgid as in the example config: SSE_MAX_STREAM=3000, one
    process per stream. Idle between heartbeats (15 s), its process
    wakes for its once-a-second beat only, not to look at a deadline
    50 minutes away (it looked every 50 ms: 20 wake-ups a second in
    every process)."""
    srv = servers.apache(heartbeat=15, max_stream=3000, log_level="info")
    c = srv.open("ivan")
    try:
        assert c.status == 200, c.describe()
        c.wait_fields(1)
        pid, = srv.responders()
        time.sleep(1.0)     # past the open and its first rest
        _, before = harness.sched_stats([pid])
        time.sleep(3.0)
        woke = harness.sched_stats([pid])[1] - before
        print(f"mod_fcgid, SSE_MAX_STREAM=3000: {woke} wake-ups in 3 s")
        assert woke <= 10, woke
    finally:
        c.close()


def test_no_heartbeat_while_events_flow(server):
    user = "erin"
    c = server.open(user)
    try:
        c.wait_fields(1)
        harness.finish_burst(harness.start_burst(server.db, 10, 0.25, user))
        got = c.wait_events(10, timeout=5)
        first, last = got[0].time, got[-1].time
        during = [m for m in c.comments if first <= m.time <= last]
        assert during == [], (
            f"heartbeat sent although events came every 0.25 s "
            f"(SSE_HEARTBEAT=1): {during}")
    finally:
        c.close()


def test_stalled_reader_does_not_delay_others(lighttpd):
    """One responder process serves both streams (lighttpd, max-procs 1,
    stream-response-body 2 pushes back). A client that stops reading
    must not hold up another client's events, and once it reads again
    it gets every row, in order, exactly once."""
    rows, size = 120, 64 * 1024
    slow = lighttpd.open("alice", rcvbuf=4096)
    fast = lighttpd.open("bob")
    try:
        slow.wait_fields(1)
        fast.wait_fields(1)
        slow.paused = True
        t0 = time.monotonic()
        harness.finish_burst(harness.start_burst(lighttpd.db, rows, 0, None,
                                                 event="big", size=size))
        got = fast.wait_events(rows, timeout=30)
        took = time.monotonic() - t0
        held = len(slow.events)
        print(f"lighttpd: {rows} x {size // 1024} KB rows reached the "
              f"reading client in {took:.2f} s; the stalled one had {held}")
        # About 0.5 s here: a reader held up behind the stalled one would
        # wait for the stall (the 30 s timeout above) or for the write
        # timeouts of its bytes. 5 s leaves room for a loaded machine.
        assert took < 5.0, took
        assert [int(e.id) for e in got] == sorted(int(e.id) for e in got)
        ids = [int(e.id) for e in got]
        # It really stalled: megabytes stayed unread behind it.
        assert held < rows // 2, held
        slow.paused = False
        late = slow.wait_events(rows, timeout=30)
        assert [int(e.id) for e in late] == ids
        assert all(len(e.data) > size for e in late)
        assert slow.no_more_events(rows, settle=0.5)
    finally:
        slow.close()
        fast.close()
