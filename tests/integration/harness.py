"""Real web servers, databases and producer processes for the tests.

Every server runs from the repository's example configuration:
lighttpd-example.conf with its var.* lines rewritten, and
apache-example.conf included by a minimal httpd.conf after Define lines
that override its defaults. Each server gets its own 0777 directory
(Apache's children and the responders run as www-data) holding the
config, the database, the logs and the sockets.
"""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

import sseclient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCHEMA = ROOT / "sql" / "schema.sql"
LIGHTTPD_EXAMPLE = ROOT / "lighttpd-example.conf"
APACHE_EXAMPLE = ROOT / "apache-example.conf"
PRODUCER = HERE / "producer.py"

LIGHTTPD = "/usr/sbin/lighttpd"
APACHE = "/usr/sbin/apache2"
HTPASSWD = "/usr/bin/htpasswd"
APACHE_MODULES = "/usr/lib/apache2/modules"

# Basic-auth users known to every server (remote-user mode).
USERS = {name: name + "-pw" for name in
         ("alice", "bob", "carol", "dave", "erin", "frank", "grace",
          "heidi", "ivan", "judy", "mallory", "oscar")}

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

# Latency summaries, printed at the end of the session (conftest.py).
LATENCY_REPORTS = []


def fail(msg):
    pytest.fail(msg, pytrace=False)


def responder_bin():
    """The binary under test; missing is a failure, never a skip."""
    path = os.environ.get("SSE_OUTBOX_BIN", str(ROOT / "build" / "sse-outbox"))
    if not os.path.isabs(path):
        path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        fail(f"responder binary {path} is missing or not executable "
             f"(run `make`, or set SSE_OUTBOX_BIN)")
    return path


def require_program(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        fail(f"{path} is missing: run `make deps` (tests never skip a "
             f"missing server)")
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def make_dir(path):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o777)
    return path


def make_db(path, schema=True):
    """A fresh database from sql/schema.sql, readable and writable by the
    www-data responders (its -wal and -shm inherit the file's mode)."""
    path = Path(path)
    db = sqlite3.connect(path)
    if schema:
        db.executescript(SCHEMA.read_text())
    else:
        db.executescript("PRAGMA journal_mode = WAL;"
                         "CREATE TABLE notes (id INTEGER PRIMARY KEY, t);")
    db.close()
    os.chmod(path, 0o666)
    return path


def make_htpasswd(path):
    require_program(HTPASSWD)
    path = Path(path)
    for i, (user, password) in enumerate(USERS.items()):
        args = [HTPASSWD, "-b", "-B", "-C", "4"]
        if i == 0:
            args.append("-c")
        subprocess.run(args + [str(path), user, password], check=True,
                       capture_output=True, timeout=30)
    os.chmod(path, 0o644)
    return path


# ---- producer: always a separate process ----

def _producer_arg(v):
    return "\\N" if v is None else v


def produce(db, *rows, timeout=30):
    """Insert rows (user, event, data) from a producer process, one
    transaction each; return [(id, t_commit), ...]."""
    args = [sys.executable, str(PRODUCER), str(db)]
    for row in rows:
        args += [_producer_arg(v) for v in row]
    p = subprocess.run(args, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        fail(f"producer failed ({p.returncode}): {p.stderr.decode()}")
    out = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert len(out) == len(rows), out
    return [(o["id"], o["t_commit"]) for o in out]


def produce_ids(db, *rows):
    return [i for i, _ in produce(db, *rows)]


def start_burst(db, n, interval, user, event=None, size=0):
    """Start a producer inserting n rows; user None sends to everyone."""
    args = [sys.executable, str(PRODUCER), str(db), "--burst", str(n),
            "--interval", str(interval), "--user", user or "-",
            "--size", str(size)]
    if event is not None:
        args += ["--event", event]
    return subprocess.Popen(args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def finish_burst(p, timeout=60):
    """Wait for a start_burst producer; [{"id", "t_commit"}, ...]."""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        terminate(p.pid, popen=p, timeout=2)
        fail(f"producer did not finish within {timeout} s")
    if p.returncode != 0:
        fail(f"producer failed ({p.returncode}): {err.decode()}")
    return [json.loads(line) for line in out.decode().splitlines()]


# ---- processes (by PID, only those we started and their children) ----

def proc_stat(pid):
    """(comm, state, ppid) of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return comm, rest[0], int(rest[1])


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[1] not in ("Z", "X")


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is None or st[1] in ("Z", "X"):
            continue
        kids.setdefault(st[2], []).append(int(name))
    return kids


def descendants(pid):
    kids = children_map()
    out = []
    todo = list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def terminate(pid, timeout=STOP_TIMEOUT, popen=None):
    """SIGTERM, wait, then SIGKILL one process we started."""
    if popen is not None:
        if popen.poll() is not None:
            return
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
        return
    if not alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_until(lambda: not alive(pid), timeout):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_until(lambda: not alive(pid), 5)


# ---- logs ----

class Logs:
    """Several log files read as one, with marks to read only new lines."""

    def __init__(self, *paths):
        self.paths = [Path(p) for p in paths]

    def mark(self):
        return {p: (p.stat().st_size if p.exists() else 0)
                for p in self.paths}

    def since(self, mark=None):
        parts = []
        for p in self.paths:
            if not p.exists():
                continue
            with open(p, "rb") as f:
                f.seek((mark or {}).get(p, 0))
                parts.append(f.read().decode("utf-8", "replace"))
        return "".join(parts)

    def wait_for(self, pattern, mark=None, timeout=5.0):
        rx = re.compile(pattern)
        found = wait_until(lambda: rx.search(self.since(mark)), timeout)
        if not found:
            raise AssertionError(
                f"no log line matching {pattern!r} within {timeout} s; "
                f"log since mark:\n{self.since(mark)[-4000:]}")
        return found

    def tail(self, n=8000):
        return self.since()[-n:]


def responder_lines(text):
    """The responder's own log lines: 'sse-outbox[PID]: level: ...'."""
    return [line for line in text.splitlines()
            if re.search(r"sse-outbox\[\d+\]: ", line)]


# ---- servers ----

class Server:
    kind = "?"
    auth = "remote-user"
    path = "/events"

    def __init__(self, workdir, db, bin_path):
        self.dir = make_dir(workdir)
        self.db = Path(db)
        self.bin = bin_path
        self.port = free_port()
        self.proc = None
        self.logs = None
        self.leftovers = []     # responder PIDs that outlived the server

    @property
    def name(self):
        return f"{self.kind}:{self.port}"

    def url(self, path=None, query=""):
        u = f"http://127.0.0.1:{self.port}{path or self.path}"
        return u + ("?" + query if query else "")

    def _client_args(self, user, query, kw):
        params = []
        if self.auth == "query" and user is not None:
            params.append("user=" + urllib.parse.quote(user, safe=""))
        if query:
            params.append(query)
        if self.auth == "remote-user" and user is not None:
            kw.setdefault("auth", (user, USERS[user]))
        return self.url(kw.pop("path", None), "&".join(params)), kw

    def open(self, user=None, query="", **kw):
        """Open a stream (or any request) and return once headers came."""
        url, kw = self._client_args(user, query, kw)
        return sseclient.SSEClient(url, **kw)

    def request(self, user=None, query="", **kw):
        url, kw = self._client_args(user, query, kw)
        return sseclient.request(url, **kw)

    def produce(self, *rows):
        return produce_ids(self.db, *rows)

    def responders(self):
        """Live responder processes started (through children) by us."""
        if not self.proc:
            return []
        real = os.path.realpath(self.bin)
        return [p for p in descendants(self.proc.pid)
                if exe_of(p) == real]

    def _wait_ready(self, ready_pattern=None):
        def up():
            if self.proc.poll() is not None:
                return "exited"
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=0.5):
                    pass
            except OSError:
                return False
            if ready_pattern and not re.search(ready_pattern,
                                               self.logs.since()):
                return False
            return True
        state = wait_until(up, START_TIMEOUT)
        if state is not True:
            out = self.logs.tail()
            self.stop()
            fail(f"{self.kind} did not start on port {self.port} "
                 f"({state or 'timeout'}):\n{out}")

    def stop(self):
        if not self.proc:
            return
        family = descendants(self.proc.pid)
        terminate(self.proc.pid, popen=self.proc)
        # The server should have ended its children; end any that it
        # left behind, by PID (they are ours: we started the server).
        wait_until(lambda: not any(alive(p) for p in family), 5)
        for p in family:
            if alive(p):
                self.leftovers.append((p, exe_of(p)))
                terminate(p, timeout=3)
        self.proc = None


class Lighttpd(Server):
    """lighttpd from lighttpd-example.conf, var.* lines rewritten."""
    kind = "lighttpd"

    def __init__(self, workdir, db, bin_path, htpasswd, auth="remote-user",
                 heartbeat=1, retry=1500, max_stream=0, max_streams=1024,
                 log_level="debug", extra=""):
        super().__init__(workdir, db, bin_path)
        self.auth = auth
        make_dir(self.dir / "htdocs")
        self.conf = self.dir / "lighttpd.conf"
        self.stderr_path = self.dir / "lighttpd.stderr"
        self.errorlog = self.dir / "error.log"
        self.vars = {
            "sse_port": self.port,
            "sse_bin": bin_path,
            "sse_db": str(self.db),
            "sse_socket": str(self.dir / "sse.sock"),
            "sse_htpasswd": str(htpasswd),
            "sse_url": self.path,
            "sse_log_dir": str(self.dir),
            "sse_state_dir": str(self.dir),
            "sse_docroot": str(self.dir / "htdocs"),
            "sse_auth": auth,
            "sse_heartbeat": str(heartbeat),
            "sse_retry": str(retry),
            "sse_max_stream": str(max_stream),
            "sse_max_streams": str(max_streams),
            "sse_log_level": log_level,
        }
        text = render_lighttpd(LIGHTTPD_EXAMPLE.read_text(), self.vars)
        if auth != "remote-user":
            # The example authenticates with Basic; query mode has no
            # use for it ("development only").
            text += '\nauth.require := ()\n'
        self.conf.write_text(text + extra)
        self.logs = Logs(self.errorlog, self.stderr_path)

    def start(self):
        require_program(LIGHTTPD)
        check = subprocess.run([LIGHTTPD, "-tt", "-f", str(self.conf)],
                               capture_output=True, timeout=30)
        if check.returncode != 0:
            fail(f"lighttpd rejects {self.conf}: "
                 f"{check.stdout.decode()}{check.stderr.decode()}")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [LIGHTTPD, "-D", "-f", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=err,
                stderr=subprocess.STDOUT)
        self._wait_ready(r"serving FastCGI")
        return self


def lighttpd_literal(value):
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_lighttpd(text, values):
    """Rewrite the 'var.NAME = ...' lines of the example; each must
    exist exactly once, so a renamed variable fails loudly."""
    for name, value in values.items():
        rx = re.compile(rf"^var\.{re.escape(name)}\s*=.*$", re.M)
        hits = rx.findall(text)
        if len(hits) != 1:
            fail(f"lighttpd-example.conf: expected one var.{name} line, "
                 f"found {len(hits)}")
        text = rx.sub(lambda m: f"var.{name} = {lighttpd_literal(value)}",
                      text)
    return text


APACHE_MODS = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authn_file_module", "mod_authn_file.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("auth_basic_module", "mod_auth_basic.so"),
    ("mime_module", "mod_mime.so"),
    ("alias_module", "mod_alias.so"),
    ("env_module", "mod_env.so"),
    ("fcgid_module", "mod_fcgid.so"),
]


class Apache(Server):
    """Apache (event MPM, multi-process, foreground) including
    apache-example.conf after Define lines overriding its defaults."""
    kind = "apache"
    noauth_path = "/events-noauth"

    def __init__(self, workdir, db, bin_path, htpasswd, heartbeat=1,
                 retry=1500, max_stream=None, log_level="debug",
                 max_processes=None, extra=""):
        super().__init__(workdir, db, bin_path)
        require_program(APACHE)
        self.conf = self.dir / "httpd.conf"
        self.errorlog = self.dir / "apache-error.log"
        self.stderr_path = self.dir / "apache.stderr"
        run = make_dir(self.dir / "run")
        ipc = make_dir(self.dir / "fcgid")
        make_dir(self.dir / "htdocs")
        defines = {
            "SSE_URL": self.path,
            "SSE_BIN": bin_path,
            "SSE_DB": str(self.db),
            "SSE_HTPASSWD": str(htpasswd),
            "SSE_HEARTBEAT": heartbeat,
            "SSE_RETRY": retry,
            "SSE_LOG_LEVEL": log_level,
        }
        if max_stream is not None:
            defines["SSE_MAX_STREAM"] = max_stream
        if max_processes is not None:
            defines["SSE_MAX_PROCESSES"] = max_processes
        lines = [
            f"ServerRoot {self.dir}",
            "ServerName 127.0.0.1",
            f"PidFile {run}/apache2.pid",
            f"DefaultRuntimeDir {run}",
            f"Mutex file:{run} default",
            f"Listen 127.0.0.1:{self.port}",
            f"ErrorLog {self.errorlog}",
            "LogLevel warn",
            "User www-data",
            "Group www-data",
        ]
        lines += [f"LoadModule {m} {APACHE_MODULES}/{f}"
                  for m, f in APACHE_MODS]
        lines += [
            "TypesConfig /etc/mime.types",
            f"DocumentRoot {self.dir}/htdocs",
            "<Directory />",
            "    AllowOverride None",
            "    Require all denied",
            "</Directory>",
            f"FcgidIPCDir {ipc}",
            f"FcgidProcessTableFile {ipc}/shm",
        ]
        lines += [f"Define {k} {v}" for k, v in defines.items()]
        lines.append(f"Include {APACHE_EXAMPLE}")
        # Test only: the same program without authentication, so the
        # responder's own 401 (no REMOTE_USER) can be seen through Apache.
        lines += [
            f"Alias {self.noauth_path} ${{SSE_BIN}}",
            f"<Location {self.noauth_path}>",
            "    SetHandler fcgid-script",
            "    Options +ExecCGI",
            "    Require all granted",
            "</Location>",
        ]
        self.conf.write_text("\n".join(lines) + "\n" + extra + "\n")
        self.logs = Logs(self.errorlog, self.stderr_path)

    def start(self):
        env = dict(os.environ)
        run = str(self.dir / "run")
        env.update(APACHE_RUN_DIR=run, APACHE_LOCK_DIR=run,
                   APACHE_LOG_DIR=str(self.dir),
                   APACHE_PID_FILE=run + "/apache2.pid",
                   APACHE_RUN_USER="www-data", APACHE_RUN_GROUP="www-data",
                   LANG="C")
        check = subprocess.run([APACHE, "-t", "-f", str(self.conf)],
                               capture_output=True, timeout=30, env=env)
        if check.returncode != 0:
            fail(f"apache2 rejects {self.conf}: "
                 f"{check.stdout.decode()}{check.stderr.decode()}")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [APACHE, "-f", str(self.conf), "-DFOREGROUND"],
                stdin=subprocess.DEVNULL, stdout=err,
                stderr=subprocess.STDOUT, env=env)
        self._wait_ready(r"resuming normal operations")
        return self


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * \
        (k - lo)


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
