# SPDX-License-Identifier: BSD-2-Clause
"""Every way of serving sse-outbox that the example files show, started
for real from those files (ports and paths templated), held to the same
checks:

* one_by_one: rows committed 300 ms apart arrive 300 ms apart, each
  within milliseconds of its commit (nothing holds them);
* idle_heartbeats: with every silence limit on the path set to 3 s and
  SSE_HEARTBEAT=1, a stream idle for 6 s stays open and still delivers;
* silence_limit_is_real: the same limits with SSE_HEARTBEAT=30 do end a
  silent stream (so the check above proves the heartbeat, not a lax
  server);
* auth_and_resume_point: the server's own Basic authentication decides
  the user (REMOTE_USER), and Last-Event-ID reaches the responder;
* max_stream_resume: SSE_MAX_STREAM ends the stream cleanly (the body is
  complete, nothing appended) before any server-side kill timer, and a
  client resuming with Last-Event-ID gets exactly what it missed;
* shutdown: the signal a server (or the service manager of a --listen
  responder) sends ends streams promptly and the responder exits by
  itself, cleanly.

The paths run in parallel threads (each check on its own servers), so
the whole matrix takes well under a minute. Every check but shutdown
ends its responders before stopping its server (teardown): Apache's
own stop does not interrupt a worker waiting on a silent stream and
takes up to 9 s (its SIGKILL) with one open.
"""

import os
import signal
import time

import pytest

import conftest
import harness

SILENCE = 3             # every silence limit on the path, seconds
IDLE = 6.0              # how long the idle stream stays silent

# path name -> (server kind, options, HTTP/2 client)
PATHS = {
    "apache-fcgid": ("apache", {"mode": "fcgid"}, False),
    "apache-proxy-tcp": ("apache", {"mode": "proxy-tcp"}, False),
    "apache-proxy-unix": ("apache", {"mode": "proxy-unix"}, False),
    "apache-cgi": ("apache", {"mode": "cgi"}, False),
    "apache-h2c": ("apache", {"mode": "fcgid", "http2": True}, True),
    "lighttpd-fastcgi-spawn": ("lighttpd", {"mode": "fastcgi-spawn"}, False),
    "lighttpd-fastcgi-socket": ("lighttpd", {"mode": "fastcgi-socket"},
                                False),
    "lighttpd-cgi": ("lighttpd", {"mode": "cgi"}, False),
    "nginx": ("nginx", {}, False),
}

CHECKS = ("one_by_one", "idle_heartbeats", "silence_limit_is_real",
          "auth_and_resume_point", "max_stream_resume", "shutdown")

# The mod_fcgid paths also show what FcgidBusyTimeout does.
FCGID_PATHS = [p for p, (_, o, _) in PATHS.items()
               if p.startswith("apache") and o.get("mode") == "fcgid"]


class Path:
    """One path under test: starts its server with the short silence
    limits when asked, opens streams with the right client."""

    def __init__(self, factory, name):
        self.factory = factory
        self.name = name
        self.kind, self.opts, self.h2 = PATHS[name]
        self.notes = []
        self.servers = []

    def start(self, short_limits=False, heartbeat=1, **opts):
        opts = {**self.opts, **opts, "heartbeat": heartbeat}
        if short_limits:
            if self.kind == "apache":
                opts.update(silence_timeout=SILENCE, timeout=SILENCE)
            elif self.kind == "lighttpd":
                opts["extra"] = opts.get("extra", "") + \
                    f"\nserver.max-write-idle = {SILENCE}\n"
            else:
                opts["read_timeout"] = f"{SILENCE}s"
                opts["extra"] = opts.get("extra", "") + \
                    f"\tsend_timeout {SILENCE}s;\n"
        srv = getattr(self.factory, self.kind)(**opts)
        self.servers.append(srv)
        return srv

    def open(self, srv, user, **kw):
        c = srv.open_h2(user, **kw) if self.h2 else srv.open(user, **kw)
        if self.h2:
            assert c.http_version == "HTTP/2", c.http_version
        return c

    def note(self, text):
        self.notes.append(text)


def events_of(c):
    return [(int(e.id), e.data) for e in c.events]


def wait_gone(pids, timeout):
    return harness.wait_until(lambda: not any(harness.alive(p)
                                              for p in pids), timeout)


# ---- the checks ----

def check_one_by_one(p):
    srv = p.start(heartbeat=30)
    c = p.open(srv, "alice")
    try:
        assert c.status == 200, c.describe()
        assert c.headers.get("content-type") == \
            "text/event-stream; charset=utf-8"
        c.wait_fields(1)
        rows = harness.finish_burst(harness.start_burst(srv.db, 5, 0.3,
                                                        "alice"))
        got = c.wait_events(5, timeout=5)
        assert [int(e.id) for e in got] == [r["id"] for r in rows]
        lat = sorted(e.time - r["t_commit"] for e, r in zip(got, rows))
        gaps = [b.time - a.time for a, b in zip(got, got[1:])]
        p.note("latency ms " + " ".join(f"{x * 1000:.1f}" for x in lat) +
               "; gaps ms " + " ".join(f"{x * 1000:.0f}" for x in gaps))
        # Each event arrives on its own: before the row after next is
        # committed (a buffering server would hold them all to the end),
        # typically within milliseconds. The margins absorb a loaded
        # test machine, not buffering.
        for e, later in zip(got, rows[2:]):
            assert e.time < later["t_commit"], (lat, gaps)
        assert lat[2] < 0.1, lat
        assert got[-1].time - got[0].time > 0.6, gaps
        assert c.no_more_events(5, settle=0.3)
    finally:
        c.close()
        srv.teardown()


def check_idle_heartbeats(p):
    srv = p.start(short_limits=True, heartbeat=1)
    c = p.open(srv, "bob")
    try:
        assert c.status == 200, c.describe()
        c.wait_fields(1)
        t0 = time.monotonic()
        assert not c.wait_end(IDLE), \
            f"stream ended after {time.monotonic() - t0:.1f} s idle: " + \
            c.describe()
        beats = len(c.comments) - (1 if p.opts.get("mode") == "cgi" else 0)
        p.note(f"{beats} heartbeats in {IDLE:.0f} s idle "
               f"(silence limit {SILENCE} s)")
        assert beats >= IDLE - 2, beats
        ids = srv.produce(("bob", "m", "after the silence"))
        got = c.wait_events(1, timeout=3)
        assert [(int(e.id), e.data) for e in got] == \
            [(ids[0], "after the silence")]
        assert not c.ended, c.describe()
    finally:
        c.close()
        srv.teardown()


def check_silence_limit_is_real(p):
    srv = p.start(short_limits=True, heartbeat=30)
    c = p.open(srv, "bob")
    try:
        assert c.status == 200, c.describe()
        c.wait_fields(1)
        t0 = time.monotonic()
        assert c.wait_end(IDLE + 3), \
            f"{SILENCE} s silence limit not enforced: " + c.describe()
        took = time.monotonic() - t0
        p.note(f"silent stream cut by the server after {took:.1f} s")
        assert SILENCE - 0.5 <= took <= IDLE + 3, took
    finally:
        c.close()
        srv.teardown()


def check_auth_and_resume_point(p):
    srv = p.start(heartbeat=30)
    try:
        # The server refuses a wrong password itself: the responder
        # never sees the request.
        mark = srv.logs.mark()
        bad = srv.request(None, auth=("carol", "wrong"), timeout=5)
        assert bad.status == 401, bad.describe()
        assert "carol" not in "\n".join(
            harness.responder_lines(srv.logs.since(mark)))
        ids = srv.produce(("carol", "m", "one"), ("carol", "m", "two"),
                          ("dave", "m", "not carol's"),
                          (None, "all", "to everyone"),
                          ("carol", "m", "three"))
        mark = srv.logs.mark()
        c = p.open(srv, "carol", last_event_id=ids[0])
        try:
            assert c.status == 200, c.describe()
            want = [(ids[1], "two"), (ids[3], "to everyone"),
                    (ids[4], "three")]
            c.wait_events(3, timeout=5)
            assert c.no_more_events(3, settle=0.3)
            assert events_of(c) == want
            # REMOTE_USER from the server's Basic auth named the user.
            srv.logs.wait_for(rf"user=carol stream opened after id "
                              rf"{ids[0]}\b", mark)
        finally:
            c.close()
    finally:
        srv.teardown()


def check_max_stream_resume(p):
    opts = {}
    if p.opts.get("mode") == "fcgid":
        # mod_fcgid kills a request after FcgidBusyTimeout (checked every
        # FcgidBusyScanInterval): the stream must end before.
        opts = {"busy_timeout": 6,
                "extra": "FcgidBusyScanInterval 1\n"}
    srv = p.start(heartbeat=1, max_stream=3, **opts)
    user = "erin"
    mark = srv.logs.mark()
    c = p.open(srv, user)
    try:
        assert c.status == 200, c.describe()
        c.wait_fields(1)
        first = srv.produce((user, "m", "before the end"))
        assert [int(e.id) for e in c.wait_events(1)] == first
        assert c.wait_end(timeout=7), c.describe()
        lasted = c.end_time - c.headers_at
        p.note(f"stream ended by sse-outbox after {lasted:.1f} s "
               f"(SSE_MAX_STREAM=3)")
        assert c.complete, "response cut, not ended: " + c.describe()
        assert b"<html" not in bytes(c.raw).lower(), c.describe()
        assert 2.6 <= lasted <= 5.0, lasted
        srv.logs.wait_for(r"ending stream: SSE_MAX_STREAM reached", mark)
        resume = c.last_event_id
        assert resume == str(first[0])
    finally:
        c.close()
    gap = srv.produce((user, "m", "gap 1"), ("frank", "m", "not erin's"),
                      (user, "m", "gap 2"))
    c2 = p.open(srv, user, last_event_id=resume)
    try:
        assert c2.status == 200, c2.describe()
        c2.wait_events(2)
        live = srv.produce((user, "m", "live"))
        c2.wait_events(3)
        assert c2.no_more_events(3, settle=0.3)
        assert events_of(c2) == [(gap[0], "gap 1"), (gap[2], "gap 2"),
                                 (live[0], "live")]
    finally:
        c2.close()
        srv.teardown()
    assert "busy timeout" not in srv.logs.since(mark).lower()


def _resume_after(p, srv, user, resume):
    """Rows committed while the client was away arrive, exactly."""
    gap = srv.produce((user, "m", "while away"))
    deadline = time.monotonic() + 10
    while True:
        c = p.open(srv, user, last_event_id=resume, timeout=15)
        if c.status == 200 or time.monotonic() > deadline:
            break
        # The server may answer 503 for a moment while the responder
        # comes back (mod_fcgid spawning, lighttpd re-enabling).
        assert c.status in (500, 503), c.describe()
        c.close()
        time.sleep(0.2)
    try:
        assert c.status == 200, c.describe()
        assert [(int(e.id), e.data) for e in c.wait_events(1)] == \
            [(gap[0], "while away")]
    finally:
        c.close()


def check_shutdown(p):
    srv = p.start(heartbeat=1)
    streams = []
    try:
        for user in ("grace", "heidi"):
            c = p.open(srv, user)
            streams.append(c)
            assert c.status == 200, c.describe()
            c.wait_fields(1)
        ids = srv.produce(("grace", "m", "one"))
        assert [int(e.id) for e in streams[0].wait_events(1)] == ids
        resp = srv.responders()
        assert resp, "no responder process found"
        mark = srv.logs.mark()
        t0 = time.time()
        mode = p.opts.get("mode")
        if srv.listener:
            # systemd stop/restart of the --listen service: SIGTERM.
            how = "SIGTERM to the --listen responder"
            listener = srv.listener.proc
            os.kill(listener.pid, signal.SIGTERM)
            assert listener.wait(3) == 0
            limit = 1.5
        elif p.kind == "apache" and mode == "fcgid":
            # apachectl graceful (logrotate, reload): mod_fcgid's process
            # manager sends its processes SIGTERM.
            how = "Apache graceful restart"
            os.kill(srv.proc.pid, signal.SIGUSR1)
            limit = 6.0
        else:
            how = f"{p.kind} stop (SIGTERM)"
            os.kill(srv.proc.pid, signal.SIGTERM)
            limit = 3.0
        for c in streams:
            assert c.wait_end(limit + 1), f"{how}: " + c.describe()
        took = max(c.end_time for c in streams) - t0
        assert wait_gone(resp, limit + 2), \
            f"{how}: responders {resp} still running"
        gone = time.time() - t0
        p.note(f"{how}: streams ended after {took:.2f} s, responders "
               f"exited after {gone:.2f} s")
        assert took <= limit, took
        log = srv.logs.since(mark)
        if mode == "cgi" and p.kind == "apache":
            # Apache signals no CGI: each finds its closed connection at
            # its next heartbeat and ends.
            assert log.count("stream closed: client went away") == 2, log
        elif mode == "cgi":
            # lighttpd closes each CGI's pipe and sends it SIGTERM; each
            # ends its stream on whichever it sees first.
            assert log.count("ending stream: shutting down") + \
                log.count("stream closed: client went away") == 2, log
        else:
            # Each responder took SIGTERM and ended by itself (not
            # killed). lighttpd closes its clients' connections before
            # it signals, so its streams may end as "client went away".
            assert log.count("shut down cleanly") == len(resp), log
            if p.kind != "lighttpd" or srv.listener:
                assert log.count("ending stream: shutting down") == 2, log
        if srv.listener or mode == "fcgid":
            # The server stayed up: the response ended properly and the
            # browser resumes where it was.
            for c in streams:
                assert c.complete, f"{how}: cut, not ended: " + \
                    c.describe()
            if srv.listener:
                srv.listener.start()
            _resume_after(p, srv, "grace", ids[0])
    finally:
        for c in streams:
            c.close()
        srv.stop()
    assert not srv.leftovers, srv.leftovers


CHECK_FUNCS = {name: globals()["check_" + name] for name in CHECKS}


def check_busy_timeout_sigterm(p):
    """Without SSE_MAX_STREAM, mod_fcgid ends a stream at FcgidBusyTimeout
    by sending its process SIGTERM; sse-outbox ends the stream cleanly
    then too (a responder that ignored SIGTERM would be killed and get an
    error page appended)."""
    srv = p.start(heartbeat=1, max_stream=0, busy_timeout=3,
                  extra="FcgidBusyScanInterval 1\n")
    mark = srv.logs.mark()
    c = p.open(srv, "ivan")
    try:
        assert c.status == 200, c.describe()
        c.wait_fields(1)
        assert c.wait_end(10), "not ended: " + c.describe()
        lasted = c.end_time - c.headers_at
        p.note(f"FcgidBusyTimeout 3: ended after {lasted:.1f} s, "
               f"complete={c.complete}")
        # mod_fcgid counts from when it took the request, a little
        # before the client's clock started: allow for it.
        assert lasted >= 2.5, lasted
        assert c.complete, c.describe()
        assert b"<html" not in bytes(c.raw).lower(), c.describe()
        srv.logs.wait_for(r"ending stream: shutting down", mark)
        srv.logs.wait_for(r"shut down cleanly", mark)
    finally:
        c.close()
        srv.teardown()


JOBS = [(path, check) for path in PATHS for check in CHECKS] + \
    [(path, "busy_timeout_sigterm") for path in FCGID_PATHS]
CHECK_FUNCS["busy_timeout_sigterm"] = check_busy_timeout_sigterm


@pytest.fixture(scope="module")
def outcomes(request, base_dir, responder, htpasswd):
    """Run every selected (path, check) once, in parallel threads; each
    test below reports one of them (with the logs of its own servers)."""
    factory = conftest.Factory(base_dir, responder, htpasswd)
    wanted = set()
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module.__name__ == __name__ and "path" in params:
            wanted.add((params["path"],
                        params.get("check", "busy_timeout_sigterm")))
    paths = {}

    def run(job):
        p = paths[job] = Path(factory, job[0])
        CHECK_FUNCS[job[1]](p)

    # Long checks first, so the pool ends together.
    order = sorted((j for j in JOBS if j in wanted),
                   key=lambda j: j[1] in ("one_by_one",
                                          "auth_and_resume_point"))
    try:
        results = harness.run_parallel(order, run, workers=8)
    finally:
        factory.close()
    out = {}
    for job, (err, took) in results.items():
        # A crash in the logs of the job's servers (all stopped by now,
        # so reports written at exit are in) fails the job's test.
        crashes = harness.crash_failures(paths[job].servers)
        if crashes:
            err = (err or "") + "crash reports in the logs:\n" + \
                "\n".join(crashes)
        out[job] = (err, took, paths[job])
    yield out
    # Any server not counted in a job's.
    harness.assert_no_crash(factory.servers, "the servers of " + __name__)


def _report(outcomes, job):
    err, took, p = outcomes[job]
    for line in p.notes:
        print(f"{job[0]}: {line}")
    print(f"{job[0]} {job[1]}: {took:.1f} s")
    if err:
        logs = "".join(f"\n--- log of {srv.name} ({srv.dir})\n" +
                       srv.logs.tail(3000) for srv in p.servers
                       if srv.logs)
        pytest.fail(err + logs, pytrace=False)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("path", list(PATHS))
def test_path(outcomes, path, check):
    _report(outcomes, (path, check))


@pytest.mark.parametrize("path", FCGID_PATHS)
def test_fcgid_busy_timeout_ends_streams_cleanly(outcomes, path):
    _report(outcomes, (path, "busy_timeout_sigterm"))
