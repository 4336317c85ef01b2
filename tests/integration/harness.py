# SPDX-License-Identifier: BSD-2-Clause
"""Real web servers, databases and producer processes for the tests.

Every server runs from the repository's example configuration:
lighttpd-example.conf with its var.* lines rewritten and one of its
sections switched on, apache-example.conf included by a minimal
httpd.conf after Define lines that pick its way and override its
defaults, nginx-example.conf with its paths rewritten. Where the example
has the web server connect to `sse-outbox --listen`, a Listener runs
that process, as systemd would. Each server gets its own 0777 directory
(Apache's children and the responders run as www-data) holding the
config, the database, the logs and the sockets.
"""

import json
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
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
NGINX_EXAMPLE = ROOT / "nginx-example.conf"
PRODUCER = HERE / "producer.py"

LIGHTTPD = "/usr/sbin/lighttpd"
APACHE = "/usr/sbin/apache2"
NGINX = "/usr/sbin/nginx"
CURL = "/usr/bin/curl"
HTPASSWD = "/usr/bin/htpasswd"
APACHE_MODULES = "/usr/lib/apache2/modules"

# Basic-auth users known to every server (remote-user mode).
USERS = {name: name + "-pw" for name in
         ("alice", "bob", "carol", "dave", "erin", "frank", "grace",
          "heidi", "ivan", "judy", "mallory", "oscar")}
# The chaos test's 50 users (test_chaos.py).
CHAOS_USERS = [f"u{i:02d}" for i in range(50)]
USERS.update({name: name + "-pw" for name in CHAOS_USERS})

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

# Latency summaries, printed at the end of the session (conftest.py).
LATENCY_REPORTS = []
# What the fault, burst, chaos and lifecycle tests observed (times,
# counts, memory), printed at the end of the session (conftest.py).
FAULT_REPORTS = []


def report(line):
    """Print a measured figure now and in the session's summary."""
    print(line)
    FAULT_REPORTS.append(line)


# The Retry-After of every 503 and 429 (server.c), in seconds.
RETRY_AFTER = "5"


def assert_retry_after(headers, detail=None):
    """A 503 or 429 says when to come back: exactly RETRY_AFTER."""
    got = headers.get("retry-after")
    assert got == RETRY_AFTER, \
        f"Retry-After {got!r}, want {RETRY_AFTER!r}: {detail or headers}"


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


def reachable_bin(path, directory):
    """A copy of the binary at path in directory/bin, which every user
    can reach, for the web servers' users (www-data) to run. The clone
    may live where those users cannot look (under /root, mode 0700:
    Apache and lighttpd then answer 403 to every request); directory is
    the session's base directory under /tmp. Always a copy, so that the
    tests run the same way wherever the clone is."""
    bindir = Path(directory) / "bin"
    bindir.mkdir(exist_ok=True)
    os.chmod(bindir, 0o755)
    copy = bindir / os.path.basename(path)
    if not copy.exists():
        shutil.copy2(path, copy)
        os.chmod(copy, 0o755)
    return str(copy)


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


def make_secret_file(path, secret, owner="www-data"):
    """An HS256 key file as README's Security section asks: mode 600,
    owned by the user the responder runs as."""
    path = Path(path)
    path.write_bytes(secret if isinstance(secret, bytes) else
                     secret.encode())
    pw = pwd.getpwnam(owner)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o600)
    return path


# ---- sanitizers (make asan) ----

# Variables a sanitizer build reads; set by `make asan`, passed on to
# every responder (lighttpd copies its environment to bin-path children;
# mod_fcgid passes only FcgidInitialEnv).
SANITIZER_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")

# Signals that mean a crash, not a stop: SIGILL, SIGABRT, SIGBUS,
# SIGFPE, SIGSEGV.
CRASH_SIGNALS = (4, 6, 7, 8, 11)

# What a crash leaves in a server's log: a sanitizer report (on stderr,
# the error log), the web server's note of a child killed by a signal
# (Apache "exit signal Segmentation fault (11)", mod_fcgid "get
# unexpected signal 11", lighttpd "child signalled: 11", nginx "exited
# on signal 11"), a shell's "(core dumped)", and the harness's own line
# for a process it started that died of a signal (record_crash).
_SIGNUMS = "|".join(str(n) for n in CRASH_SIGNALS)
CRASH_RX = re.compile(
    r"ERROR: (?:Address|Leak|Memory|Thread)Sanitizer|"
    r"SUMMARY: \w+Sanitizer|AddressSanitizer|runtime error: |"
    r"Segmentation fault|SIGSEGV|\(core dumped\)|"
    r"exit signal (?:Aborted|Bus error|Illegal instruction|"
    r"Floating point exception)|"
    rf"\bsignal(?:led:)? (?:{_SIGNUMS})\b|"
    r"^harness: .* killed by signal ", re.M)


_SANITIZED = {}


def sanitized_build(path=None):
    """Is the responder under test built with a sanitizer (make asan)?
    Its memory use then says nothing about the program's."""
    path = path or responder_bin()
    if path not in _SANITIZED:
        with open(path, "rb") as f:
            data = f.read()
        _SANITIZED[path] = b"__asan_init" in data or \
            b"__ubsan_handle" in data
    return _SANITIZED[path]


def sanitizer_env():
    return {k: os.environ[k] for k in SANITIZER_ENV if k in os.environ}


def crash_reports(text):
    """Lines of a log that tell of a crash (CRASH_RX)."""
    return [line for line in text.splitlines() if CRASH_RX.search(line)]


# The older name, from when only sanitizer reports were looked for.
sanitizer_reports = crash_reports


def record_crash(popen, what, log_path):
    """A process we started (and have waited for) that died of a crash
    signal gets a line in its log, for the crash check to find."""
    rc = popen.returncode
    if rc is None or rc >= 0 or -rc not in CRASH_SIGNALS:
        return
    with open(log_path, "a") as f:
        f.write(f"harness: {what} (pid {popen.pid}) killed by signal "
                f"{-rc} ({signal.strsignal(-rc)})\n")


def crash_failures(servers, marks=None):
    """Crash lines in the logs of servers since marks ({id(srv): mark};
    a server without one: its whole log), one text a server."""
    out = []
    for srv in servers:
        if srv.logs is None:
            continue
        lines = srv.crash_reports((marks or {}).get(id(srv)))
        if lines:
            out.append(f"{srv.name} ({srv.dir}):\n" + "\n".join(lines[:20]))
    return out


def assert_no_crash(servers, what="server logs", marks=None):
    """Fail when any of servers logged a crash (call once they stopped:
    a leak report is written at exit)."""
    bad = crash_failures(servers, marks)
    if bad:
        fail(f"crash reports in {what}:\n" + "\n".join(bad))


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


def start_rows(db, rows, interval=0.0, batch=1):
    """Start a producer inserting rows [(user, event, data), ...] (None
    is NULL; any text), batch rows per transaction; finish_burst gives
    their ids in order."""
    where = Path(tempfile.gettempdir()) if str(db).startswith(
        ("postgresql://", "postgres://")) else Path(db).parent
    path = where / f"rows-{os.getpid()}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps([list(r) for r in rows]), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, str(PRODUCER), str(db), "--json", str(path),
         "--interval", str(interval), "--batch", str(batch)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


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


def sched_stats(pids):
    """(CPU seconds, wake-ups) of the processes so far, all threads, from
    schedstat: nanoseconds, where /proc/PID/stat counts 10 ms ticks and
    rounds a process that runs a few ms down to nothing. A process gone
    counts 0."""
    ns = runs = 0
    for pid in pids:
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    fields = f.read().split()
                ns += int(fields[0])
                runs += int(fields[2])
        except (OSError, IndexError, ValueError):
            pass
    return ns / 1e9, runs


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


# ---- an external responder: sse-outbox --listen ----

class Listener:
    """`sse-outbox --listen ADDR`, run by the tests the way systemd or
    spawn-fcgi would run it for mod_proxy_fcgi, nginx or lighttpd's
    "socket". A unix socket is created with umask 0 so the web server's
    user (www-data) can connect to it."""

    def __init__(self, workdir, db, bin_path, addr, auth="remote-user",
                 heartbeat=1, retry=1500, max_stream=0, max_streams=1024,
                 log_level="debug", env=None, user=None):
        self.dir = Path(workdir)
        self.user = user        # run as this user (default: ours)
        self.bin = bin_path
        self.addr = addr
        self.stderr_path = self.dir / "listener.stderr"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SSE_DB": str(db),
            "SSE_AUTH": auth,
            "SSE_HEARTBEAT": str(heartbeat),
            "SSE_RETRY": str(retry),
            "SSE_MAX_STREAM": str(max_stream),
            "SSE_MAX_STREAMS": str(max_streams),
            "SSE_LOG_LEVEL": log_level,
            **sanitizer_env(),
            **(env or {}),
        }
        self.proc = None
        self.logs = Logs(self.stderr_path)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, nofile=None):
        """nofile: RLIMIT_NOFILE, soft and hard, set before it runs."""
        mark = self.logs.mark()
        limit = None if nofile is None else (
            lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                       (nofile, nofile)))
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [self.bin, "--listen", self.addr], env=self.env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, umask=0, user=self.user, preexec_fn=limit)
        ready = wait_until(lambda: self.proc.poll() is not None or
                           "serving FastCGI" in self.logs.since(mark),
                           START_TIMEOUT)
        if not ready or self.proc.poll() is not None:
            out = self.logs.since(mark)
            self.stop()
            fail(f"sse-outbox --listen {self.addr} did not start:\n{out}")
        return self

    def stop(self):
        if self.proc:
            terminate(self.proc.pid, popen=self.proc)
            record_crash(self.proc, f"sse-outbox --listen {self.addr}",
                         self.stderr_path)
            self.proc = None


# ---- servers ----

class Server:
    kind = "?"
    auth = "remote-user"
    path = "/events"

    def __init__(self, workdir, db, bin_path):
        self.dir = make_dir(workdir)
        # A PostgreSQL URI stays a string (Path would fold its "//").
        self.db = db if str(db).startswith(("postgresql://",
                                            "postgres://")) else Path(db)
        self.bin = bin_path
        self.port = free_port()
        self.proc = None
        self.logs = None
        self.listener = None    # the external responder, if any
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

    def open_h2(self, user=None, query="", **kw):
        """The same over HTTP/2 without TLS (curl, prior knowledge)."""
        url, kw = self._client_args(user, query, kw)
        return sseclient.CurlSSEClient(url, http2=True, **kw)

    def request(self, user=None, query="", **kw):
        url, kw = self._client_args(user, query, kw)
        return sseclient.request(url, **kw)

    def produce(self, *rows):
        return produce_ids(self.db, *rows)

    def responders(self):
        """Live responder processes started (through children) by us."""
        found = []
        if self.proc:
            real = os.path.realpath(self.bin)
            found = [p for p in descendants(self.proc.pid)
                     if exe_of(p) == real]
        if self.listener and self.listener.pid and \
                alive(self.listener.pid):
            found.append(self.listener.pid)
        return found

    def crash_reports(self, mark=None):
        """Crash lines (CRASH_RX) in this server's logs since mark."""
        return crash_reports(self.logs.since(mark))

    sanitizer_reports = crash_reports

    def _start_listener(self):
        if self.listener:
            self.listener.start()

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

    def end_streams(self):
        """Before a teardown's stop: nothing by default."""

    def teardown(self):
        """A test's end: its streams ended first where the server's own
        stop would wait on them (end_streams), then stop."""
        self.end_streams()
        self.stop()

    def stop(self):
        if self.proc:
            family = descendants(self.proc.pid)
            terminate(self.proc.pid, popen=self.proc)
            if getattr(self, "stderr_path", None):
                record_crash(self.proc, self.kind, self.stderr_path)
            # The server should have ended its children; end any that it
            # left behind, by PID (they are ours: we started the server).
            wait_until(lambda: not any(alive(p) for p in family), 5)
            for p in family:
                if alive(p):
                    self.leftovers.append((p, exe_of(p)))
                    terminate(p, timeout=3)
            self.proc = None
        if self.listener:
            self.listener.stop()


def documented_spawn_limit():
    """The server-level lines docs/apache.md gives for mod_fcgid's
    spawn brake, as a user would paste them."""
    text = (ROOT / "docs" / "apache.md").read_text()
    for block in text.split("```apache\n")[1:]:
        block = block.split("```", 1)[0]
        if "FcgidSpawnScoreUpLimit" in block:
            return block
    fail("docs/apache.md: no block with FcgidSpawnScoreUpLimit")


def replace_once(text, replace, fname):
    """Test-only edits of an example file: each old string must occur
    exactly once, so an edited example fails loudly."""
    for old, new in (replace or {}).items():
        if text.count(old) != 1:
            fail(f"{fname}: expected {old!r} exactly once, found "
                 f"{text.count(old)}")
        text = text.replace(old, new)
    return text


def select_sections(text, chosen, fname):
    """Pick one '# ==== [name] ...' section of an example file: its
    commented-out configuration lines ('#' directly followed by the
    text, as a user would uncomment them) become active, and every
    other section's active lines are commented out. Explanatory
    comments ('# ...') are left alone. Sections end at '# ==== [end]'."""
    out = []
    current = None
    names = set()
    for line in text.splitlines(keepends=True):
        m = re.match(r"# ==== \[([\w-]+)\]", line)
        if m:
            current = None if m.group(1) == "end" else m.group(1)
            if current:
                names.add(current)
            out.append(line)
            continue
        body = line.rstrip("\n")
        if current is None or body == "" or body == "#" or \
                body.startswith("# "):
            out.append(line)
        elif current == chosen:
            out.append(line[1:] if body.startswith("#") else line)
        else:
            out.append(line if body.startswith("#") else "#" + line)
    if chosen not in names:
        fail(f"{fname}: no section [{chosen}] (found {sorted(names)})")
    return "".join(out)


class Lighttpd(Server):
    """lighttpd from lighttpd-example.conf, var.* lines rewritten and
    one of its sections chosen:

    fastcgi-spawn   mod_fastcgi, lighttpd starts the responder (bin-path)
    fastcgi-socket  mod_fastcgi to `sse-outbox --listen` (a Listener)
    cgi             mod_cgi, one responder process per stream
    """
    kind = "lighttpd"
    MODES = ("fastcgi-spawn", "fastcgi-socket", "cgi")

    def __init__(self, workdir, db, bin_path, htpasswd, auth="remote-user",
                 heartbeat=1, retry=1500, max_stream=0, max_streams=1024,
                 log_level="debug", extra="", env=None, mode="fastcgi-spawn",
                 replace=None, listener_user=None):
        super().__init__(workdir, db, bin_path)
        if mode not in self.MODES:
            raise ValueError(mode)
        self.mode = mode
        self.auth = auth
        if mode != "fastcgi-spawn":
            self.kind = f"lighttpd-{mode}"
        make_dir(self.dir / "htdocs")
        self.conf = self.dir / "lighttpd.conf"
        self.stderr_path = self.dir / "lighttpd.stderr"
        self.errorlog = self.dir / "error.log"
        listen_socket = self.dir / "listen.sock"
        self.vars = {
            "sse_bin": bin_path,
            "sse_db": str(self.db),
            "sse_socket": str(self.dir / "sse.sock"),
            "sse_listen_socket": str(listen_socket),
            "sse_htpasswd": str(htpasswd),
            "sse_url": self.path,
            "sse_auth": auth,
            "sse_heartbeat": str(heartbeat),
            "sse_retry": str(retry),
            "sse_max_stream": str(max_stream),
            "sse_max_streams": str(max_streams),
            "sse_log_level": log_level,
        }
        text = replace_once(LIGHTTPD_EXAMPLE.read_text(), replace,
                            LIGHTTPD_EXAMPLE.name)
        text = render_lighttpd(text, self.vars)
        # The example adds to a lighttpd.conf; these are the lines of
        # one (as examples/lighttpd/standalone.conf has them).
        text = lighttpd_basics(self.port, self.dir) + text
        if env and mode == "fastcgi-spawn":
            # Further responder variables (SSE_JWT_SECRET_FILE ...),
            # added to the example's bin-environment.
            text = add_lighttpd_env(text, env)
        text = select_sections(text, mode, LIGHTTPD_EXAMPLE.name)
        if auth != "remote-user":
            # The example authenticates with Basic; query mode has no
            # use for it ("development only").
            text += '\nauth.require := ()\n'
        if extra:
            # Test additions may name the document root.
            extra = (f"var.sse_docroot = "
                     f"{lighttpd_literal(self.dir / 'htdocs')}\n"
                     + extra)
        self.conf.write_text(text + extra)
        paths = [self.errorlog, self.stderr_path]
        if mode == "fastcgi-socket":
            self.listener = Listener(
                self.dir, self.db, bin_path, str(listen_socket), auth=auth,
                heartbeat=heartbeat, retry=retry, max_stream=max_stream,
                max_streams=max_streams, log_level=log_level, env=env,
                user=listener_user)
            paths.append(self.listener.stderr_path)
        self.logs = Logs(*paths)

    def start(self):
        require_program(LIGHTTPD)
        check = subprocess.run([LIGHTTPD, "-tt", "-f", str(self.conf)],
                               capture_output=True, timeout=30)
        if check.returncode != 0:
            fail(f"lighttpd rejects {self.conf}: "
                 f"{check.stdout.decode()}{check.stderr.decode()}")
        self._start_listener()
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [LIGHTTPD, "-D", "-f", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=err,
                stderr=subprocess.STDOUT)
        self._wait_ready(r"serving FastCGI" if self.mode == "fastcgi-spawn"
                         else None)
        return self


def lighttpd_basics(port, workdir):
    """The settings of a lighttpd.conf that lighttpd-example.conf is
    added to, for a server of the tests in workdir."""
    workdir = Path(workdir)
    return "".join(f"{k} = {lighttpd_literal(v)}\n" for k, v in (
        ("server.port", port),
        ("server.bind", "127.0.0.1"),
        ("server.document-root", str(workdir / "htdocs")),
        ("server.errorlog", str(workdir / "error.log")),
        ("server.pid-file", str(workdir / "lighttpd-sse.pid")),
        ("server.username", "www-data"),
        ("server.groupname", "www-data"))) + "\n"


def lighttpd_literal(value):
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def add_lighttpd_env(text, env):
    rx = re.compile(r'^(\s*)"bin-environment"\s*=>\s*\($', re.M)
    hits = rx.findall(text)
    if len(hits) != 1:
        fail(f"lighttpd-example.conf: expected one bin-environment line, "
             f"found {len(hits)}")
    lines = "".join(f"\n\t\t{lighttpd_literal(k)} => "
                    f"{lighttpd_literal(v)}," for k, v in env.items())
    return rx.sub(lambda m: m.group(0) + lines, text)


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


# Loaded by the harness's httpd.conf; apache-example.conf loads the
# module of the way it is told to use (mod_fcgid, mod_proxy_fcgi,
# mod_cgid, mod_http2) itself.
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
    ("authz_host_module", "mod_authz_host.so"),
]

# What `a2enmod` enables for each way (apache-example.conf loads no
# module: it goes inside a <VirtualHost>).
APACHE_MODE_MODS = {
    "fcgid": [("fcgid_module", "mod_fcgid.so")],
    "proxy-tcp": [("proxy_module", "mod_proxy.so"),
                  ("proxy_fcgi_module", "mod_proxy_fcgi.so")],
    "proxy-unix": [("proxy_module", "mod_proxy.so"),
                   ("proxy_fcgi_module", "mod_proxy_fcgi.so")],
    "cgi": [("cgid_module", "mod_cgid.so")],
    "http2": [("http2_module", "mod_http2.so")],
}

APACHE_MODE_DEFINES = {
    "fcgid": "SSE_MODE_FCGID",
    "proxy-tcp": "SSE_MODE_PROXY_TCP",
    "proxy-unix": "SSE_MODE_PROXY_UNIX",
    "cgi": "SSE_MODE_CGI",
}


def apache_base_lines(server_root, run, port, errorlog):
    """The first lines of every Apache configuration the tests write:
    its own root, runtime directory and port; children as www-data."""
    return [
        f"ServerRoot {server_root}",
        "ServerName 127.0.0.1",
        f"PidFile {run}/apache2.pid",
        f"DefaultRuntimeDir {run}",
        f"Mutex file:{run} default",
        f"Listen 127.0.0.1:{port}",
        f"ErrorLog {errorlog}",
        "LogLevel warn",
        "User www-data",
        "Group www-data",
    ]


class Apache(Server):
    """Apache (event MPM, multi-process, foreground) including
    apache-example.conf after Define lines choosing its way (mode:
    fcgid, proxy-tcp, proxy-unix or cgi; http2 adds SSE_HTTP2) and
    overriding its defaults. The proxy ways get a Listener."""
    kind = "apache"
    noauth_path = "/events-noauth"

    def end_streams(self):
        """A test's teardown: SIGTERM to the responders first (as
        mod_fcgid's process manager sends when it retires a process), so
        that each ends its streams at once. Apache's own stop does not
        interrupt a worker thread waiting on a stream: its children then
        exit only at the second signal of its reclaim loop, 1.4 s later
        (3.4 s under mod_cgid), which every Apache test paid. Tests of
        what a server's own stop does call stop() alone."""
        pids = self.responders()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        wait_until(lambda: not any(alive(p) for p in pids), 3)

    def __init__(self, workdir, db, bin_path, htpasswd, heartbeat=1,
                 retry=1500, max_stream=None, log_level="debug",
                 max_processes=None, extra="", mode="fcgid", http2=False,
                 silence_timeout=None, busy_timeout=None, timeout=None,
                 env=None, replace=None, jwt=None):
        """jwt: the path of an HS256 key file: Define SSE_JWT (Basic
        auth off, SSE_AUTH=jwt with that SSE_JWT_SECRET_FILE)."""
        super().__init__(workdir, db, bin_path)
        require_program(APACHE)
        if jwt:
            self.auth = "jwt"
        if mode not in APACHE_MODE_DEFINES:
            raise ValueError(mode)
        self.mode = mode
        self.http2 = http2
        if mode != "fcgid" or http2:
            self.kind = "apache-" + mode + ("-h2c" if http2 else "")
        self.conf = self.dir / "httpd.conf"
        self.errorlog = self.dir / "apache-error.log"
        self.stderr_path = self.dir / "apache.stderr"
        run = make_dir(self.dir / "run")
        ipc = make_dir(self.dir / "fcgid")
        make_dir(self.dir / "htdocs")
        listen_tcp = f"127.0.0.1:{free_port()}"
        listen_socket = str(self.dir / "listen.sock")
        defines = {
            "SSE_URL": self.path,
            "SSE_BIN": bin_path,
            "SSE_DB": str(self.db),
            "SSE_HTPASSWD": str(htpasswd),
            "SSE_HEARTBEAT": heartbeat,
            "SSE_RETRY": retry,
            "SSE_LOG_LEVEL": log_level,
            "SSE_LISTEN_TCP": listen_tcp,
            "SSE_LISTEN_SOCKET": listen_socket,
        }
        if max_stream is not None:
            defines["SSE_MAX_STREAM"] = max_stream
        if max_processes is not None:
            defines["SSE_MAX_PROCESSES"] = max_processes
        if silence_timeout is not None:
            defines["SSE_SILENCE_TIMEOUT"] = silence_timeout
        if busy_timeout is not None:
            defines["SSE_BUSY_TIMEOUT"] = busy_timeout
        lines = apache_base_lines(self.dir, run, self.port, self.errorlog)
        if timeout is not None:
            lines.append(f"Timeout {timeout}")
        mods = APACHE_MODS + APACHE_MODE_MODS[mode] + \
            (APACHE_MODE_MODS["http2"] if http2 else [])
        lines += [f"LoadModule {m} {APACHE_MODULES}/{f}" for m, f in mods]
        lines += [
            "TypesConfig /etc/mime.types",
            f"DocumentRoot {self.dir}/htdocs",
            "<Directory />",
            "    AllowOverride None",
            "    Require all denied",
            "</Directory>",
        ]
        # mod_fcgid is the example's default: no Define, as a user
        # who only includes the file.
        if mode != "fcgid":
            lines.append(f"Define {APACHE_MODE_DEFINES[mode]}")
        if http2:
            lines.append("Define SSE_HTTP2")
        lines += [f"Define {k} {v}" for k, v in defines.items()]
        example = APACHE_EXAMPLE
        if replace:
            # A deliberately broken copy (the doctor's tests).
            example = self.dir / "apache-example.conf"
            example.write_text(replace_once(APACHE_EXAMPLE.read_text(),
                                            replace, APACHE_EXAMPLE.name))
        if jwt:
            lines.append("Define SSE_JWT")
            lines.append(f"Define SSE_JWT_SECRET_FILE {jwt}")
        # Server-level settings of the modules.
        lines += [
            "<IfModule fcgid_module>",
            f"    FcgidIPCDir {ipc}",
            f"    FcgidProcessTableFile {ipc}/shm",
            "</IfModule>",
            "<IfModule cgid_module>",
            f"    ScriptSock {run}/cgisock",
            "</IfModule>",
        ]
        # Inside a <VirtualHost>, where the example says it belongs.
        lines.append(f"<VirtualHost 127.0.0.1:{self.port}>")
        lines.append(f"Include {example}")
        responder_env = {**sanitizer_env(), **(env or {})}
        if mode == "fcgid":
            # mod_fcgid passes its children only FcgidInitialEnv (a later
            # one for the same name replaces the example's): the
            # sanitizer options of `make asan`, and env (e.g. SSE_AUTH
            # jwt).
            for k, v in responder_env.items():
                lines.append(f'FcgidInitialEnv {k} "{v}"')
        elif mode == "cgi" and responder_env:
            lines.append(f"<Location {self.path}>")
            lines += [f'    SetEnv {k} "{v}"'
                      for k, v in responder_env.items()]
            lines.append("</Location>")
        if mode == "fcgid":
            # Test only: the same program without authentication, so
            # the responder's own 401 (no REMOTE_USER) can be seen
            # through Apache.
            lines += [
                f"Alias {self.noauth_path} ${{SSE_BIN}}",
                f"<Location {self.noauth_path}>",
                "    SetHandler fcgid-script",
                "    Options +ExecCGI",
                "    Require all granted",
                "</Location>",
            ]
        lines.append("</VirtualHost>")
        self.conf.write_text("\n".join(lines) + "\n" + extra + "\n")
        paths = [self.errorlog, self.stderr_path]
        if mode.startswith("proxy-"):
            addr = listen_tcp if mode == "proxy-tcp" else listen_socket
            listener_env = dict(env or {})
            if mode == "proxy-tcp":
                # As apache-example.conf tells the service to: a TCP
                # port with remote-user must be declared private.
                listener_env.setdefault("SSE_TRUST_TCP", "1")
            self.listener = Listener(
                self.dir, self.db, bin_path, addr, heartbeat=heartbeat,
                retry=retry, max_stream=max_stream or 0,
                log_level=log_level, env=listener_env)
            paths.append(self.listener.stderr_path)
        self.logs = Logs(*paths)

    def env(self):
        env = dict(os.environ)
        run = str(self.dir / "run")
        env.update(APACHE_RUN_DIR=run, APACHE_LOCK_DIR=run,
                   APACHE_LOG_DIR=str(self.dir),
                   APACHE_PID_FILE=run + "/apache2.pid",
                   APACHE_RUN_USER="www-data", APACHE_RUN_GROUP="www-data",
                   LANG="C")
        return env

    def start(self):
        env = self.env()
        check = subprocess.run([APACHE, "-t", "-f", str(self.conf)],
                               capture_output=True, timeout=30, env=env)
        if check.returncode != 0:
            fail(f"apache2 rejects {self.conf}: "
                 f"{check.stdout.decode()}{check.stderr.decode()}")
        self._start_listener()
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [APACHE, "-f", str(self.conf), "-DFOREGROUND"],
                stdin=subprocess.DEVNULL, stdout=err,
                stderr=subprocess.STDOUT, env=env)
        self._wait_ready(r"resuming normal operations")
        return self


def render_nginx(text, values):
    """Rewrite the value of directives of nginx-example.conf (each must
    appear exactly once, so a renamed one fails loudly)."""
    for name, value in values.items():
        rx = re.compile(rf"^(\s*{re.escape(name)}\s+)([^;{{]*?)(\s*[;{{])",
                        re.M)
        hits = rx.findall(text)
        if len(hits) != 1:
            fail(f"nginx-example.conf: expected one {name} directive, "
                 f"found {len(hits)}")
        text = rx.sub(lambda m: m.group(1) + str(value) + m.group(3), text)
    return text


class Nginx(Server):
    """nginx from nginx-example.conf (directives rewritten) in front of a
    Listener on a unix socket."""
    kind = "nginx"

    def __init__(self, workdir, db, bin_path, htpasswd, heartbeat=1,
                 retry=1500, max_stream=0, log_level="debug", extra="",
                 read_timeout=None, replace=None, env=None,
                 section="basic", extra_values=None, auth="remote-user"):
        super().__init__(workdir, db, bin_path)
        self.auth = auth
        if section != "basic":
            self.kind = f"nginx-{section}"
        self.conf = self.dir / "nginx.conf"
        self.errorlog = self.dir / "error.log"
        self.stderr_path = self.dir / "nginx.stderr"
        listen_socket = self.dir / "listen.sock"
        values = {
            "listen": f"127.0.0.1:{self.port}",
            "pid": str(self.dir / "nginx.pid"),
            "error_log": f"{self.errorlog} info",
            "access_log": str(self.dir / "access.log"),
            "auth_basic_user_file": str(htpasswd),
            "fastcgi_pass": f"unix:{listen_socket}",
        }
        if read_timeout is not None:
            values["fastcgi_read_timeout"] = read_timeout
        text = replace_once(NGINX_EXAMPLE.read_text(), replace,
                            NGINX_EXAMPLE.name)
        # One of the example's sections ([basic], [sso], [jwt]): who
        # the user is.
        text = select_sections(text, section, NGINX_EXAMPLE.name)
        if section != "basic":
            del values["auth_basic_user_file"]
        text = render_nginx(text, {**values, **(extra_values or {})})
        text, n = re.subn(r"^(\s*)location /events \{",
                          lambda m: f"{m.group(1)}location {self.path} {{",
                          text, flags=re.M)
        if n != 1:
            fail(f"{NGINX_EXAMPLE.name}: expected one 'location /events "
                 f"{{' line, found {n}")
        # Test-only additions go inside the http block.
        text = text.replace("\nhttp {\n", "\nhttp {\n" + extra + "\n", 1)
        self.conf.write_text(text)
        self.listener = Listener(self.dir, self.db, bin_path,
                                 str(listen_socket), auth=auth,
                                 heartbeat=heartbeat,
                                 retry=retry, max_stream=max_stream,
                                 log_level=log_level, env=env)
        self.logs = Logs(self.errorlog, self.stderr_path,
                         self.listener.stderr_path)

    def _args(self):
        return [NGINX, "-c", str(self.conf), "-p", str(self.dir),
                "-e", str(self.errorlog)]

    def start(self):
        require_program(NGINX)
        check = subprocess.run(self._args() + ["-t"], capture_output=True,
                               timeout=30)
        if check.returncode != 0:
            fail(f"nginx rejects {self.conf}: "
                 f"{check.stdout.decode()}{check.stderr.decode()}")
        self._start_listener()
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self._args() + ["-g", "daemon off;"],
                stdin=subprocess.DEVNULL, stdout=err,
                stderr=subprocess.STDOUT)
        self._wait_ready()
        return self


def run_parallel(jobs, fn, workers=8):
    """fn(job) for every job in threads; {job: (error text or None,
    seconds)}. For tests that mostly wait (on servers, on timers), so a
    matrix of them takes the time of its slowest few."""
    import concurrent.futures
    import traceback

    def one(job):
        t0 = time.monotonic()
        try:
            fn(job)
            return job, (None, time.monotonic() - t0)
        except BaseException as e:     # pytest.fail raises BaseException
            return job, ("".join(traceback.format_exception(e)),
                         time.monotonic() - t0)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, jobs))


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
