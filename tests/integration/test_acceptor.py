# SPDX-License-Identifier: BSD-2-Clause
"""The acceptor of `sse-outbox --listen`, spoken to as a web server would
and as one never should: idle connections, management records, other
FastCGI roles, SIGUSR1 (lighttpd's kill-signal, mod_fastcgi), SIGTERM
with streams open, and running out of file descriptors.

Each test runs its own responder (harness.Listener) on a loopback port
and talks FastCGI to it directly (fcgiclient.py)."""

import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import time

import pytest

import fcgiclient
import harness


def start_listener(base_dir, responder, name, nofile=None, **kw):
    """A --listen responder on a fresh database (lst.dir / "app.db")."""
    d = harness.make_dir(base_dir / f"{name}-{time.monotonic_ns()}")
    db = harness.make_db(d / "app.db")
    port = harness.free_port()
    lst = harness.Listener(d, db, responder, f"127.0.0.1:{port}",
                           auth="query", **kw)
    lst.start(nofile=nofile)
    return lst, ("127.0.0.1", port)


@pytest.fixture
def listener(base_dir, responder):
    lst, addr = start_listener(base_dir, responder, "acceptor")
    yield lst, addr
    lst.stop()


def cpu_seconds(pid):
    """User and system CPU time pid has used, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def stream_open(resp):
    return b"retry:" in resp.body


def test_idle_connections_do_not_stall_the_acceptors(listener):
    """Eight peers that connect and send nothing, and one that sends a
    management record (FCGI_GET_VALUES) and then nothing, take every
    acceptor thread; each must be dropped after a few seconds so that a
    real request on the same socket still gets its stream."""
    lst, addr = listener
    idle = [socket.create_connection(addr) for _ in range(8)]
    mgmt = socket.create_connection(addr)
    try:
        mgmt.sendall(fcgiclient.record(
            fcgiclient.GET_VALUES, 0,
            fcgiclient.pairs({"FCGI_MAX_CONNS": "", "FCGI_MPXS_CONNS": ""})))
        time.sleep(0.3)             # the idle peers are accepted first
        t0 = time.monotonic()
        sock, resp = fcgiclient.ask(addr, fcgiclient.get_params("user=alice"),
                                    timeout=30, until=stream_open)
        took = time.monotonic() - t0
        try:
            assert resp.status == 200 and stream_open(resp), \
                f"no stream after {took:.1f} s: {resp.stdout!r}"
            # 9 idle peers, 4 threads, 2 s each: about 5 s; generous.
            assert took < 20, took
        finally:
            sock.close()
        # The idle peers were dropped (closed by the responder).
        for s in idle:
            s.settimeout(10)
            assert s.recv(1) == b""
    finally:
        for s in idle + [mgmt]:
            s.close()
    harness.report(f"--listen with 8 idle TCP peers and one FCGI_GET_VALUES "
                   f"peer holding the 4 acceptors: a real request got its "
                   f"stream after {took:.1f} s")


@pytest.mark.parametrize("role", [fcgiclient.AUTHORIZER, fcgiclient.FILTER])
def test_other_roles_are_refused(listener, role):
    """FastCGI 1.0, 5.5: a role the application does not play gets
    FCGI_END_REQUEST with protocolStatus FCGI_UNKNOWN_ROLE, and no
    response."""
    lst, addr = listener
    mark = lst.logs.mark()
    sock, resp = fcgiclient.ask(addr, fcgiclient.get_params("user=alice"),
                                role=role)
    try:
        assert resp.end == (0, fcgiclient.UNKNOWN_ROLE), resp.__dict__
        assert resp.stdout == b""
    finally:
        sock.close()
    name = {fcgiclient.AUTHORIZER: "AUTHORIZER",
            fcgiclient.FILTER: "FILTER"}[role]
    lst.logs.wait_for(rf"info: refused a FastCGI request in role {name}",
                      mark)
    # The responder role still works on the same socket.
    sock, resp = fcgiclient.ask(addr, fcgiclient.get_params("user=alice"),
                                until=stream_open)
    sock.close()
    assert resp.status == 200


def open_streams(addr, n):
    out = []
    for i in range(n):
        sock, resp = fcgiclient.ask(addr, fcgiclient.get_params(
            f"user=u{i}"), until=stream_open)
        assert resp.status == 200, resp.stdout
        out.append((sock, resp))
    return out


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM])
def test_stop_signal_ends_streams_and_exits(base_dir, responder, sig):
    """SIGUSR1 (lighttpd's kill-signal, mod_fastcgi's graceful stop) and
    SIGTERM: streams end cleanly (FCGI_END_REQUEST, so clients resume),
    new connections are not left hanging, the process exits 0 within a
    few seconds, with a log line naming the signal."""
    lst, addr = start_listener(base_dir, responder, "stop")
    try:
        streams = open_streams(addr, 3)
        # Requests in flight in the acceptors while the signal comes.
        idle = [socket.create_connection(addr) for _ in range(2)]
        mark = lst.logs.mark()
        os.kill(lst.pid, sig)
        for sock, resp in streams:
            fcgiclient.read_until(sock, resp, lambda r: r.end is not None, 5)
            assert resp.end == (0, fcgiclient.REQUEST_COMPLETE), \
                resp.stdout[-200:]
            sock.close()
        try:
            rc = lst.proc.wait(5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 5 s after {sig.name}:\n"
                        f"{lst.logs.since(mark)}")
        assert rc == 0, lst.logs.since(mark)
        log = lst.logs.since(mark)
        assert f"{sig.name}: stopped accepting and ended every stream" in log
        assert "shut down cleanly" in log
        assert not harness.sanitizer_reports(log), log
        for s in idle:
            s.close()
    finally:
        lst.stop()


def test_descriptor_limit_every_client_answered(base_dir, responder):
    """RLIMIT_NOFILE 1024 (hard, so it cannot be raised) and the default
    SSE_MAX_STREAMS=1024: the responder lowers its cap with one warning
    naming both numbers, and 1,040 clients each get an answer: 200 or
    503 with Retry-After: 5; none is left hanging."""
    want = 1040
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (min(hard, 4096), hard))
    lst, (_, port) = start_listener(base_dir, responder, "fds", nofile=1024,
                                    heartbeat=30, log_level="info")
    sel = selectors.DefaultSelector()
    conns = []
    try:
        for i in range(want):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            resp = fcgiclient.Response()
            conns.append((s, resp))
            sel.register(s, selectors.EVENT_WRITE, (s, resp, i))
        deadline = time.monotonic() + 90
        pending = want
        while pending and time.monotonic() < deadline:
            for key, ev in sel.select(0.5):
                s, resp, i = key.data
                if ev & selectors.EVENT_WRITE:
                    s.send(fcgiclient.request_bytes(
                        fcgiclient.get_params(f"user=u{i % 50}")))
                    sel.modify(s, selectors.EVENT_READ, key.data)
                    continue
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if data:
                    resp.feed(data)
                else:
                    resp.closed = True
                if resp.status is not None or resp.closed:
                    sel.unregister(s)
                    pending -= 1
        statuses = [r.status for _, r in conns]
        ok = statuses.count(200)
        busy = statuses.count(503)
        silent = [i for i, st in enumerate(statuses) if st is None]
        assert not silent, f"{len(silent)} clients got no answer " \
            f"({ok} got 200, {busy} got 503)"
        assert ok + busy == want, statuses
        assert ok >= 900, (ok, busy)
        for _, r in conns:
            if r.status == 503:
                assert "Retry-After: 5" in r.head, r.head
        log = lst.logs.since()
        assert "cannot open database" not in log, log[-3000:]
        warnings = [line for line in harness.responder_lines(log)
                    if "does not fit RLIMIT_NOFILE" in line]
        assert len(warnings) == 1, log[-3000:]
        assert re.search(r"SSE_MAX_STREAMS=1024 does not fit "
                         r"RLIMIT_NOFILE=1024 .*serving at most "
                         rf"{ok} streams", warnings[0]), warnings
    finally:
        for s, _ in conns:
            s.close()
        sel.close()
        lst.stop()
    harness.report(f"RLIMIT_NOFILE 1024 (hard), SSE_MAX_STREAMS 1024, "
                   f"{want} clients: {ok} streams, {busy} refused 503, "
                   f"none left without an answer")


def test_head_probe_is_headers_only(listener):
    """HEAD ?probe=1: the probe's head at once, no body (no events, no
    retry:, no 1.2 s wait)."""
    lst, addr = listener
    t0 = time.monotonic()
    sock, resp = fcgiclient.ask(addr, fcgiclient.get_params(
        "user=alice&probe=1", method="HEAD"), timeout=10)
    took = time.monotonic() - t0
    sock.close()
    assert resp.end == (0, fcgiclient.REQUEST_COMPLETE), resp.stdout
    assert resp.status == 200
    assert "Content-Type: text/event-stream" in resp.head
    assert resp.body == b"", resp.body
    # GET gets the probe as before.
    sock, get = fcgiclient.ask(addr, fcgiclient.get_params(
        "user=alice&probe=1"), timeout=10)
    sock.close()
    assert get.body.count(b"event: probe") == 5
    harness.report(f"HEAD ?probe=1 answered in {took * 1000:.0f} ms with "
                   f"no body")


def held_files(pid):
    """What the process's descriptors point at (readlink of /proc/pid/fd)."""
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            held.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass  # closed while we looked
    return held


def settled_files(pid, want, timeout=10):
    """held_files once the process holds everything in want and two
    looks 0.1 s apart agree: no descriptor on its way in or out (the
    loop opens its database connection on its first turn)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        held = sorted(held_files(pid))
        if set(want) <= set(held) and held == last:
            return held
        assert time.monotonic() < deadline, held
        last = held
        time.sleep(0.1)


@pytest.mark.parametrize("spare", [1, 2])
def test_out_of_descriptors_is_503_not_a_database_error(base_dir, responder,
                                                        spare):
    """RLIMIT_NOFILE lowered to what the process holds plus `spare`: the
    accepted connection takes one, and admission's database connection
    (the database and its -wal: two; the -shm's mapping is shared within
    a process) cannot open; with 2 SQLite opens the database and fails
    on the -wal, which once read as a permission problem.
    Every request gets 503 with Retry-After: 5, the log says the
    descriptors ran out (once), never "cannot open database" or a chmod
    fix, and the process waits without spinning."""
    lst, addr = start_listener(base_dir, responder, f"fds{spare}",
                               heartbeat=30, log_level="info")
    db = lst.dir / "app.db"
    try:
        # Counted once the loop holds its own connection.
        held = settled_files(lst.pid, [str(db), f"{db}-wal", f"{db}-shm"])
        limit = len(held) + spare
        resource.prlimit(lst.pid, resource.RLIMIT_NOFILE, (limit, limit))
        for i in range(6):
            sock, resp = fcgiclient.ask(
                addr, fcgiclient.get_params(f"user=u{i}"), timeout=10)
            sock.close()
            assert resp.status == 503, resp.stdout
            assert "Retry-After: 5" in resp.head
        cpu0 = cpu_seconds(lst.pid)
        time.sleep(2)
        cpu1 = cpu_seconds(lst.pid)
        log = lst.logs.since()
        assert "cannot open database" not in log, log
        assert "cannot read database" not in log, log
        assert "must be writable" not in log, log
        assert log.count(f"out of file descriptors (RLIMIT_NOFILE "
                         f"{limit}): refusing") == 1, log
        assert log.count("refused 503: out of file descriptors") == 6, log
    finally:
        lst.stop()
    busy = cpu1 - cpu0
    assert busy < 1.0, f"{busy:.2f} s of CPU in 2 s while out of descriptors"


def test_out_of_descriptors_on_the_loops_connection_says_so(base_dir,
                                                            responder):
    """The loop's connection needs the database, its -wal and its -shm.
    Started with room for the first two only, SQLite opens the database
    and fails on the -shm: the log says the descriptors ran out, with no
    chmod fix for a permission problem there is not."""
    lst, _ = start_listener(base_dir, responder, "loopfds", heartbeat=30,
                            log_level="info")
    db = lst.dir / "app.db"
    try:
        want = [str(db), f"{db}-wal", f"{db}-shm"]
        others = len([f for f in settled_files(lst.pid, want)
                      if f not in want])
    finally:
        lst.stop()
    lst, _ = start_listener(base_dir, responder, "loopfds", heartbeat=30,
                            log_level="info", nofile=others + 2)
    try:
        lst.logs.wait_for("retrying every", timeout=10)
        log = lst.logs.since()
        line = next(ln for ln in log.splitlines() if "retrying every" in ln)
        assert "out of file descriptors" in line, log
        assert "must be writable" not in log, log
    finally:
        lst.stop()
