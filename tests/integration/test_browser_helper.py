# SPDX-License-Identifier: BSD-2-Clause
"""The browser helper (js/, served as /sse-outbox.js) in headless Chromium
against a real lighttpd + sse-outbox with SSE_AUTH=jwt, as an application
would deploy it: a page that sets the `sse_token` cookie (or renders the
token into the page), a small refresh endpoint (/sse-token), streams
recycled every few seconds (SSE_MAX_STREAM) and tokens that expire while
the page stays open. The page code is the examples of docs/browser.md,
extracted from it.

* a token that expires mid-session, refreshed through the token
  provider: every row arrives once, in order, in every tab;
* a cookie that expires while the session has ended: 'auth-error' in
  every tab, no endless retries; after a new login reconnect() resumes
  without loss; the same without a provider (the browser's own
  reconnect meets the 401);
* tabs whose URLs carry their own token share one stream (the default
  name leaves out the query);
* without BroadcastChannel (or with Web Locks forced where there are
  none) each tab has a plain EventSource of its own instead of an
  exception.
"""

import json
import re
import secrets
import time

import pytest

import browser
import harness

ROOT = harness.ROOT
SCRIPT = ROOT / "js" / "dist" / "sse-outbox.js"
DOCS = ROOT / "docs" / "browser.md"
SECRET = "browser-helper-hs256-key-" + "0123456789abcdef" * 3
MAX_STREAM = 3          # seconds: streams are recycled this often
SKEW = 60               # the responder accepts tokens this long past exp

# The CGI scripts run as lighttpd's user; everything they need is baked
# in. `life` is how long the server will accept a token: a short one is
# made here (exp in the past, within the clock-skew allowance), a long
# one by `sse-outbox token`, as an application's own code would.
MINT = r'''
import base64, hashlib, hmac, json, os, secrets, subprocess, sys, time
CTL = %(ctl)r
BIN = %(bin)r
KEY_FILE = %(key_file)r
SECRET = %(secret)r
SKEW = %(skew)d

def state():
    with open(os.path.join(CTL, "state.json")) as f:
        return json.load(f)

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def mint(st):
    life = st["life"]
    if life > SKEW:
        out = subprocess.run([BIN, "token", "--user", st["user"], "--ttl",
                              str(life - SKEW)], capture_output=True,
                             env={"SSE_JWT_SECRET_FILE": KEY_FILE},
                             check=True, text=True)
        token = out.stdout.strip()
    else:
        head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = b64(json.dumps({"sub": st["user"],
                               "exp": int(time.time()) + life - SKEW,
                               "jti": secrets.token_hex(8)}).encode())
        sig = hmac.new(SECRET.encode(), (head + "." + body).encode(),
                       hashlib.sha256).digest()
        token = head + "." + body + "." + b64(sig)
    with open(os.path.join(CTL, "minted.log"), "a") as f:
        f.write("%%s %%d\n" %% (os.environ.get("SCRIPT_NAME", "?"), life))
    return token

def cookie(token):
    return ("Set-Cookie: sse_token=" + token +
            "; Path=/events; HttpOnly; SameSite=Strict\r\n")
'''

TOKEN_CGI = MINT + r'''
st = state()
if os.environ.get("REQUEST_METHOD") != "POST":
    sys.stdout.write("Status: 405\r\nContent-Type: text/plain\r\n\r\nPOST\n")
elif not st["session"]:
    sys.stdout.write("Status: 401\r\nContent-Type: text/plain\r\n\r\n"
                     "logged out\n")
else:
    token = mint(st)
    sys.stdout.write((cookie(token) if st["cookie"] else "") +
                     "Content-Type: text/plain\r\nCache-Control: no-store"
                     "\r\n\r\n" + token)
'''

PAGE_CGI = MINT + r'''
st = state()
token = mint(st)
sys.stdout.write((cookie(token) if st["cookie"] else "") +
                 "Content-Type: text/html; charset=utf-8\r\n"
                 "Cache-Control: no-store\r\n\r\n"
                 "<!DOCTYPE html><meta charset=utf-8>"
                 "<meta name=sse-token content=" + token + ">"
                 "<title>app</title>"
                 "<script>window.got = []; window.authErrors = [];"
                 "function show(id, data) { got.push([id, data]); }"
                 "function showLoggedOut(e) { authErrors.push(e.status); }"
                 "</script>"
                 "<script src=/sse-outbox.js></script>"
                 "<script src=/app.js></script>\n")
'''

LIGHTTPD_EXTRA = r'''
server.modules += ( "mod_alias", "mod_cgi" )
mimetype.assign += ( ".js" => "text/javascript; charset=utf-8",
                     ".html" => "text/html; charset=utf-8" )
alias.url += ( "/sse-token" => var.sse_docroot + "/token.cgi" )
$HTTP["url"] =~ "^/(page\.cgi|sse-token)$" {
  cgi.assign = ( ".cgi" => "/usr/bin/python3" )
}
'''


def doc_example(name):
    """The ```js block after '<!-- example: NAME -->' in docs/browser.md."""
    text = DOCS.read_text()
    m = re.search(r"<!-- example: " + re.escape(name) +
                  r" -->\s*```js\n(.*?)```", text, re.S)
    assert m, f"docs/browser.md has no example {name}"
    return m.group(1)


class Site:
    """lighttpd with SSE_AUTH=jwt, /page.cgi (the application's page),
    /sse-token (its refresh endpoint), /sse-outbox.js and /app.js."""

    def __init__(self, servers):
        self.srv = servers.lighttpd(
            jwt_secret=SECRET, max_stream=MAX_STREAM, retry=300,
            heartbeat=1, extra=LIGHTTPD_EXTRA)
        self.docroot = self.srv.dir / "htdocs"
        self.ctl = harness.make_dir(self.srv.dir / "ctl")
        self.ctl.chmod(0o777)       # the CGIs (www-data) log their mints
        values = {"ctl": str(self.ctl), "bin": self.srv.bin,
                  "key_file": str(self.srv.dir / "jwt.key"),
                  "secret": SECRET, "skew": SKEW}
        (self.docroot / "token.cgi").write_text(TOKEN_CGI % values)
        (self.docroot / "page.cgi").write_text(PAGE_CGI % values)
        (self.docroot / "sse-outbox.js").write_bytes(SCRIPT.read_bytes())
        self.user = "u" + secrets.token_hex(4)
        self.set_state(life=SKEW + 3600)

    def set_state(self, **kw):
        path = self.ctl / "state.json"
        st = json.loads(path.read_text()) if path.exists() else {
            "user": self.user, "session": True, "cookie": False}
        st.update(kw)
        path.write_text(json.dumps(st))

    def app(self, js):
        (self.docroot / "app.js").write_text(js)

    def url(self, path):
        return f"http://127.0.0.1:{self.srv.port}{path}"

    def mints(self, script):
        try:
            lines = (self.ctl / "minted.log").read_text().splitlines()
        except FileNotFoundError:
            return 0
        return sum(1 for line in lines if line.startswith(script + " "))

    def insert(self, data, user=None):
        return harness.produce_ids(
            self.srv.db, (user or self.user, "notice", json.dumps(data)))[0]


@pytest.fixture
def agent():
    a = browser.Agent()
    yield a
    a.close()


@pytest.fixture
def site(servers):
    return Site(servers)


def received(agent, page, n, timeout=30):
    return agent.wait_for(page, f"got.length >= {n} && got", timeout=timeout)


def leaders(agent, pages):
    return [p for p in pages if agent.eval(p, "events.isLeader")]


def streams(agent, site, method="GET"):
    return [r for r in agent.requests(f":{site.srv.port}/events")
            if r["method"] == method]


# ---- token refresh ----

def test_expiring_token_refreshed_through_provider(agent, site):
    # The page is rendered with a token the server accepts for 8 more
    # seconds; the refresh endpoint gives long ones.
    site.set_state(life=8)
    site.app(doc_example("token-query"))
    pages = [agent.new_page(site.url("/page.cgi")) for _ in range(2)]
    for p in pages:
        agent.wait_for(p, "events.readyState === SSEOutbox.OPEN", timeout=20)
    assert len(leaders(agent, pages)) == 1
    site.set_state(life=SKEW + 3600)

    # Rows throughout: across stream ends every MAX_STREAM seconds, the
    # token's expiry (the next connect gets 401) and the refresh.
    rows = [(site.user, "notice", json.dumps({"n": i})) for i in range(40)]
    producer = harness.start_rows(site.srv.db, rows, interval=0.3)
    ids = [str(r["id"]) for r in harness.finish_burst(producer)]
    expect = [[i, {"n": n}] for n, i in enumerate(ids)]
    for p in pages:
        got = received(agent, p, len(ids))
        assert [[i, json.loads(d)] for i, d in got] == expect
    time.sleep(1)
    for p in pages:
        assert agent.eval(p, "got.length") == len(ids)
        assert agent.eval(p, "authErrors") == []

    # The expired token was refused, and the provider fetched a new one
    # from /sse-token; the new stream resumed from the last id delivered.
    assert re.search(r"token expired", site.srv.logs.since()), \
        site.srv.logs.tail()
    assert site.mints("/sse-token") >= 1
    gets = streams(agent, site)
    assert len(gets) >= 4, gets
    assert streams(agent, site, "HEAD"), "no HEAD probe after the 401"
    assert all("token=" in r["url"] for r in gets), gets
    assert any("lastEventId=" in r["url"] for r in gets[1:]), gets


def test_expired_cookie_fires_auth_error_then_reconnect(agent, site):
    # Cookie mode: the page sets a cookie the server accepts for 6 more
    # seconds; then the session ends (the refresh endpoint says 401).
    site.set_state(life=6, cookie=True)
    site.app(doc_example("token-cookie"))
    pages = [agent.new_page(site.url("/page.cgi")) for _ in range(2)]
    for p in pages:
        agent.wait_for(p, "events.readyState === SSEOutbox.OPEN", timeout=20)
    first = site.insert("before")
    for p in pages:
        assert received(agent, p, 1) == [[str(first), '"before"']]
    site.set_state(session=False)

    # Every tab hears it once; the stream is CLOSED.
    for p in pages:
        assert agent.wait_for(p, "authErrors.length > 0 && authErrors",
                              timeout=30) == [401]
        assert agent.eval(p, "events.readyState") == 2
    missed = [site.insert(f"while logged out {i}") for i in range(2)]

    # No endless retries: nothing more is requested.
    count = len(streams(agent, site)) + len(streams(agent, site, "HEAD"))
    time.sleep(4)
    assert len(streams(agent, site)) + len(streams(agent, site, "HEAD")) \
        == count
    for p in pages:
        assert agent.eval(p, "authErrors") == [401]

    # The user logs in again; a follower asks, the leader reconnects,
    # refreshing the cookie first, and resumes after the last id.
    site.set_state(session=True, life=SKEW + 3600)
    follower = [p for p in pages if p not in leaders(agent, pages)][0]
    agent.eval(follower, "events.reconnect()")
    after = site.insert("after")
    expect = [[str(first), '"before"']] + \
        [[str(i), f'"while logged out {n}"'] for n, i in enumerate(missed)] + \
        [[str(after), '"after"']]
    for p in pages:
        assert received(agent, p, 4) == expect
        assert agent.eval(p, "events.readyState") == 1
    time.sleep(0.5)
    for p in pages:
        assert agent.eval(p, "got.length") == 4


def test_plain_url_expired_cookie_fires_auth_error(agent, site):
    # No provider: the browser's own reconnect meets the 401; the helper
    # tries once more, then reports it instead of retrying forever.
    site.set_state(life=6, cookie=True)
    site.app("const events = new SSEOutbox('/events', { events: ['notice'] });"
             "events.addEventListener('notice', (e) => "
             "show(e.lastEventId, e.data));"
             "events.addEventListener('auth-error', showLoggedOut);")
    page = agent.new_page(site.url("/page.cgi"))
    agent.wait_for(page, "events.readyState === SSEOutbox.OPEN", timeout=20)
    row = site.insert("plain")
    assert received(agent, page, 1) == [[str(row), '"plain"']]
    assert agent.wait_for(page, "authErrors.length > 0 && authErrors",
                          timeout=30) == [401]
    count = len(agent.requests(f":{site.srv.port}/events"))
    time.sleep(3)
    assert len(agent.requests(f":{site.srv.port}/events")) == count
    assert agent.eval(page, "[events.readyState, authErrors]") == [2, [401]]


# ---- the default name: tabs with their own token in the URL ----

def test_tabs_with_token_in_url_share_one_stream(agent, site):
    site.set_state(life=SKEW)      # made here, each with its own jti
    site.app(doc_example("token-in-url"))
    pages = [agent.new_page(site.url("/page.cgi")) for _ in range(3)]
    for p in pages:
        agent.wait_for(p, "events.readyState === SSEOutbox.OPEN", timeout=20)
    row = site.insert("shared")
    for p in pages:
        assert received(agent, p, 1) == [[str(row), '"shared"']]
    assert len(streams(agent, site)) == 1, streams(agent, site)
    assert len(leaders(agent, pages)) == 1
    assert len({agent.eval(p, "events.url") for p in pages}) == 3, \
        "each page has its own token"
    for p in pages:
        assert agent.eval(p, "events.name") == site.url("/events")


# ---- fallbacks ----

def test_no_broadcast_channel_plain_eventsource_per_tab(agent, site):
    site.app(doc_example("token-in-url"))
    init = "delete window.BroadcastChannel;"
    pages = [agent.new_page(site.url("/page.cgi"), init=init)
             for _ in range(2)]
    for p in pages:
        agent.wait_for(p, "events.readyState === SSEOutbox.OPEN", timeout=20)
        assert agent.eval(p, "typeof BroadcastChannel") == "undefined"
        assert agent.eval(p, "[events.sharing, events.isLeader]") == \
            ["none", True]
    rows = [site.insert(f"solo {i}") for i in range(3)]
    for p in pages:
        assert received(agent, p, 3) == [[str(r), f'"solo {i}"']
                                         for i, r in enumerate(rows)]
    assert len(streams(agent, site)) == 2


def test_locks_forced_where_missing(agent, site):
    site.app(doc_example("token-in-url"))
    page = agent.new_page(site.url("/page.cgi"),
                          init="delete Navigator.prototype.locks;")
    agent.wait_for(page, "events.readyState === SSEOutbox.OPEN", timeout=20)
    # Without Web Locks the tabs elect over the BroadcastChannel; asked
    # for locks anyway, a tab keeps a stream of its own.
    assert agent.eval(page, "events.sharing") == "broadcast"
    forced = agent.eval(page, "(() => {"
                              " const s = new SSEOutbox(events.url,"
                              " { election: 'locks', name: 'x' });"
                              " const r = s.sharing; s.close(); return r;"
                              " })()")
    assert forced == "none"
