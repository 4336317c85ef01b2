"""How streams end: a client that vanishes, SSE_MAX_STREAM, SIGTERM."""

import os
import signal
import time

import pytest

import harness


def test_killed_client_frees_the_only_apache_process(servers):
    """mod_fcgid with FcgidMaxProcessesPerClass 1: one stream holds the
    only responder process. A client killed mid-stream must free it (the
    1 s heartbeat makes Apache's write fail, Apache closes the FastCGI
    connection), so the next stream is served and gets its rows."""
    srv = servers.apache(max_processes=1, heartbeat=1)
    mark = srv.logs.mark()
    first = srv.open("alice")
    assert first.status == 200, first.describe()
    first.wait_fields(1)
    assert len(srv.responders()) == 1
    first.kill()                    # TCP reset, no goodbye
    t0 = time.monotonic()
    second = srv.open("bob", timeout=30)
    try:
        assert second.status == 200, second.describe()
        second.wait_fields(1, timeout=10)
        served = time.monotonic() - t0
        ids = srv.produce(("bob", "m", "after the kill"))
        got = second.wait_events(1, timeout=10)
        assert [(int(e.id), e.data) for e in got] == \
            [(ids[0], "after the kill")]
        print(f"apache: next stream served {served:.2f} s after the kill")
        srv.logs.wait_for(r"user=alice stream closed: client went away",
                          mark, timeout=5)
        assert len(srv.responders()) == 1
    finally:
        second.close()


def test_killed_client_is_noticed_while_silent_lighttpd(servers):
    """lighttpd with tcp-fin-propagate: the responder learns at once that
    a silent stream's client is gone (heartbeat 30 s could not tell it),
    and with SSE_MAX_STREAMS=1 the freed slot serves the next client."""
    srv = servers.lighttpd(max_streams=1, heartbeat=30)
    mark = srv.logs.mark()
    first = srv.open("alice")
    assert first.status == 200
    first.wait_fields(1)
    first.kill()
    t0 = time.monotonic()
    srv.logs.wait_for(r"sse-outbox\[\d+\]: debug: req=\d+ user=alice stream "
                      r"closed: client went away", mark, timeout=5)
    print(f"lighttpd: gone client noticed after "
          f"{time.monotonic() - t0:.2f} s")
    second = srv.open("bob")
    try:
        assert second.status == 200, second.describe()
        second.wait_fields(1)
        ids = srv.produce(("bob", "m", "next"))
        assert [int(e.id) for e in second.wait_events(1)] == ids
    finally:
        second.close()


@pytest.mark.parametrize("kind", ["lighttpd", "apache"])
def test_stream_ends_cleanly_at_sse_max_stream(servers, kind):
    srv = getattr(servers, kind)(max_stream=3, heartbeat=1)
    user = "frank"
    mark = srv.logs.mark()
    c = srv.open(user)
    try:
        assert c.status == 200
        c.wait_fields(1)
        before = srv.produce((user, "m", "before the end"))
        assert [int(e.id) for e in c.wait_events(1)] == before
        assert c.wait_end(timeout=7), c.describe()
        lasted = c.end_time - c.headers_at
        print(f"{kind}: stream lasted {lasted:.2f} s (SSE_MAX_STREAM=3)")
        # A clean end: the response is complete (last chunk), not cut.
        assert c.complete, c.describe()
        assert not c.extra_after_end
        # Up to 10 % early, and the responder checks deadlines each second.
        assert 2.6 <= lasted <= 5.0, lasted
        srv.logs.wait_for(r"ending stream: SSE_MAX_STREAM reached", mark)
        assert len(c.events) == 1
        resume = c.last_event_id
        assert resume == str(before[0])
    finally:
        c.close()

    # Rows committed while the client waits to reconnect.
    gap = srv.produce((user, "m", "gap 1"), (None, "all", "gap broadcast"),
                      ("grace", "m", "not frank's"), (user, "m", "gap 2"))
    c2 = srv.open(user, last_event_id=resume)
    try:
        assert c2.status == 200
        want = [(gap[0], "gap 1"), (gap[1], "gap broadcast"),
                (gap[3], "gap 2")]
        assert [(int(e.id), e.data) for e in c2.wait_events(3)] == want
        live = srv.produce((user, "m", "live"))
        want.append((live[0], "live"))
        assert [(int(e.id), e.data) for e in c2.wait_events(4)] == want
        time.sleep(0.5)
        assert [(int(e.id), e.data) for e in c2.events] == want
    finally:
        c2.close()


def test_sigterm_ends_lighttpd_streams_cleanly(servers):
    srv = servers.lighttpd(heartbeat=30)
    streams = [srv.open("alice"), srv.open("bob")]
    try:
        for c in streams:
            assert c.status == 200
            c.wait_fields(1)
        ids = srv.produce(("alice", "m", "one"))
        assert [int(e.id) for e in streams[0].wait_events(1)] == ids
        pids = srv.responders()
        assert len(pids) == 1, pids
        pid = pids[0]
        mark = srv.logs.mark()
        t0 = time.time()
        os.kill(pid, signal.SIGTERM)
        for c in streams:
            assert c.wait_end(timeout=2.5), c.describe()
            took = c.end_time - t0
            print(f"lighttpd: stream ended {took:.2f} s after SIGTERM")
            assert took <= 2.0, took
            assert c.complete, ("response cut, not ended: "
                                + c.describe())
        srv.logs.wait_for(r"sse-outbox\[%d\]: info: shut down cleanly" % pid,
                          mark, timeout=3)
        assert harness.wait_until(lambda: not harness.alive(pid), 3), \
            f"responder {pid} still running after SIGTERM"
        # lighttpd starts a new responder; service goes on. (A request
        # that arrives before lighttpd has noticed the exit is queued on
        # the old socket and gets lighttpd's own 500, or its 503 while it
        # holds the backend disabled for a second: retry past that.)
        deadline = time.monotonic() + 10
        while True:
            again = srv.open("alice", timeout=15)
            streams.append(again)
            if again.status == 200 or time.monotonic() > deadline:
                break
            assert again.status in (500, 503), again.describe()
            again.close()
            time.sleep(0.2)
        assert again.status == 200, again.describe()
        again.wait_fields(1)
        ids = srv.produce(("alice", "m", "after restart"))
        assert [int(e.id) for e in again.wait_events(1)] == ids
        assert pid not in srv.responders()
    finally:
        for c in streams:
            c.close()

