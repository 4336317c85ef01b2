# SPDX-License-Identifier: BSD-2-Clause
"""`make demo` end to end: demo/run_demo.py under lighttpd on a free port.

Starts the demo script, checks the page is served, posts to send.cgi and
inserts with sqlite3 while a streaming http.client read watches /sse, then
sends SIGINT and checks that the demo and every process it started are gone.
Standard library + pytest; every wait has a timeout.
"""

import http.client
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import pytest

import harness

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
RUN_DEMO = os.path.join(REPO, "demo", "run_demo.py")
BIN = os.environ.get("SSE_OUTBOX_BIN",
                     os.path.join(REPO, "build", "sse-outbox"))
START_TIMEOUT = 30
EVENT_TIMEOUT = 10
STOP_TIMEOUT = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat(pid):
    """(ppid, starttime, state) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii",
                  errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[1]), int(fields[19]), fields[0]


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def descendants(root):
    """{pid: starttime} of every live process below root."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                children.setdefault(st[0], []).append((int(name), st[1]))
    found, todo = {}, [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            found[pid] = start
            todo.append(pid)
    return found


def still_running(tree):
    """The pids of tree that still exist as the same process (not zombies
    of it either: the demo must have waited for them)."""
    left = []
    for pid, start in tree.items():
        st = proc_stat(pid)
        if st and st[1] == start:
            left.append(pid)
    return left


def read_log(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def wait_for_log(proc, log, needle, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in read_log(log):
            return
        if proc.poll() is not None:
            pytest.fail(f"demo exited ({proc.returncode}) before "
                        f"{needle!r}:\n{read_log(log)}")
        time.sleep(0.1)
    pytest.fail(f"no {needle!r} within {timeout}s:\n{read_log(log)}")


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def post_form(port, fields):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/send.cgi", urllib.parse.urlencode(fields),
                     {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        return resp.status, resp.getheader("X-Outbox-Id"), resp.read()
    finally:
        conn.close()


class SseReader:
    """A streaming read of /sse with http.client, one event at a time."""

    def __init__(self, port, user):
        self.conn = http.client.HTTPConnection("127.0.0.1", port,
                                               timeout=EVENT_TIMEOUT)
        self.conn.request("GET", "/sse?user=" + urllib.parse.quote(user))
        self.resp = self.conn.getresponse()

    def next_event(self, timeout=EVENT_TIMEOUT):
        """The next dispatched event as a dict (id, event, data), skipping
        comments and retry-only blocks. Per the event-stream rules, data
        lines are joined with LF."""
        deadline = time.monotonic() + timeout
        fields = {}
        data = []
        while time.monotonic() < deadline:
            line = self.resp.readline()
            assert line, "stream ended"
            line = line.decode("utf-8").rstrip("\n")
            if line == "":
                # HTML: an empty data buffer dispatches nothing (an
                # id-only block just sets the last event id).
                if data:
                    fields["data"] = "\n".join(data)
                    return fields
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
        pytest.fail(f"no event within {timeout}s")

    def close(self):
        self.conn.close()


@pytest.fixture
def demo():
    assert os.access(BIN, os.X_OK), f"{BIN} missing: run make first"
    assert shutil.which("lighttpd") or os.access("/usr/sbin/lighttpd",
                                                 os.X_OK), \
        "lighttpd missing: run make deps"
    # Under /tmp, not pytest's 0700 tmp_path: as root the demo hands the
    # run dir to www-data, which must be able to reach it.
    run_dir = tempfile.mkdtemp(prefix="sse-demo-test-")
    log = os.path.join(run_dir, "demo.log")
    port = free_port()
    env = dict(os.environ, DEMO_PORT=str(port),
               DEMO_RUN_DIR=os.path.join(run_dir, "run"),
               SSE_OUTBOX_BIN=os.path.abspath(BIN), SSE_HEARTBEAT="2")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, RUN_DEMO], env=env,
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
    tree = {}
    try:
        wait_for_log(proc, log, "Press Ctrl-C to stop.", START_TIMEOUT)
        # lighttpd and the responder it spawned (once exec'd, so that
        # comm is its own name).
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            tree = descendants(proc.pid)
            names = sorted(comm(pid) or "?" for pid in tree)
            if "lighttpd" in names and "sse-outbox" in names:
                break
            assert time.monotonic() < deadline, \
                f"expected lighttpd and sse-outbox below the demo, " \
                f"got {names}\n{read_log(log)}"
            time.sleep(0.1)
        yield proc, port, log, tree, env["DEMO_RUN_DIR"]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in still_running(tree):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        # The log holds lighttpd's and the responder's stderr.
        crashes = harness.crash_reports(read_log(log))
        shutil.rmtree(run_dir, ignore_errors=True)
        if crashes:
            harness.fail("crash reports in the demo's log:\n" +
                         "\n".join(crashes[:20]))


def test_demo(demo):
    proc, port, log, tree, run_dir = demo

    status, ctype, body = get(port, "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b'<script src="demo.js"></script>' in body
    status, ctype, body = get(port, "/demo.js")
    assert status == 200 and b"addEventListener" in body
    status, _, _ = get(port, "/run_demo.py")
    assert status == 403

    user = "test-" + uuid.uuid4().hex[:8]
    sse = SseReader(port, user)
    try:
        assert sse.resp.status == 200
        assert sse.resp.getheader("Content-Type", "").startswith(
            "text/event-stream")
        # The responder flushes "retry:" at once; seeing it means the
        # stream is live, so nothing below can race the subscription.
        assert sse.resp.readline().startswith(b"retry:")

        data = '{"text":"hello from pytest"}\nsecond line'
        status, row_id, body = post_form(
            port, {"user": user, "event": "notice", "data": data})
        assert status == 204, body
        assert row_id and row_id.isdigit()
        ev = sse.next_event()
        assert ev == {"id": row_id, "event": "notice", "data": data}

        # A broadcast without event type arrives as a plain message.
        status, bcast_id, _ = post_form(port, {"data": "to everyone"})
        assert status == 204
        ev = sse.next_event()
        assert ev == {"id": bcast_id, "data": "to everyone"}

        # Someone else's row is not delivered; a plain INSERT by another
        # program (what producers do) is.
        assert post_form(port, {"user": user + "-other",
                                "data": "not yours"})[0] == 204
        db = sqlite3.connect(os.path.join(run_dir, "demo.db"), timeout=5)
        try:
            with db:
                cur = db.execute(
                    "INSERT INTO outbox (user_id, event, data) "
                    "VALUES (?, 'notice', '{\"text\":\"hi\"}')", (user,))
            direct_id = str(cur.lastrowid)
        finally:
            db.close()
        ev = sse.next_event()
        assert ev == {"id": direct_id, "event": "notice",
                      "data": '{"text":"hi"}'}

        # Bad input is refused without a row.
        assert post_form(port, {"user": user})[0] == 400
        assert post_form(port, {"user": user, "event": "a b",
                                "data": "x"})[0] == 400

        # Stop with the stream still open: the demo must not wait for it.
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"demo did not stop within {STOP_TIMEOUT}s after "
                        f"SIGINT:\n{read_log(log)}")
    finally:
        sse.close()
    assert rc == 0, read_log(log)
    assert "stopped; nothing left running." in read_log(log)
    assert still_running(tree) == [], \
        f"left running after SIGINT: {still_running(tree)}\n{read_log(log)}"
    assert not os.path.exists(os.path.join(run_dir, "sse-outbox.sock-0"))


def test_demo_port_taken():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env = dict(os.environ, DEMO_PORT=str(port),
                   SSE_OUTBOX_BIN=os.path.abspath(BIN),
                   DEMO_RUN_DIR=os.path.join(tempfile.gettempdir(),
                                             "sse-demo-unused"))
        r = subprocess.run([sys.executable, RUN_DEMO], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=STOP_TIMEOUT)
    assert r.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in r.stderr
