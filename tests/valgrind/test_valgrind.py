"""The request path under valgrind: the binary run as CGI (and its
subcommands) must free what it allocates and touch no memory it should
not. valgrind --leak-check=full; each run must report "definitely lost:
0" (or free everything) and "ERROR SUMMARY: 0 errors".

Run by `make valgrind` (part of `make test`) against the normal build:
valgrind cannot run a sanitizer build. valgrind 3.19 does not know
epoll_pwait2; the hub then falls back to epoll_wait.
"""

import os
import re
import select
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
    cmd = [VALGRIND, "--leak-check=full", "--show-leak-kinds=definite",
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
    out, err = stream_then_term(work, [responder], cgi_env(
        work / "app.db", QUERY_STRING="user=alice&lastEventId=0"))
    assert out.startswith(b"Status: 200"), out[:200]
    assert b"id: 1\nevent: notice\ndata: one\ndata: two\n\n" in out
    assert b"id: 3\ndata: everyone\n\n" in out
    assert b"id: 4\nevent: ab\ndata: x\x01y\n\n" in out
    assert b"not alice's" not in out
    assert b":\n" in out[out.index(b"id: 4"):], "no heartbeat within 1 s"


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
