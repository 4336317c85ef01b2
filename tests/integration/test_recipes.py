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
