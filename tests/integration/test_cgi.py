# SPDX-License-Identifier: BSD-2-Clause
"""Plain CGI: the binary run as a CGI process (stdout a pipe), checked
byte for byte, and the same binary under lighttpd's mod_cgi."""

import itertools
import os
import select
import signal
import subprocess
import time

import pytest

import harness

STREAM_HEAD = (b"Status: 200 OK\r\n"
               b"Content-Type: text/event-stream; charset=utf-8\r\n"
               b"Cache-Control: no-cache, no-transform\r\n"
               b"X-Accel-Buffering: no\r\n"
               b"Incremental: ?1\r\n"
               b"\r\n")
# mod_cgid holds a small first body; a 2 KB comment gets it streaming.
PADDING = b":" + b" " * 2048 + b"\n"

_n = itertools.count(1)


@pytest.fixture
def cgi_dir(base_dir):
    d = harness.make_dir(base_dir / f"cgi-{next(_n)}")
    harness.make_db(d / "app.db")
    return d


def cgi_env(db, **extra):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "integration-test",
        "SCRIPT_NAME": "/events",
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": "user=alice",
        "SSE_DB": str(db),
        "SSE_AUTH": "query",
        "SSE_HEARTBEAT": "30",
        "SSE_RETRY": "2500",
        "SSE_LOG_LEVEL": "debug",
    }
    env.update({k: v for k, v in extra.items() if v is not None})
    for k in [k for k, v in extra.items() if v is None]:
        env.pop(k, None)
    return env


def start_cgi(responder, env):
    return subprocess.Popen([responder], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_exact(stream, n, timeout=5.0):
    fd = stream.fileno()
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def nothing_more(stream, wait=0.5):
    ready, _, _ = select.select([stream.fileno()], [], [], wait)
    return not ready


def run_to_end(responder, env, timeout=10):
    p = subprocess.run([responder], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode()


def stop(p):
    harness.terminate(p.pid, popen=p, timeout=5)


def test_cgi_stream_bytes(responder, cgi_dir):
    db = cgi_dir / "app.db"
    p = start_cgi(responder, cgi_env(db))
    try:
        head = read_exact(p.stdout, len(STREAM_HEAD + PADDING) + 13)
        assert head == STREAM_HEAD + PADDING + b"retry: 2500\n\n"
        assert nothing_more(p.stdout, 0.2)
        ids = harness.produce_ids(
            db,
            ("alice", "notice", "a\r\nb\rc\nd"),
            ("bob", "notice", "not for alice"),
            (None, None, "to everyone"),
            ("alice", "x", "a\n"),
        )
        want = (f"id: {ids[0]}\nevent: notice\n"
                f"data: a\ndata: b\ndata: c\ndata: d\n\n"
                f"id: {ids[2]}\ndata: to everyone\n\n"
                f"id: {ids[3]}\nevent: x\ndata: a\ndata: \n\n").encode()
        assert read_exact(p.stdout, len(want)) == want
        assert nothing_more(p.stdout)
        # SIGTERM (what lighttpd's mod_cgi sends) ends it cleanly.
        p.send_signal(signal.SIGTERM)
        assert p.wait(5) == 0
        assert p.stdout.read() == b""
        err = p.stderr.read().decode()
        assert "SSE_AUTH=query" in err      # the development-mode warning
        assert "stream opened" in err
    finally:
        stop(p)


def test_cgi_announce_start_bytes(responder, cgi_dir):
    """SSE_ANNOUNCE_START=1: a client without a resume point is told where
    it starts (an id-only block: no event fires, the browser's last event
    id is set), so a reconnect before the first row loses nothing."""
    db = cgi_dir / "app.db"
    harness.produce_ids(db, ("alice", "m", "before"))
    p = start_cgi(responder, cgi_env(db, SSE_ANNOUNCE_START="1"))
    try:
        head = read_exact(p.stdout, len(STREAM_HEAD + PADDING) + 13)
        assert head == STREAM_HEAD + PADDING + b"retry: 2500\n\n"
        assert read_exact(p.stdout, len(b"id: 1\n\n")) == b"id: 1\n\n"
        assert nothing_more(p.stdout, 0.2)
    finally:
        stop(p)


def test_cgi_heartbeat_bytes(responder, cgi_dir):
    p = start_cgi(responder, cgi_env(cgi_dir / "app.db", SSE_HEARTBEAT="1"))
    try:
        head = read_exact(p.stdout, len(STREAM_HEAD + PADDING) + 13)
        assert head.endswith(b"retry: 2500\n\n")
        t0 = time.monotonic()
        assert read_exact(p.stdout, 2, timeout=3) == b":\n"
        print(f"cgi: first heartbeat after {time.monotonic() - t0:.2f} s")
    finally:
        stop(p)


def test_cgi_resume(responder, cgi_dir):
    db = cgi_dir / "app.db"
    ids = harness.produce_ids(db, ("alice", "m", "one"), ("alice", "m", "two"),
                              ("alice", "m", "three"))
    p = start_cgi(responder, cgi_env(db, HTTP_LAST_EVENT_ID=str(ids[0])))
    try:
        read_exact(p.stdout, len(STREAM_HEAD + PADDING) + 13)
        want = (f"id: {ids[1]}\nevent: m\ndata: two\n\n"
                f"id: {ids[2]}\nevent: m\ndata: three\n\n").encode()
        assert read_exact(p.stdout, len(want)) == want
        assert nothing_more(p.stdout)
    finally:
        stop(p)


def test_cgi_exits_when_the_server_closes_stdout(responder, cgi_dir):
    """The web server closing the pipe is the client going away: the
    process must end promptly, even while silent (heartbeat 30 s)."""
    p = start_cgi(responder, cgi_env(cgi_dir / "app.db"))
    try:
        read_exact(p.stdout, len(STREAM_HEAD))
        p.stdout.close()
        assert harness.wait_until(lambda: p.poll() is not None, 3), \
            "CGI process still running 3 s after its stdout was closed"
        err = p.stderr.read().decode()
        assert "stream closed: client went away" in err, err
    finally:
        stop(p)


@pytest.mark.parametrize("env,status,header,cause", [
    ({"REQUEST_METHOD": "POST"}, b"405 Method Not Allowed",
     b"Allow: GET, HEAD", "method not allowed"),
    ({"QUERY_STRING": ""}, b"401 Unauthorized", None, "no user parameter"),
    ({"QUERY_STRING": "user="}, b"401 Unauthorized", None, "empty user"),
    ({"HTTP_LAST_EVENT_ID": ""}, b"400 Bad Request", None,
     "bad Last-Event-ID header"),
    ({"HTTP_LAST_EVENT_ID": "9223372036854775808"}, b"400 Bad Request", None,
     "bad Last-Event-ID header"),
    ({"QUERY_STRING": "user=alice&lastEventId=-1"}, b"400 Bad Request",
     None, "bad lastEventId parameter"),
    ({"SSE_DB": "/nonexistent/app.db"}, b"503 Service Unavailable",
     b"Retry-After: 5", "cannot open database /nonexistent/app.db"),
])
def test_cgi_refusals(responder, cgi_dir, env, status, header, cause):
    rc, out, err = run_to_end(responder, cgi_env(cgi_dir / "app.db", **env))
    assert rc == 0, err
    head, sep, body = out.partition(b"\r\n\r\n")
    assert sep, out
    lines = head.split(b"\r\n")
    assert lines[0] == b"Status: " + status, out
    assert b"Content-Type: text/plain; charset=utf-8" in lines
    if header:
        assert header in lines, out
    assert b"retry:" not in body
    refused = [line for line in err.splitlines() if "refused" in line]
    assert len(refused) == 1 and cause in refused[0], err


def test_cgi_head(responder, cgi_dir):
    rc, out, err = run_to_end(responder, cgi_env(cgi_dir / "app.db",
                                                 REQUEST_METHOD="HEAD"))
    assert rc == 0, err
    assert out == STREAM_HEAD


def test_cgi_no_table(responder, cgi_dir):
    db = cgi_dir / "other.db"
    harness.make_db(db, schema=False)
    rc, out, err = run_to_end(responder, cgi_env(db))
    assert out.startswith(b"Status: 503 Service Unavailable\r\n"), out
    assert b"\r\nRetry-After: 5\r\n" in out, out
    assert "has no outbox table" in err, err


def test_lighttpd_mod_cgi(servers, responder):
    """The binary as a CGI program under lighttpd's mod_cgi: streams, and
    ends when lighttpd signals (SIGTERM) that the client left."""
    extra = f"""
# Test only: the same binary as a plain CGI program.
server.modules += ( "mod_cgi", "mod_alias", "mod_setenv" )
alias.url += ( "/cgi-events" => "{responder}" )
$HTTP["url"] =^ "/cgi-events" {{
	cgi.assign = ( "" => "" )
	# Tell the program at once when the client leaves (SIGTERM), not
	# only after a write to the client fails.
	cgi.limits = ( "tcp-fin-propagate" => "SIGTERM" )
	server.stream-response-body = 2
	setenv.add-environment = (
		"SSE_DB" => var.sse_db,
		"SSE_AUTH" => "query",
		"SSE_HEARTBEAT" => "30",
		"SSE_LOG_LEVEL" => "debug",
	)
}}
"""
    srv = servers.lighttpd(extra=extra)
    fastcgi = set(srv.responders())
    c = srv.open(path="/cgi-events", query="user=alice")
    try:
        assert c.status == 200, c.describe()
        assert c.headers.get("content-type") == \
            "text/event-stream; charset=utf-8"
        fields = c.wait_fields(1)
        assert fields == [("retry", "3000")]
        assert [len(m.text) for m in c.comments] == [2048]   # the padding
        cgi = set(srv.responders()) - fastcgi
        assert len(cgi) == 1, (cgi, fastcgi)
        ids = srv.produce(("alice", "m", "via cgi"), ("bob", "m", "no"))
        assert [(int(e.id), e.data) for e in c.wait_events(1)] == \
            [(ids[0], "via cgi")]
        assert c.no_more_events(1)
    finally:
        c.close()
    pid = cgi.pop()
    assert harness.wait_until(lambda: not harness.alive(pid), 5), \
        f"CGI responder {pid} still running after the client left"
    assert pid not in srv.responders()
