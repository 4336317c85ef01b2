# SPDX-License-Identifier: BSD-2-Clause
"""The request path under valgrind: the binary run as CGI (and its
subcommands), and one `--listen` process serving several streams at once
behind lighttpd, must free what it allocates and touch no memory it
should not. valgrind --leak-check=full; each run must report "definitely
lost: 0" (or free everything) and "ERROR SUMMARY: 0 errors".

Run by `make valgrind` (part of `make test`) against the normal build:
valgrind cannot run a sanitizer build. valgrind 3.19 does not know
epoll_pwait2; the hub then falls back to epoll_wait.
"""

import os
import re
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
import harness  # noqa: E402

VALGRIND = "/usr/bin/valgrind"
SECRET = "valgrind-suite-hs256-key-" + "0123456789abcdef" * 2
ERROR_EXIT = 99         # valgrind's exit status when it found errors
TIMEOUT = 60


@pytest.fixture(scope="module")
def responder():
    path = harness.responder_bin()
    with open(path, "rb") as f:
        if b"__asan_init" in f.read():
            harness.fail(f"{path} is a sanitizer build; valgrind needs "
                         f"the normal one (make valgrind)")
    return path


@pytest.fixture(scope="module")
def work():
    harness.require_program(VALGRIND)
    d = Path(tempfile.mkdtemp(prefix="sse-outbox-vg-"))
    db = harness.make_db(d / "app.db")
    harness.produce(db, ("alice", "notice", "one\r\ntwo"),
                    ("bob", None, "not alice's"),
                    (None, None, "everyone"),
                    ("alice", "a\nb", "x\x01y"))
    yield d
    if os.environ.get("SSE_TESTS_KEEP") != "1":
        harness.remove_tree(d)


def cgi_env(db, **extra):
    env = {
        "PATH": "/usr/bin:/bin",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": "user=alice",
        "SSE_DB": str(db),
        "SSE_AUTH": "query",
        "SSE_HEARTBEAT": "1",
        "SSE_LOG_LEVEL": "debug",
    }
    env.update({k: v for k, v in extra.items() if v is not None})
    for k in [k for k, v in extra.items() if v is None]:
        env.pop(k, None)
    return env


_runs = iter(range(1, 1000))


def valgrind_cmd(work, args):
    log = work / f"valgrind-{next(_runs)}.log"
    cmd = [VALGRIND, "--leak-check=full", "--show-leak-kinds=definite,possible",
           "--errors-for-leak-kinds=definite,possible",
           f"--error-exitcode={ERROR_EXIT}", "--track-fds=no",
           f"--log-file={log}"] + args
    return cmd, log


def check_log(log, rc, want_rc=0):
    text = log.read_text(errors="replace")
    summary = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    assert summary, text[-3000:]
    assert summary.group(1) == "0", text[-6000:]
    assert ("definitely lost: 0 bytes" in text or
            "All heap blocks were freed" in text), text[-6000:]
    assert "possibly lost: 0 bytes" in text or \
        "All heap blocks were freed" in text, text[-6000:]
    assert rc == want_rc, (rc, text[-3000:])
    return text


def run(work, args, env, want_rc=0):
    cmd, log = valgrind_cmd(work, args)
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=TIMEOUT)
    check_log(log, p.returncode, want_rc)
    return p


@pytest.mark.parametrize("extra,status", [
    ({"QUERY_STRING": ""}, b"401"),
    ({"QUERY_STRING": "user=alice&lastEventId=-1"}, b"400"),
    ({"HTTP_LAST_EVENT_ID": "99999999999999999999"}, b"400"),
    ({"REQUEST_METHOD": "POST"}, b"405"),
    ({"QUERY_STRING": "user=%zz"}, b"400"),
    ({"QUERY_STRING": "user=" + "a" * 9000}, b"414"),
    ({"SSE_AUTH": "jwt", "SSE_JWT_SECRET": SECRET,
      "HTTP_AUTHORIZATION": "Bearer e30.e30.AAAA"}, b"401"),
    ({"SSE_AUTH": "jwt", "SSE_JWT_SECRET": SECRET,
      "HTTP_COOKIE": "sse_token=a; sse_token=b"}, b"401"),
])
def test_refused_requests(responder, work, extra, status):
    p = run(work, [responder], cgi_env(work / "app.db", **extra))
    assert p.stdout.startswith(b"Status: " + status), p.stdout[:200]


def test_database_missing_503(responder, work):
    p = run(work, [responder], cgi_env(work / "missing.db"))
    assert p.stdout.startswith(b"Status: 503"), p.stdout[:200]


def test_head(responder, work):
    p = run(work, [responder], cgi_env(work / "app.db",
                                      REQUEST_METHOD="HEAD"))
    assert p.stdout.startswith(b"Status: 200"), p.stdout[:200]
    assert b"retry:" not in p.stdout


def stream_then_term(work, args, env, seconds=1.0):
    """A streaming GET: read ~seconds of output, then SIGTERM."""
    cmd, log = valgrind_cmd(work, args)
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    deadline = time.monotonic() + seconds + 15   # valgrind starts slowly
    started = None
    while time.monotonic() < deadline:
        if started and time.monotonic() - started > seconds:
            break
        ready, _, _ = select.select([p.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
            if started is None and b"retry:" in out:
                started = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        rest, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate(timeout=10)
        pytest.fail("the stream did not end within 60 s of SIGTERM")
    check_log(log, p.returncode)
    return out + rest, err


def test_streaming_get_replay_then_sigterm(responder, work):
    # SSE_HEARTBEAT=1: the heartbeat waits for the process's beat (an
    # eighth of the interval at most), so 1.5 s of output holds one.
    out, err = stream_then_term(work, [responder], cgi_env(
        work / "app.db", QUERY_STRING="user=alice&lastEventId=0"),
        seconds=1.5)
    assert out.startswith(b"Status: 200"), out[:200]
    assert b"id: 1\nevent: notice\ndata: one\ndata: two\n\n" in out
    assert b"id: 3\ndata: everyone\n\n" in out
    assert b"id: 4\nevent: ab\ndata: x\x01y\n\n" in out
    assert b"not alice's" not in out
    assert b":\n" in out[out.index(b"id: 4"):], "no heartbeat within 1.5 s"


def test_streaming_get_jwt(responder, work):
    p = subprocess.run([responder, "token", "--user", "alice", "--channel",
                        "room:1"], env={"PATH": "/usr/bin:/bin",
                                        "SSE_JWT_SECRET": SECRET},
                       capture_output=True, timeout=30, check=True)
    token = p.stdout.decode().strip()
    out, err = stream_then_term(work, [responder], cgi_env(
        work / "app.db", SSE_AUTH="jwt", SSE_JWT_SECRET=SECRET,
        QUERY_STRING="lastEventId=2", HTTP_COOKIE=f"sse_token={token}"))
    assert out.startswith(b"Status: 200"), out[:200]
    assert b"id: 3\ndata: everyone\n\n" in out


def test_token_subcommand(responder, work):
    env = {"PATH": "/usr/bin:/bin", "SSE_JWT_SECRET": SECRET}
    p = run(work, [responder, "token", "--user", "ünï", "--ttl", "60",
                   "--channel", "room:1", "--channel", "room:2"], env)
    assert p.stdout.count(b".") == 2
    key = work / "jwt.key"
    key.write_text(SECRET + "\n")
    key.chmod(0o600)
    env = {"PATH": "/usr/bin:/bin", "SSE_JWT_SECRET_FILE": str(key)}
    run(work, [responder, "token", "--user", "bob"], env)
    run(work, [responder, "token", "--user", ""], env, want_rc=2)
    run(work, [responder, "token", "--user", "x"], {"PATH": "/usr/bin"},
        want_rc=1)


def test_check(responder, work):
    env = cgi_env(work / "app.db", SSE_AUTH="jwt", SSE_JWT_SECRET=SECRET)
    p = run(work, [responder, "--check"], env)
    assert b"configuration OK" in p.stdout
    env = cgi_env(work / "missing.db", SSE_AUTH="jwt",
                  SSE_JWT_SECRET="short", SSE_HEARTBEAT="x")
    p = run(work, [responder, "--check"], env, want_rc=1)
    assert b"SSE_JWT_SECRET" in p.stderr and b"SSE_HEARTBEAT" in p.stderr


# ---- FastCGI: one --listen process, several streams ----

def test_fastcgi_listen_many_streams(responder):
    """`sse-outbox --listen` (as systemd would run it for lighttpd's
    "socket") under valgrind: streams of several users at once, replay
    and live rows, a large row, refusals and HEAD on the same process, a
    client that leaves, then SIGTERM with streams open. The process ends
    its streams, exits 0, and valgrind finds no error and no leak."""
    harness.require_program(VALGRIND)
    # 0777 like the integration suite's: lighttpd runs as www-data.
    d = harness.make_dir(tempfile.mkdtemp(prefix="sse-outbox-vg-fcgi-"))
    try:
        _fastcgi_listen_many_streams(responder, d)
    finally:
        if os.environ.get("SSE_TESTS_KEEP") != "1":
            harness.remove_tree(d)


def _fastcgi_listen_many_streams(responder, d):
    db = harness.make_db(d / "app.db")
    cmd, log = valgrind_cmd(d, [responder])
    # The Listener runs BIN --listen ADDR: BIN is valgrind around it.
    wrapper = d / "sse-outbox-under-valgrind"
    wrapper.write_text("#!/bin/sh\nexec " + shlex.join(cmd) + ' "$@"\n')
    wrapper.chmod(0o755)
    srv = harness.Lighttpd(d / "lighttpd", db, str(wrapper),
                           harness.make_htpasswd(d / "htpasswd"),
                           auth="query", mode="fastcgi-socket",
                           heartbeat=1)
    streams = []
    try:
        srv.start()
        early = harness.produce_ids(db, ("alice", "old", "before"),
                                    ("bob", None, "not alice's"))
        alice = srv.open("alice", last_event_id="0")
        bob = srv.open("bob")
        carol = srv.open("carol")
        streams += [alice, bob, carol]
        for c in streams:
            assert c.status == 200, c.describe()
            c.wait_fields(1, timeout=TIMEOUT)
        assert [int(e.id) for e in alice.wait_events(1, TIMEOUT)] == \
            early[:1]
        big = "x" * (100 * 1024)         # several writes
        ids = harness.produce_ids(db, ("alice", "m", "a1"),
                                  (None, "all", "everyone"),
                                  ("bob", "m", big), ("carol", "m", "c1"))
        assert [int(e.id) for e in alice.wait_events(3, TIMEOUT)] == \
            early[:1] + ids[0:2]
        assert [int(e.id) for e in bob.wait_events(2, TIMEOUT)] == ids[1:3]
        assert bob.events[1].data == big
        assert [int(e.id) for e in carol.wait_events(2, TIMEOUT)] == \
            [ids[1], ids[3]]
        # A client that leaves: its stream is freed while others go on.
        mark = srv.logs.mark()
        carol.close()
        srv.logs.wait_for(r"user=carol stream closed: client went away",
                          mark, timeout=TIMEOUT)
        # Refusals and HEAD on the same process.
        assert srv.request().status == 401
        assert srv.request("alice", query="lastEventId=x").status == 400
        head = srv.request("alice", method="HEAD")
        assert head.status == 200 and bytes(head.raw) == b"", head.describe()
        dave = srv.open("dave")
        streams.append(dave)
        assert dave.status == 200, dave.describe()
        more = harness.produce_ids(db, ("dave", "m", "d1"),
                                   ("alice", "m", "a2"))
        assert [int(e.id) for e in dave.wait_events(1, TIMEOUT)] == more[:1]
        assert [int(e.id) for e in alice.wait_events(4, TIMEOUT)][-1] == \
            more[1]
        # SIGTERM (systemctl stop) with three streams open.
        proc = srv.listener.proc
        mark = srv.logs.mark()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            pytest.fail(f"--listen under valgrind did not exit within "
                        f"{TIMEOUT} s of SIGTERM")
        for c in (alice, bob, dave):
            assert c.wait_end(timeout=10), c.describe()
        srv.logs.wait_for(r"shut down cleanly", mark, timeout=5)
        check_log(log, rc)
        assert harness.crash_reports(srv.logs.since()) == []
    finally:
        for c in streams:
            c.close()
        srv.stop()
