# SPDX-License-Identifier: BSD-2-Clause
"""Refused requests through real servers: each status, its headers, and
the responder's one log line naming the cause."""

import os
import re
import subprocess
import time

import pytest

import harness

BAD_IDS = ["-1", "", "12a", "9223372036854775808", "+5", "1 2", "0x10",
           "99999999999999999999999"]
# lighttpd drops a request header whose value is empty before it reaches
# FastCGI (the stream then starts as if no header was sent), so the empty
# Last-Event-ID header is checked through Apache, and in test_cgi.py.
HEADER_CASES = [(kind, value) for kind in ("lighttpd", "apache")
                for value in BAD_IDS if not (kind == "lighttpd" and not value)]


def refusals(srv, mark):
    return [line for line in harness.responder_lines(srv.logs.since(mark))
            if "refused" in line]


# How a whole line of these logs starts: the responder's own, or the web
# server's (Apache "[Tue Dec 01 ...", lighttpd "2026-12-01 ...", nginx
# "2026/12/01 ...").
LOG_LINE_START = re.compile(r"sse-outbox\[\d+\]: |\[|\d{4}[-/]\d\d[-/]\d\d ")


def assert_one_refusal(srv, mark, status, cause):
    """Exactly one responder line for this request, naming the cause,
    and on one line: nothing the request sent split it, or any other
    line logged meanwhile, in two."""
    srv.logs.wait_for(rf"sse-outbox\[\d+\]: \w+: req=\d+ refused "
                      rf"{status}: {cause}", mark, timeout=5)
    time.sleep(0.1)
    lines = refusals(srv, mark)
    assert len(lines) == 1, lines
    assert LOG_LINE_START.match(lines[0]), lines
    torn = [ln for ln in srv.logs.since(mark).splitlines()
            if not LOG_LINE_START.match(ln)]
    assert torn == [], torn


@pytest.fixture
def query_lighttpd(servers):
    """lighttpd from the example, in query mode (development only)."""
    return servers.lighttpd(auth="query")


@pytest.mark.parametrize("query,cause", [
    ("", "no user parameter"),
    ("user=", "empty user"),
    ("other=alice", "no user parameter"),
])
def test_401_without_a_user_query_mode(query_lighttpd, query, cause):
    srv = query_lighttpd
    mark = srv.logs.mark()
    r = srv.request(query=query)
    assert r.status == 401, r.describe()
    assert r.headers.get("content-type", "").startswith("text/plain")
    assert b"retry:" not in bytes(r.raw)
    assert_one_refusal(srv, mark, 401, cause)


def test_query_mode_warns_at_start(query_lighttpd):
    assert query_lighttpd.logs.wait_for(
        r"SSE_AUTH=query: .*development only", timeout=3)


def test_401_without_remote_user_apache(apache):
    # A location without authentication: no REMOTE_USER reaches the
    # responder, which must refuse rather than guess.
    mark = apache.logs.mark()
    r = apache.request(path=apache.noauth_path)
    assert r.status == 401, r.describe()
    assert_one_refusal(apache, mark, 401, "no REMOTE_USER")


def test_web_server_refuses_missing_credentials(server):
    mark = server.logs.mark()
    r = server.request()            # no Authorization header
    assert r.status == 401
    assert "basic" in r.headers.get("www-authenticate", "").lower()
    bad = server.request(auth=("alice", "wrong"))
    assert bad.status == 401
    time.sleep(0.2)
    assert refusals(server, mark) == []  # never reached the responder


@pytest.mark.parametrize("kind,value", HEADER_CASES)
def test_400_bad_last_event_id_header(request, kind, value):
    srv = request.getfixturevalue(kind)
    mark = srv.logs.mark()
    r = srv.request("alice", headers={"Last-Event-ID": value})
    assert r.status == 400, (value, r.describe())
    assert_one_refusal(srv, mark, 400, "bad Last-Event-ID header")


# lighttpd itself answers 400 to a URL holding %00 (url-ctrls-reject),
# so that case reaches the responder only through Apache.
BAD_QUERY_IDS = ["-1", "", "12a", "9223372036854775808", "%2B5", "%205",
                 "5%20", "1.0", "%00", "%D9%A1"]
QUERY_CASES = [(kind, value) for kind in ("lighttpd", "apache")
               for value in BAD_QUERY_IDS
               if not (kind == "lighttpd" and value == "%00")]


@pytest.mark.parametrize("kind,value", QUERY_CASES)
def test_400_bad_last_event_id_query(request, kind, value):
    srv = request.getfixturevalue(kind)
    mark = srv.logs.mark()
    r = srv.request("alice", query=f"lastEventId={value}")
    assert r.status == 400, (value, r.describe())
    assert_one_refusal(srv, mark, 400, "bad lastEventId parameter")


@pytest.mark.parametrize("value", ["0", "9223372036854775807", "007"])
def test_good_resume_points_are_accepted(server, value):
    c = server.open("alice", last_event_id=value)
    try:
        assert c.status == 200, c.describe()
        assert c.wait_fields(1)[0][0] == "retry"
    finally:
        c.close()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_405_other_methods(server, method):
    mark = server.logs.mark()
    r = server.request("alice", method=method, body=b"x=1")
    assert r.status == 405, r.describe()
    assert r.headers.get("allow") == "GET, HEAD", r.header_list
    assert_one_refusal(server, mark, 405, "method not allowed")


def test_head_gives_the_stream_headers_and_no_body(server):
    mark = server.logs.mark()
    c = server.open("alice", method="HEAD")
    try:
        assert c.status == 200
        assert c.headers.get("content-type") == \
            "text/event-stream; charset=utf-8"
        assert c.headers.get("cache-control") == "no-cache, no-transform"
        assert c.headers.get("x-accel-buffering") == "no"
        time.sleep(0.5)
        assert bytes(c.raw) == b"" and not c.extra_after_end, c.describe()
    finally:
        c.close()
    assert "stream opened" not in server.logs.since(mark)


@pytest.mark.parametrize("kind", ["lighttpd", "apache"])
@pytest.mark.parametrize("problem", ["missing", "notable"])
def test_503_when_the_database_is_unusable(servers, responder, kind,
                                           problem):
    srv = getattr(servers, kind)(db=problem)
    cause = {"missing": r"cannot open database \S*app\.db",
             "notable": r"database \S*app\.db has no outbox table"}[problem]
    pids = set()
    for attempt in range(2):
        mark = srv.logs.mark()
        r = srv.request("alice")
        assert r.status == 503, r.describe()
        harness.assert_retry_after(r.headers, r.header_list)
        assert_one_refusal(srv, mark, 503, cause)
        pids.update(srv.responders())
    # The process did not exit: it keeps answering (lighttpd would
    # respawn one that exits; the same PID shows it did not).
    if kind == "lighttpd":
        assert len(pids) == 1 and pids == set(srv.responders()), pids

    # --check reports the same problem.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SSE_DB": str(srv.db), "SSE_AUTH": "remote-user"}
    check = subprocess.run([responder, "--check"], env=env,
                           capture_output=True, timeout=10)
    assert check.returncode != 0
    assert re.search(cause, check.stderr.decode()), check.stderr

    # Once the operator fixes it, the same process serves streams (the
    # stream right after the fix is test_first_stream_after_the_fix).
    harness.make_db(srv.db)
    time.sleep(2.5)
    c = srv.open("alice")
    try:
        assert c.status == 200, c.describe()
        c.wait_fields(1)
        ids = srv.produce(("alice", "fixed", "back"))
        assert [(int(e.id), e.data) for e in c.wait_events(1)] == \
            [(ids[0], "back")]
    finally:
        c.close()
    if kind == "lighttpd":
        assert set(srv.responders()) == pids


HUB_RETRY_LINE = (r"sse-outbox\[\d+\]: warning: database \S+ has no outbox "
                  r"table")


@pytest.mark.parametrize("kind", ["lighttpd", "apache"])
def test_first_stream_after_the_fix_is_served(servers, kind):
    """A stream accepted with 200 once the database is fixed must deliver
    rows. It must not be ended at once with nothing sent: the client
    would reconnect without a resume point and miss what came between.

    The operator fixes the database as the log line says ("apply
    sql/schema.sql"), in place, while the responder's event loop is
    between two of its once-a-second retries, then a client connects.
    The outage is logged once, not once per retry.
    """
    srv = getattr(servers, kind)(db="notable")
    r = srv.request("alice")        # Apache spawns the responder now
    assert r.status == 503, r.describe()
    mark = srv.logs.mark()
    srv.logs.wait_for(HUB_RETRY_LINE, {}, timeout=5)
    time.sleep(2.5)
    pids = [m.group(1) for m in re.finditer(
        HUB_RETRY_LINE.replace(r"\[\d+\]", r"\[(\d+)\]", 1),
        srv.logs.since({}))]
    assert pids and len(pids) == len(set(pids)), pids   # once per process
    harness.make_db(srv.db)         # sqlite3 app.db < sql/schema.sql
    mark = srv.logs.mark()
    c = srv.open("alice")
    try:
        # The request opens the database itself: the fix is seen at once,
        # whatever the event loop's retry schedule.
        assert c.status == 200, (c.describe(), srv.logs.since(mark))
        c.wait_fields(1)
        ids = srv.produce(("alice", "fixed", "first"))
        got = c.wait_events(1, timeout=5)
        assert [(int(e.id), e.data) for e in got] == [(ids[0], "first")], \
            srv.logs.since(mark)
    finally:
        c.close()


@pytest.fixture
def one_stream_lighttpd(servers):
    return servers.lighttpd(max_streams=1, heartbeat=30)


def test_503_past_sse_max_streams(one_stream_lighttpd):
    srv = one_stream_lighttpd
    first = srv.open("alice")
    try:
        assert first.status == 200
        first.wait_fields(1)
        mark = srv.logs.mark()
        second = srv.request("bob")
        assert second.status == 503, second.describe()
        harness.assert_retry_after(second.headers, second.header_list)
        assert_one_refusal(srv, mark, 503, r"SSE_MAX_STREAMS \(1\) "
                                           r"streams open")
        # The first stream is untouched by the refusal.
        ids = srv.produce(("alice", "m", "still here"))
        assert [int(e.id) for e in first.wait_events(1)] == ids
    finally:
        first.close()
    # Its slot is free again once the client left.
    srv.logs.wait_for(r"user=alice stream closed: client went away",
                      timeout=5)
    again = srv.open("bob")
    try:
        assert again.status == 200, again.describe()
    finally:
        again.close()


def test_head_at_sse_max_streams_matches_get(one_stream_lighttpd):
    """HEAD gets the same status and headers as GET (interface.md)."""
    srv = one_stream_lighttpd
    first = srv.open("alice")
    try:
        first.wait_fields(1)
        get = srv.request("bob")
        head = srv.request("bob", method="HEAD")
        assert get.status == 503
        assert head.status == get.status, (
            f"GET is refused with {get.status} at SSE_MAX_STREAMS but HEAD "
            f"answers {head.status}")
        harness.assert_retry_after(head.headers, head.header_list)
    finally:
        first.close()
