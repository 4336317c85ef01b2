# SPDX-License-Identifier: BSD-2-Clause
"""Helpers for the browser tests: the browser agent (headless Debian
Chromium and the `eventsource` npm client, tests/browser/agent.mjs), the
demo (demo/run_demo.py) that can be stopped and started again on the
same port, and a small static server for a page on a second origin.

Everything here is started by the test and stopped by PID, with a
timeout on every wait.
"""

import http.server
import json
import os
import select
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness

ROOT = harness.ROOT
BROWSER_DIR = ROOT / "tests" / "browser"
AGENT = BROWSER_DIR / "agent.mjs"
RUN_DEMO = ROOT / "demo" / "run_demo.py"
CHROMIUM = "/usr/bin/chromium"
NODE = shutil.which("node") or "/usr/bin/node"

AGENT_START_TIMEOUT = 30.0
DEMO_START_TIMEOUT = 30.0
DEMO_STOP_TIMEOUT = 20.0


def require_browser_tools():
    harness.require_program(CHROMIUM)
    harness.require_program(NODE)
    for mod in ("playwright-core", "eventsource"):
        if not (BROWSER_DIR / "node_modules" / mod).is_dir():
            harness.fail(f"tests/browser/node_modules/{mod} is missing: run "
                         f"`make tests/browser/node_modules` (or make test)")


class AgentError(AssertionError):
    pass


class Agent:
    """One browser (one context) and any number of eventsource clients,
    driven over the agent's line protocol."""

    def __init__(self):
        require_browser_tools()
        self.log_file = tempfile.NamedTemporaryFile(
            prefix="sse-outbox-agent-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [NODE, str(AGENT)], cwd=str(BROWSER_DIR),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log_file, env=dict(os.environ, CHROMIUM=CHROMIUM))
        self._buf = b""
        self._serial = 0
        hello = self._read_reply(AGENT_START_TIMEOUT)
        if not hello.get("ok"):
            self.close()
            harness.fail(f"browser agent did not start: {hello}\n"
                         f"{self.log()}")
        self.version = hello["value"]

    def log(self):
        try:
            return Path(self.log_file.name).read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def _read_reply(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AgentError(f"browser agent: no answer within "
                                 f"{timeout} s\n{self.log()}")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AgentError(f"browser agent exited "
                                 f"({self.proc.poll()})\n{self.log()}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def call(self, op, timeout=15.0, **args):
        self._serial += 1
        msg = dict(args, id=self._serial, op=op)
        if "timeout" in args or op == "waitFor":
            msg["timeout"] = int(timeout * 1000)
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        reply = self._read_reply(timeout + 10)
        if reply.get("id") != self._serial:
            raise AgentError(f"browser agent: answer out of order: {reply}")
        if not reply.get("ok"):
            raise AgentError(f"browser agent: {op} {args}: "
                             f"{reply.get('error')}\n{self.log()}")
        return reply.get("value")

    # -- pages --

    def new_page(self, url, init=None):
        return self.call("newPage", url=url, init=init, timeout=20.0)

    def eval(self, page, expr):
        return self.call("eval", page=page, expr=expr)

    def wait_for(self, page, expr, timeout=10.0):
        return self.call("waitFor", page=page, expr=expr, timeout=timeout)

    def close_page(self, page):
        return self.call("closePage", page=page)

    def requests(self, match):
        return self.call("requests", match=match)

    # -- the eventsource npm client --

    def es_open(self, url, last_event_id=None):
        args = {"url": url}
        if last_event_id is not None:
            args["lastEventId"] = str(last_event_id)
        return self.call("esOpen", **args)

    def es_state(self, es):
        return self.call("esState", es=es)

    def es_wait(self, es, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            state = self.es_state(es)
            if predicate(state):
                return state
            if time.monotonic() > deadline:
                raise AgentError(f"eventsource: no {what} within {timeout} "
                                 f"s: {state}")
            time.sleep(0.05)

    def es_close(self, es):
        return self.call("esClose", es=es)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                # Ours: kill it and the browser it started.
                for pid in harness.descendants(self.proc.pid):
                    harness.terminate(pid, timeout=2)
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self.log_file.close()
        os.unlink(self.log_file.name)


class Demo:
    """demo/run_demo.py on a fixed free port, stoppable and restartable
    (same port, same run directory and database)."""

    def __init__(self, env=None):
        self.port = harness.free_port()
        # Under /tmp with 0755 parents: as root the demo hands the run
        # dir to www-data, which must reach it.
        self.top = tempfile.mkdtemp(prefix="sse-demo-browser-")
        os.chmod(self.top, 0o755)
        self.run_dir = os.path.join(self.top, "run")
        self.db = os.path.join(self.run_dir, "demo.db")
        self.env = dict(os.environ, DEMO_PORT=str(self.port),
                        DEMO_RUN_DIR=self.run_dir,
                        SSE_OUTBOX_BIN=harness.responder_bin(),
                        SSE_HEARTBEAT="2", SSE_RETRY="500")
        self.env.update(env or {})
        self.proc = None
        self.log_path = os.path.join(self.top, "demo.log")
        self.starts = 0         # "Press Ctrl-C" lines seen in the log

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def start(self):
        assert self.proc is None
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(RUN_DEMO)], env=self.env,
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + DEMO_START_TIMEOUT
        mark = "Press Ctrl-C to stop."
        while True:
            text = Path(self.log_path).read_text(errors="replace")
            if text.count(mark) > self.starts:
                self.starts = text.count(mark)
                return self
            if self.proc.poll() is not None:
                self.proc = None
                harness.fail(f"demo exited while starting:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                harness.fail(f"demo did not start within "
                             f"{DEMO_START_TIMEOUT} s:\n{self.log()}")
            time.sleep(0.05)

    def stop(self):
        """Ctrl-C, as a user would; the demo stops lighttpd and the
        responder and waits for them."""
        if self.proc is None:
            return
        family = harness.descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=DEMO_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in family:
            if harness.alive(pid):
                harness.terminate(pid, timeout=3)
        self.proc = None

    def insert(self, user, event, data):
        """One row from a separate producer process; its id."""
        return harness.produce_ids(self.db, (user, event, data))[0]

    def close(self):
        """Stop, remove the run directory; fail when the demo's log (its
        lighttpd's and responder's stderr) tells of a crash."""
        self.stop()
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except OSError:
            text = ""
        shutil.rmtree(self.top, ignore_errors=True)
        crashes = harness.crash_reports(text)
        if crashes:
            harness.fail("crash reports in the demo's log:\n" +
                         "\n".join(crashes[:20]))


class StaticSite:
    """A page on a second origin: serves files from a directory on
    127.0.0.1:port in a thread of the test process."""

    def __init__(self, directory):
        directory = str(directory)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=directory, **kw)

            def log_message(self, *a):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
