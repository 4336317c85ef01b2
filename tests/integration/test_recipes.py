"""The deployment recipes cannot be misconfigured into a leak, each run
through the real server from the example file or the docs page a user
copies: a forged Basic header gets nobody's rows through any nginx
set-up; remote-user refuses a TCP --listen unless declared private;
?stats answers only at the responder's own path; the doctor takes its
credential from a file or the environment; a database directory the
server's user cannot write is named with the commands that fix it."""

import base64
import os
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
