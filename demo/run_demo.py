#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Run the sse-outbox demo (lighttpd, sse-outbox, a tiny producer) in one go.

    make demo            (or: python3 demo/run_demo.py after `make`)

DEVELOPMENT ONLY. The responder runs with SSE_AUTH=query: anyone who can
reach the port reads any user's stream just by naming the user. lighttpd
listens on 127.0.0.1 only.

What it does:
  * creates (or reuses) <repo>/demo-run/demo.db from sql/schema.sql;
  * writes <run dir>/lighttpd.conf and starts lighttpd in the foreground:
      /            demo/index.html + demo/demo.js (static)
      /tabs.html   demo/tabs.html + demo/tabs.js: one stream shared by
                   every tab, through /sse-outbox.js (the browser
                   helper's script build, js/dist/sse-outbox.js)
      /send.cgi    demo/send.cgi (mod_cgi): POST user, event, data -> INSERT
      /sse         build/sse-outbox spawned by mod_fastcgi "bin-path"
  * prints the URL and commands to try, then waits;
  * on Ctrl-C (SIGINT) or SIGTERM stops lighttpd (which stops the responder
    it spawned), waits for every process it started, and exits 0.

When run as root, lighttpd drops to www-data after binding the port (the
run dir and database are handed to that user); if www-data cannot reach
the repository's files, it stays root and says so.

Environment:
  DEMO_PORT       TCP port on 127.0.0.1 (default 8080)
  DEMO_RUN_DIR    run directory (default <repo>/demo-run)
  SSE_OUTBOX_BIN  responder binary (default <repo>/build/sse-outbox)
  SSE_HEARTBEAT   passed to the responder (default 15)
  SSE_LOG_LEVEL   passed to the responder (default info)
  SSE_RETRY, SSE_CORS_ORIGINS, SSE_STATS
                  passed to the responder when set (see sse-outbox --help)
"""

import ctypes
import errno
import http.client
import os
import pwd
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_DIR = os.path.join(REPO, "demo")
SCHEMA = os.path.join(REPO, "sql", "schema.sql")
DROP_USER = "www-data"          # lighttpd's user when started as root
STOP_TIMEOUT = 10.0             # seconds to wait at each shutdown step
LIBRARY = os.path.join(REPO, "js", "dist", "sse-outbox.js")  # as /sse-outbox.js
# Responder settings passed on from our environment when set.
OPTIONAL_SETTINGS = ("SSE_RETRY", "SSE_CORS_ORIGINS", "SSE_STATS")

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

stop_signal = None              # set by the SIGINT/SIGTERM handler


class DemoError(Exception):
    """A problem the user can fix; printed as one line, exit status 1."""


def say(msg=""):
    print(msg, flush=True)


def on_stop_signal(signum, _frame):
    global stop_signal
    stop_signal = signum


def prctl(option, arg):
    """prctl(2) through libc; returns False where it is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, arg, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def demo_port():
    raw = os.environ.get("DEMO_PORT", "8080")
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise DemoError(f"DEMO_PORT={raw!r} is not a port number (1-65535)")
    return int(raw)


def check_port_free(port):
    """Fail clearly if 127.0.0.1:port cannot be bound (lighttpd would fail)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # lighttpd sets SO_REUSEADDR too: a TIME_WAIT leftover is no problem.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise DemoError(
                f"port {port} on 127.0.0.1 is already in use; stop whatever "
                f"listens there or pick another port, e.g. "
                f"DEMO_PORT={port + 1} make demo") from None
        raise DemoError(f"cannot bind 127.0.0.1:{port}: "
                        f"{e.strerror}") from None
    finally:
        s.close()


def conf_str(value):
    """A lighttpd config string literal; refuse what would need escaping."""
    if any(c in value for c in '"\\') or any(ord(c) < 32 for c in value):
        raise DemoError(f"path {value!r} contains a quote, backslash or "
                        f"control character; move the repository or run dir")
    return '"' + value + '"'


def drop_target():
    """(uid, gid, name) lighttpd should run as, or None to stay as we are."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(DROP_USER)
    except KeyError:
        say(f"note: no user {DROP_USER}; lighttpd runs as root "
            f"(development only)")
        return None
    return pw.pw_uid, pw.pw_gid, DROP_USER


def can_reach(target, responder, python, run_dir):
    """Whether the unprivileged user can use every file lighttpd needs (the
    run dir itself is handed to that user, but it must reach it)."""
    uid, gid, _ = target
    script = ('test -x "$1" && test -x "$2" && test -x "$3" && shift 3 &&'
              ' for f; do test -r "$f" || exit 1; done')
    files = [responder, python, os.path.dirname(run_dir)]
    files += [os.path.join(DEMO_DIR, name) for name in
              ("index.html", "demo.js", "tabs.html", "tabs.js", "send.cgi")]
    files.append(LIBRARY)
    try:
        r = subprocess.run(["/bin/sh", "-c", script, "sh"] + files,
                           user=uid, group=gid, extra_groups=[],
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def create_db(db):
    """Create or migrate the demo database from sql/schema.sql."""
    with open(SCHEMA, encoding="utf-8") as f:
        schema = f.read()
    conn = sqlite3.connect(db)
    try:
        conn.executescript(schema)
    finally:
        conn.close()


def chown_tree(paths, uid, gid):
    for p in paths:
        if os.path.exists(p):
            os.chown(p, uid, gid)


def socket_path(run_dir, owner):
    """Where lighttpd puts the responder's FastCGI socket (it appends -0)."""
    path = os.path.join(run_dir, "sse-outbox.sock")
    if len(path.encode()) + 3 < 108:   # sizeof(sun_path)
        return path, None
    tmp = tempfile.mkdtemp(prefix="sse-demo-")
    if owner:
        os.chown(tmp, owner[0], owner[1])
    return os.path.join(tmp, "sse-outbox.sock"), tmp


def write_config(path, *, port, logs, db, responder, python, sock, user):
    heartbeat = os.environ.get("SSE_HEARTBEAT", "15")
    log_level = os.environ.get("SSE_LOG_LEVEL", "info")
    optional = "".join(
        f',\n      "{name}" => {conf_str(os.environ[name])}'
        for name in OPTIONAL_SETTINGS if name in os.environ)
    drop = ""
    if user:
        drop = (f"server.username  = {conf_str(user)}\n"
                f"server.groupname = {conf_str(user)}\n")
    conf = f"""\
# Written by demo/run_demo.py; rewritten on every run. DEVELOPMENT ONLY.
server.modules = ( "mod_access", "mod_alias", "mod_setenv", "mod_fastcgi",
                   "mod_cgi", "mod_accesslog" )
server.document-root = {conf_str(DEMO_DIR)}
server.bind = "127.0.0.1"
server.port = {port}
{drop}accesslog.filename = {conf_str(os.path.join(logs, "access.log"))}
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html; charset=utf-8",
                    ".js"   => "text/javascript; charset=utf-8" )

# Stream responses with minimal buffering: without this lighttpd holds an
# endless event stream forever.
server.stream-response-body = 2

# Serve only the demo's own files (not run_demo.py and friends).
$HTTP["url"] !~ "^/(index\\.html|demo\\.js|tabs\\.html|tabs\\.js|sse-outbox\\.js|send\\.cgi)?$|^/sse$" {{
  url.access-deny = ( "" )
}}

# The browser library, from the top of the repository.
alias.url = ( "/sse-outbox.js" => {conf_str(LIBRARY)} )

# The producer: a Python CGI that INSERTs into the outbox.
$HTTP["url"] == "/send.cgi" {{
  cgi.assign = ( ".cgi" => {conf_str(python)} )
  setenv.add-environment = ( "DEMO_DB" => {conf_str(db)} )
}}

# The responder, spawned by lighttpd; one threaded process serves every
# stream. SSE_AUTH=query is for DEVELOPMENT ONLY: anyone can read any
# user's events by naming them in ?user=. Only the path /sse itself (a
# bare "/sse" key would also take /sse-outbox.js, a prefix match).
$HTTP["url"] == "/sse" {{
  fastcgi.server = ( "/sse" => ((
    "socket"            => {conf_str(sock)},
    "bin-path"          => {conf_str(responder)},
    "max-procs"         => 1,
    "check-local"       => "disable",
    "tcp-fin-propagate" => "enable",
    "bin-copy-environment" => ( "PATH" ),
    "bin-environment"   => (
      "SSE_DB"        => {conf_str(db)},
      "SSE_AUTH"      => "query",
      "SSE_ANNOUNCE_START" => "1",
      "SSE_HEARTBEAT" => {conf_str(heartbeat)},
      "SSE_LOG_LEVEL" => {conf_str(log_level)}{optional}
    )
  )) )
}}
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(conf)


def wait_listening(proc, port, deadline):
    """True once lighttpd answers HTTP (it listens before it has spawned
    the responder; it answers only after); False if it exited first."""
    while time.monotonic() < deadline:
        if proc.poll() is not None or stop_signal is not None:
            return False
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("HEAD", "/")
            conn.getresponse()
            return True
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
        finally:
            conn.close()
    return False


def group_members(pgid):
    """Pids in process group pgid that still need us: live processes, and
    zombies that are our children (orphans reparented to this subreaper)
    until we reap them."""
    me = os.getpid()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii",
                      errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        state, ppid, group = fields[0], int(fields[1]), int(fields[2])
        if group == pgid and (state != "Z" or ppid == me):
            pids.append(int(name))
    return pids


def reap_children():
    """Reap every exited child (orphans come to us as a subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop_lighttpd(proc):
    """SIGTERM lighttpd (immediate shutdown; SIGINT would wait for every open
    stream), wait for it, then for the responder it spawned. Escalates to
    SIGKILL on the process group if anything outlives STOP_TIMEOUT.
    Returns whether everything is gone."""
    pgid = proc.pid                    # started with start_new_session
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            say("lighttpd did not stop within "
                f"{STOP_TIMEOUT:.0f}s; killing it")
            os.killpg(pgid, signal.SIGKILL)
            proc.wait()
    # lighttpd SIGTERMs the responder and exits without waiting for it;
    # as a subreaper we inherit it and reap it here.
    killed = False
    deadline = time.monotonic() + STOP_TIMEOUT
    while True:
        reap_children()
        left = group_members(pgid)
        if not left:
            return True
        if time.monotonic() > deadline:
            if killed:
                say(f"could not stop: {' '.join(map(str, left))}")
                return False
            say(f"still running after {STOP_TIMEOUT:.0f}s: "
                f"{' '.join(map(str, left))}; killing")
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            killed = True
            deadline = time.monotonic() + STOP_TIMEOUT
        time.sleep(0.05)


def lighttpd_preexec():
    # If this script dies without cleaning up, lighttpd gets SIGTERM.
    # (Cleared again if lighttpd changes user; the normal path does not
    # rely on it.)
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def run():
    port = demo_port()
    responder = os.path.abspath(os.environ.get(
        "SSE_OUTBOX_BIN", os.path.join(REPO, "build", "sse-outbox")))
    run_dir = os.path.abspath(os.environ.get(
        "DEMO_RUN_DIR", os.path.join(REPO, "demo-run")))
    python = sys.executable
    lighttpd = shutil.which("lighttpd") or "/usr/sbin/lighttpd"

    if not os.access(responder, os.X_OK):
        raise DemoError(f"{responder} not found or not executable; "
                        f"run `make` first (or `make demo`)")
    if not os.access(lighttpd, os.X_OK):
        raise DemoError("lighttpd not found; run `make deps` as root "
                        "(or `make demo`)")
    check_port_free(port)

    # The access log is not kept next to the database: the responder
    # watches that directory for commits.
    logs = os.path.join(run_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    db = os.path.join(run_dir, "demo.db")
    conf = os.path.join(run_dir, "lighttpd.conf")
    create_db(db)

    target = drop_target()
    if target and not can_reach(target, responder, python, run_dir):
        say(f"note: {DROP_USER} cannot reach the repository's files, "
            f"{python} or {os.path.dirname(run_dir)}; lighttpd runs as "
            f"root (development only)")
        target = None
    owner = target[:2] if target else None
    if owner:
        # The responder opens the database (and its -wal/-shm) and the CGI
        # writes it, both as DROP_USER; lighttpd creates its socket here
        # and opens its access log after dropping privileges.
        chown_tree([run_dir, logs, os.path.join(logs, "access.log"),
                    db, db + "-wal", db + "-shm"], *owner)

    check = subprocess.run(
        [responder, "--check"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
             "SSE_DB": db, "SSE_AUTH": "query"},
        stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check.returncode != 0:
        raise DemoError(f"{responder} --check failed:\n"
                        f"{check.stdout}{check.stderr}".rstrip())

    sock, sock_tmp = socket_path(run_dir, owner)
    write_config(conf, port=port, logs=logs, db=db,
                 responder=responder, python=python, sock=sock,
                 user=target[2] if target else None)

    # Our own session: a Ctrl-C on the terminal reaches only this script,
    # which then shuts lighttpd down in order. As a subreaper we inherit
    # the responder when lighttpd exits first, and can wait for it.
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    proc = subprocess.Popen([lighttpd, "-D", "-f", conf],
                            stdin=subprocess.DEVNULL,
                            start_new_session=True,
                            preexec_fn=lighttpd_preexec)
    try:
        if not wait_listening(proc, port, time.monotonic() + 15):
            if stop_signal is not None:
                return 0
            if proc.poll() is not None:
                raise DemoError(f"lighttpd exited with status "
                                f"{proc.returncode} (see its messages "
                                f"above); config: {conf}")
            raise DemoError(f"lighttpd did not listen on 127.0.0.1:{port} "
                            f"within 15s")
        url = f"http://127.0.0.1:{port}/"
        insert = ("INSERT INTO outbox (user_id, event, data) VALUES "
                  "('42', 'notice', '{\\\"text\\\":\\\"hi\\\"}');")
        say()
        say("sse-outbox demo is running. DEVELOPMENT ONLY: SSE_AUTH=query "
            "lets anyone read any user's events by naming them.")
        say(f"  Open:     {url}")
        say(f"  Tabs:     {url}tabs.html (open it in several tabs: one "
            f"stream for all)")
        say("  Insert:   sqlite3 " + shlex.quote(db) + f' "{insert}"')
        say(f"  Watch:    curl -N '{url}sse?user=42'")
        say(f"  Send:     curl -i -d user=42 -d event=notice "
            f"--data-urlencode 'data={{\"text\":\"hi\"}}' {url}send.cgi")
        say(f"  Run dir:  {run_dir} (lighttpd.conf, demo.db, "
            f"logs/access.log)")
        say("Press Ctrl-C to stop.")
        say()
        while stop_signal is None:
            try:
                proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            raise DemoError(f"lighttpd exited unexpectedly with status "
                            f"{proc.returncode}")
        say(f"\nstopping ({signal.Signals(stop_signal).name})...")
        return 0
    finally:
        gone = stop_lighttpd(proc)
        if sock_tmp:
            shutil.rmtree(sock_tmp, ignore_errors=True)
        if gone and stop_signal is not None:
            say("stopped; nothing left running.")


def main():
    signal.signal(signal.SIGINT, on_stop_signal)
    signal.signal(signal.SIGTERM, on_stop_signal)
    try:
        return run()
    except DemoError as e:
        print(f"demo: error: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
