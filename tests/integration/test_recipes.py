# SPDX-License-Identifier: BSD-2-Clause
"""The deployment recipes cannot be misconfigured into a leak, each run
through the real server from the example file or the docs page a user
copies: a forged Basic header gets nobody's rows through any nginx
set-up; remote-user refuses a TCP --listen unless declared private;
?stats answers only at the responder's own path; the doctor takes its
credential from a file or the environment; a database directory the
server's user cannot write is named with the commands that fix it."""

import base64
import os
import re
import subprocess
import time

import pytest

import harness
import sseclient

SECRET = "k" * 40           # HS256 key of the jwt set-ups


def basic(user, password):
    cred = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": "Basic " + cred}


def token_for(responder, user):
    return subprocess.run([responder, "token", "--user", user],
                          env={"SSE_JWT_SECRET": SECRET},
                          capture_output=True, timeout=10,
                          check=True).stdout.decode().strip()


def read_rows(srv, headers, settle=1.5):
    """(status, [data of each event]) of a stream from the start of the
    outbox, read until nothing more arrives."""
    c = sseclient.SSEClient(srv.url(query="lastEventId=0"),
                            headers=headers)
    try:
        if c.status != 200:
            return c.status, []
        deadline = time.monotonic() + 10
        seen = -1
        while len(c.events) != seen and time.monotonic() < deadline:
            seen = len(c.events)
            time.sleep(settle)
        return 200, [e.data for e in c.events]
    finally:
        c.close()


def seed(srv):
    srv.produce(("bob", "m", "bob-secret"), ("alice", "m", "alice-row"))


# ---- nginx: REMOTE_USER only where nginx verified it ----

# Stands in for the login app behind auth_request: 2xx with X-User for
# alice's session cookie, 401 for anything else (a Basic header
# included).
SSO_STUB = """
	server {{
		listen 127.0.0.1:{port};
		location = /auth/whoami {{
			if ($http_cookie ~ "session=alice-session") {{
				add_header X-User alice;
				return 204;
			}}
			return 401;
		}}
	}}
"""

FORGED = basic("bob", "anything")


def nginx_setup(servers, section, auth="remote-user", replace=None):
    opts = {"section": section, "auth": auth, "replace": replace}
    if section == "sso":
        port = harness.free_port()
        opts["extra"] = SSO_STUB.format(port=port)
        opts["extra_values"] = {
            "proxy_pass": f"http://127.0.0.1:{port}/auth/whoami"}
    if auth == "jwt":
        opts["env"] = {"SSE_JWT_SECRET": SECRET}
    srv = servers.nginx(**opts)
    seed(srv)
    return srv


def test_nginx_basic_forged_header(servers):
    srv = nginx_setup(servers, "basic")
    assert read_rows(srv, FORGED)[0] == 401
    status, rows = read_rows(srv, basic("alice", harness.USERS["alice"]))
    assert (status, rows) == (200, ["alice-row"])


def test_nginx_sso_forged_header(servers):
    srv = nginx_setup(servers, "sso")
    assert read_rows(srv, FORGED)[0] == 401
    # A forged header next to alice's session: alice's rows, never bob's.
    status, rows = read_rows(srv, {**FORGED,
                                   "Cookie": "session=alice-session"})
    assert (status, rows) == (200, ["alice-row"])


def test_nginx_jwt_forged_header(servers, responder):
    srv = nginx_setup(servers, "jwt", auth="jwt")
    status, rows = read_rows(srv, FORGED)
    assert status == 401 and rows == []
    status, rows = read_rows(srv, {"Cookie": "sse_token=" +
                                   token_for(responder, "alice")})
    assert (status, rows) == (200, ["alice-row"])


def test_nginx_no_auth_clears_remote_user(servers):
    """The [jwt] location run with SSE_AUTH=remote-user by mistake: nginx
    checks nothing, and the cleared REMOTE_USER leaves the responder
    nobody to serve. Without the clearing line the same request reads
    bob's stream: the leak this recipe closes (and the proof that this
    test sees one)."""
    srv = nginx_setup(servers, "jwt")
    assert read_rows(srv, FORGED)[0] == 401
    leaky = nginx_setup(servers, "jwt", replace={
        '#\t\t\tfastcgi_param REMOTE_USER "";\n': ""})
    assert read_rows(leaky, FORGED) == (200, ["bob-secret"])


# ---- Apache: inside a <VirtualHost>, Basic or Define SSE_JWT ----

def test_apache_vhost_basic_forged_header(servers):
    srv = servers.apache()
    seed(srv)
    assert "<VirtualHost" in srv.conf.read_text()
    assert read_rows(srv, FORGED)[0] == 401
    status, rows = read_rows(srv, basic("alice", harness.USERS["alice"]))
    assert (status, rows) == (200, ["alice-row"])


@pytest.mark.parametrize("mode", ["fcgid", "proxy-unix"])
def test_apache_jwt_cookie(servers, responder, mode):
    """Define SSE_JWT: Apache asks for no password, the login's cookie
    is the credential, and a Basic header is nobody."""
    workdir = servers._dir("apache-jwt")
    key = harness.make_secret_file(workdir / "jwt.key", SECRET)
    env = None
    if mode != "fcgid":
        # The service's own environment (examples/systemd/).
        env = {"SSE_AUTH": "jwt", "SSE_JWT_SECRET_FILE": str(key)}
    srv = harness.Apache(workdir, servers._db(workdir, "fresh"), responder,
                         servers.htpasswd, mode=mode, jwt=str(key), env=env)
    servers._start(srv)
    seed(srv)
    cookie = {"Cookie": "sse_token=" + token_for(responder, "alice")}
    assert read_rows(srv, cookie) == (200, ["alice-row"])
    # mod_proxy_fcgi turns a refusal into 503 when the responder has
    # answered and closed before Apache sent its empty stdin record (a
    # race of the acceptor's close, seen here, not of this recipe).
    refused = (401,) if mode == "fcgid" else (401, 503)
    assert read_rows(srv, FORGED) in [(s, []) for s in refused]
    c = sseclient.SSEClient(srv.url())
    try:
        assert c.status in refused
        if c.status == 401:
            # The responder's answer, not Apache's Basic challenge.
            assert "bearer" in c.headers.get("www-authenticate",
                                             "").lower()
    finally:
        c.close()


# ---- lighttpd: added to Debian's own lighttpd.conf next to PHP ----

DEBIAN_LIGHTTPD = "/etc/lighttpd/lighttpd.conf"
DEBIAN_AVAILABLE = "/etc/lighttpd/conf-available"


def test_lighttpd_example_in_debian_config_with_php(servers, responder):
    """lighttpd-example.conf as 50-sse-outbox.conf in Debian's
    lighttpd.conf, with auth, fastcgi and PHP's fastcgi config enabled
    (lighty-enable-mod auth fastcgi fastcgi-php): lighttpd -tt accepts
    it (with `fastcgi.server =` it said "Duplicate config variable"),
    it serves a stream, and PHP still runs."""
    harness.require_program("/usr/bin/php-cgi")
    workdir = servers._dir("lighttpd-debian")
    srv = harness.Lighttpd(workdir, servers._db(workdir, "fresh"),
                           responder, servers.htpasswd)
    example = srv.conf.read_text()
    basics = harness.lighttpd_basics(srv.port, srv.dir)
    assert example.startswith(basics)
    (srv.dir / "50-sse-outbox.conf").write_text(example[len(basics):])
    text = open(DEBIAN_LIGHTTPD).read()
    # Only where this copy runs: its port, logs and files.
    text = harness.replace_once(text, {
        "server.port                 = 80":
            f"server.port                 = {srv.port}",
        '"/run/lighttpd.pid"': f'"{srv.dir}/lighttpd.pid"',
        '"/var/log/lighttpd/error.log"': f'"{srv.errorlog}"',
        '"/var/www/html"': f'"{srv.dir}/htdocs"',
        'include "/etc/lighttpd/conf-enabled/*.conf"':
            "".join(f'include "{DEBIAN_AVAILABLE}/{name}"\n' for name in
                    ("05-auth.conf", "10-fastcgi.conf",
                     "15-fastcgi-php.conf")) +
            f'include "{srv.dir}/50-sse-outbox.conf"',
    }, DEBIAN_LIGHTTPD)
    srv.conf.write_text(text)
    (srv.dir / "htdocs" / "hello.php").write_text(
        "<?php echo 'php ' . (6 * 7);\n")
    servers._start(srv)
    seed(srv)
    status, rows = read_rows(srv, basic("alice", harness.USERS["alice"]))
    assert (status, rows) == (200, ["alice-row"])
    assert read_rows(srv, FORGED)[0] == 401
    r = sseclient.request(srv.url(path="/hello.php"))
    assert r.status == 200 and b"php 42" in bytes(r.raw), r.describe()


def test_lighttpd_example_assigns_nothing_twice():
    """Every array the example gives lighttpd is added to (+=), so a
    lighttpd.conf that already has one (PHP's fastcgi.server, another
    site's auth.require) keeps it."""
    text = harness.LIGHTTPD_EXAMPLE.read_text()
    for name in ("fastcgi.server", "auth.require", "alias.url",
                 "server.modules"):
        for m in re.finditer(rf"^#?\s*{re.escape(name)}\s*(\S+)", text,
                             re.M):
            assert m.group(1) == "+=", (name, m.group(0))


# ---- --listen on TCP with remote-user ----

def run_responder(responder, args, env, timeout=10):
    p = subprocess.run([responder, *args], env={"PATH": "/usr/bin:/bin",
                                                 **env},
                       capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def test_remote_user_refuses_tcp_listen(base_dir, responder):
    d = harness.make_dir(base_dir / f"tcp-{time.monotonic_ns()}")
    db = harness.make_db(d / "app.db")
    port = harness.free_port()
    env = {"SSE_DB": str(db), "SSE_AUTH": "remote-user"}
    for args, extra in (([f"--listen=127.0.0.1:{port}"], {}),
                        ([], {"SSE_LISTEN": f"127.0.0.1:{port}"}),
                        (["--listen", f"localhost:{port}"], {})):
        rc, out = run_responder(responder, args, {**env, **extra})
        assert rc == 1, out
        assert "SSE_TRUST_TCP" in out and "unix socket" in out, out
        # --check says the same.
        rc, out = run_responder(responder, args + ["--check"],
                                {**env, **extra})
        assert rc == 1 and "SSE_TRUST_TCP" in out, out
    # Declared private: it serves.
    lst = harness.Listener(d, db, responder, f"127.0.0.1:{port}",
                           env={"SSE_TRUST_TCP": "1"})
    lst.start()
    lst.stop()
    # A unix socket needs no such word; nor does jwt on TCP.
    harness.Listener(d, db, responder, str(d / "sse.sock")).start().stop()
    lst = harness.Listener(d, db, responder, f"127.0.0.1:{port}",
                           auth="jwt", env={"SSE_JWT_SECRET": SECRET})
    lst.start()
    lst.stop()
    rc, out = run_responder(responder, ["--check"], {
        **env, "SSE_LISTEN": f"127.0.0.1:{port}", "SSE_TRUST_TCP": "2"})
    assert rc == 1 and "SSE_TRUST_TCP" in out, out


# ---- ?stats only at the responder's own path ----

def stats_get(srv, target, source="127.0.0.1", user=None):
    headers = basic(user, harness.USERS[user]) if user else None
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10,
                                      source_address=(source, 0))
    try:
        conn.request("GET", target, headers=headers or {})
        r = conn.getresponse()
        ctype = r.getheader("content-type", "")
        body = b"" if ctype.startswith("text/event-stream") else r.read()
        return r.status, ctype, body.decode("utf-8", "replace")
    finally:
        conn.close()


BYPASSES = ("/events/?stats", "/events/x?stats", "/eventsX?stats")


def test_lighttpd_stats_bypasses(servers):
    """lighttpd hands /events/, /events/x and /eventsX to the program of
    "/events" (a prefix): from another address none of them gives the
    metrics, and even where the address is allowed only /events?stats
    itself answers them."""
    srv = servers.lighttpd(env={"SSE_STATS": "1"})
    status, ctype, body = stats_get(srv, "/events?stats", user="alice")
    assert status == 200 and "sse_outbox_open_streams" in body
    for target in ("/events?stats",) + BYPASSES:
        for user in ("alice", None):
            status, ctype, body = stats_get(srv, target, "127.0.0.2", user)
            assert status in (401, 403, 404), (target, status, body)
            assert "sse_outbox_" not in body, target
    # Allowed address, extra path: a stream request, never the metrics.
    for target in BYPASSES[:2]:
        status, ctype, body = stats_get(srv, target, user="alice")
        assert "sse_outbox_" not in body, target
        assert not ctype.startswith("text/plain; version"), target


def test_apache_stats_extra_path(servers):
    srv = servers.apache(env={"SSE_STATS": "1"})
    status, ctype, body = stats_get(srv, "/events?stats", user="bob")
    assert status == 200 and "sse_outbox_open_streams" in body
    for target in BYPASSES:
        status, ctype, body = stats_get(srv, target, "127.0.0.2", "bob")
        assert "sse_outbox_" not in body, target
        status, ctype, body = stats_get(srv, target, user="bob")
        assert "sse_outbox_" not in body, target


# ---- doctor: the credential off the command line ----

def doctor(responder, *args, env=None, stdin=None):
    p = subprocess.run([responder, "doctor", *args], capture_output=True,
                       timeout=60, input=stdin,
                       env={"PATH": "/usr/bin:/bin", **(env or {})})
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_doctor_credentials_from_file_and_environment(servers, responder,
                                                      tmp_path):
    srv = servers.lighttpd(heartbeat=30)
    good = f"alice:{harness.USERS['alice']}"
    f = tmp_path / "basic"
    f.write_text(good + "\n")
    for args, env, stdin in ((["--basic-file", str(f)], None, None),
                             (["--basic-file", "-"], None, good.encode()),
                             ([], {"SSE_DOCTOR_BASIC": good}, None)):
        rc, out, err = doctor(responder, srv.url(), *args, env=env,
                              stdin=stdin)
        assert rc == 0, (args, out, err)
        assert "(Basic auth as alice)" in out and "verdict: streaming" in out
        assert harness.USERS["alice"] not in out + err
    # An option on the command line wins over the environment.
    rc, out, err = doctor(responder, srv.url(), "--basic-file", str(f),
                          env={"SSE_DOCTOR_BASIC": "alice:wrong"})
    assert rc == 0, out + err
    rc, out, err = doctor(responder, srv.url(),
                          env={"SSE_DOCTOR_BASIC": "alice:wrong"})
    assert rc == 2 and "401" in err and "wrong" not in out + err

    jwt = servers.lighttpd(jwt_secret=SECRET, heartbeat=30)
    token = token_for(responder, "alice")
    tf = tmp_path / "token"
    tf.write_text(token + "\r\n")
    for args, env in ((["--token-file", str(tf)], None),
                      ([], {"SSE_DOCTOR_TOKEN": token})):
        rc, out, err = doctor(responder, jwt.url(), *args, env=env)
        assert rc == 0, (args, out, err)
        assert "(Bearer token)" in out and token not in out + err

    # Mistakes are named, never guessed.
    empty = tmp_path / "empty"
    empty.write_text("")
    two = tmp_path / "two"
    two.write_text("alice:a\nbob:b\n")
    for args, env, message in (
            (["--basic-file", str(tmp_path / "nope")], None,
             "No such file"),
            (["--basic-file", str(empty)], None, "is empty"),
            (["--basic-file", str(two)], None, "must hold one line"),
            (["--basic-file", str(f), "--token", "t"], None, "give one of"),
            ([], {"SSE_DOCTOR_BASIC": "a:b", "SSE_DOCTOR_TOKEN": "t"},
             "both set")):
        rc, out, err = doctor(responder, srv.url(), *args, env=env)
        assert rc == 2 and message in err, (args, out, err)
        assert "bob:b" not in err


# ---- a database directory the web server's user cannot write ----

def test_unwritable_database_directory_named(servers, responder, base_dir):
    d = base_dir / f"ro-{time.monotonic_ns()}"
    d.mkdir()
    db = harness.make_db(d / "app.db")          # 0666, like a user's
    os.chmod(d, 0o755)                          # root's, not www-data's
    srv = servers.lighttpd(db=db)
    mark = srv.logs.mark()
    status, rows = read_rows(srv, basic("alice", harness.USERS["alice"]))
    assert status == 503
    want = (f"the directory {d} must be writable by www-data",
            f"chgrp www-data {d} {db}", f"chmod g+rwxs {d}")
    found = srv.logs.wait_for(re.escape(want[0]), mark, timeout=10)
    assert found
    log = srv.logs.since(mark)
    for w in want:
        assert w in log, (w, log[-2000:])
    p = subprocess.run(["/usr/sbin/runuser", "-u", "www-data", "--",
                        responder, "--check"],
                       env={"PATH": "/usr/bin:/bin", "SSE_DB": str(db),
                            "SSE_AUTH": "remote-user"},
                       capture_output=True, timeout=30)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 1, out
    for w in want:
        assert w in out, (w, out)
    # Fixed as it says: served.
    os.chown(d, 0, harness.pwd.getpwnam("www-data").pw_gid)
    os.chmod(d, 0o2775)
    status, rows = read_rows(srv, basic("alice", harness.USERS["alice"]))
    assert status == 200


# ---- systemd units (examples/systemd/) ----

SYSTEMD_DIR = harness.ROOT / "examples" / "systemd"
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"
UNITS = ("sse-outbox.socket", "sse-outbox.service",
         "sse-outbox-listen.service")


def test_systemd_units_verify(tmp_path, responder):
    """systemd-analyze verify accepts the units as shipped (the binary
    path pointed at the one under test, the man page of Documentation=
    where man finds it) and says nothing at all: a misspelt value is
    only a warning to it, so any output fails."""
    if not os.access(SYSTEMD_ANALYZE, os.X_OK):
        pytest.skip(f"{SYSTEMD_ANALYZE} is missing (package systemd)")
    man = tmp_path / "man" / "man1"
    man.mkdir(parents=True)
    (man / "sse-outbox.1").write_bytes(
        (harness.ROOT / "sse-outbox.1").read_bytes())
    for name in UNITS:
        text = (SYSTEMD_DIR / name).read_text()
        assert name.endswith(".socket") or \
            "ExecStart=/usr/local/bin/sse-outbox" in text
        (tmp_path / name).write_text(
            text.replace("/usr/local/bin/sse-outbox", responder))
    p = subprocess.run([SYSTEMD_ANALYZE, "verify",
                        *[str(tmp_path / n) for n in UNITS]],
                       capture_output=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin",
                            "MANPATH": str(tmp_path / "man")})
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0 and out.strip() == "", out


def unit_settings(name):
    """{key: [values]} of a unit file."""
    out = {}
    for line in (SYSTEMD_DIR / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_systemd_units_keep_the_socket_private():
    sock = unit_settings("sse-outbox.socket")
    assert sock["ListenStream"] == ["/run/sse-outbox/sse.sock"]
    assert sock["SocketMode"] == ["0660"]
    assert sock["SocketGroup"] == ["www-data"]
    svc = unit_settings("sse-outbox.service")
    assert svc["StandardInput"] == ["socket"]
    assert svc["User"] == ["www-data"] and svc["Restart"] == ["on-failure"]
    assert svc["UMask"] == ["0007"]
    listen = unit_settings("sse-outbox-listen.service")
    # 0777 & ~0117: the socket --listen creates is 0660.
    assert listen["UMask"] == ["0117"]
    assert listen["ExecStart"][0].endswith(
        "--listen /run/sse-outbox/sse.sock")


def start_on_fd0(responder, sock, env, user=None):
    """As systemd's StandardInput=socket (or spawn-fcgi) would: the
    listening socket on descriptor 0."""
    return subprocess.Popen([responder], stdin=sock.fileno(),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, user=user,
                            env={"PATH": "/usr/bin:/bin", **env})


def test_socket_activation(base_dir, responder):
    """The units' way: a unix socket, mode 0660 group www-data, on
    descriptor 0 of a www-data process; it serves. A TCP socket there
    with remote-user is refused like a TCP --listen."""
    import socket as socketlib

    import fcgiclient
    d = harness.make_dir(base_dir / f"sockact-{time.monotonic_ns()}")
    db = harness.make_db(d / "app.db")
    env = {"SSE_DB": str(db), "SSE_AUTH": "remote-user",
           "SSE_HEARTBEAT": "30"}
    path = str(d / "sse.sock")
    lsock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    lsock.bind(path)
    os.chown(path, 0, harness.pwd.getpwnam("www-data").pw_gid)
    os.chmod(path, 0o660)
    lsock.listen(16)
    p = start_on_fd0(responder, lsock, env, user="www-data")
    lsock.close()
    try:
        harness.produce_ids(db, ("alice", "m", "hello"))
        s, resp = fcgiclient.ask(
            path, fcgiclient.get_params("lastEventId=0",
                                        REMOTE_USER="alice"),
            until=lambda r: b"hello" in r.stdout)
        s.close()
        assert resp.status == 200 and b"data: hello" in resp.body, \
            resp.stdout
    finally:
        harness.terminate(p.pid, popen=p)
    assert p.returncode == 0, p.stderr.read().decode()

    tsock = socketlib.socket()
    tsock.bind(("127.0.0.1", 0))
    tsock.listen(4)
    p = start_on_fd0(responder, tsock, env)
    try:
        _, err = p.communicate(timeout=15)
    finally:
        tsock.close()
    assert p.returncode == 1 and b"SSE_TRUST_TCP" in err, err
