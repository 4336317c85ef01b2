# SPDX-License-Identifier: BSD-2-Clause
"""Security suite: what a signed token grants and nothing more, tokens of
an independent implementation (PyJWT), every kind of bad token refused,
isolation between users whose ids are hostile, rows that try to forge
events, and random requests through the real web servers.

Everything goes through real lighttpd (mod_fastcgi) and Apache
(mod_fcgid) started from the example configurations, with rows inserted
by a separate producer process. Every wait is bounded.
"""

import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import random
import re
import socket
import subprocess
import time
import urllib.parse

import jwt          # Debian's python3-jwt (PyJWT): not our code
import pytest

import harness

SECRET = "security-suite-hs256-key-" + "0123456789abcdef" * 3
OTHER_SECRET = "a-different-key-of-the-same-size-" + "fedcba9876543210" * 3
RETRY = 1500        # the harness's SSE_RETRY


# ---- tokens ----

def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(sub="alice", ttl=600, **extra):
    """A payload; a claim given as None is left out."""
    now = int(time.time())
    p = {"sub": sub, "iat": now,
         "exp": None if ttl is None else now + ttl}
    p.update(extra)
    return {k: v for k, v in p.items() if v is not None}


def mint(sub="alice", ttl=600, key=SECRET, alg="HS256", **extra):
    """A token made by PyJWT, an implementation independent of ours."""
    return jwt.encode(claims(sub, ttl, **extra), key, algorithm=alg)


def hand_made(header, payload, key=SECRET, signature=None):
    """A token from raw header and payload bytes (or JSON values), HS256
    signed with key unless a signature string is given."""
    def raw(v):
        return v if isinstance(v, bytes) else json.dumps(v).encode()
    signing_input = b64url(raw(header)) + "." + b64url(raw(payload))
    if signature is None:
        signature = b64url(hmac.new(key.encode(), signing_input.encode(),
                                    hashlib.sha256).digest())
    return signing_input + "." + signature


HS256 = {"alg": "HS256", "typ": "JWT"}


def bad_tokens():
    """(kind, token) for every token the responder must refuse."""
    good = mint("alice")
    head, body, sig = good.split(".")
    now = int(time.time())
    swapped = b64url(json.dumps(claims("bob")).encode())
    return [
        ("alg none, no signature",
         hand_made({"alg": "none", "typ": "JWT"}, claims(), signature="")),
        ("alg none, signed",
         hand_made({"alg": "none", "typ": "JWT"}, claims())),
        ("alg none (PyJWT)", jwt.encode(claims(), None, algorithm="none")),
        ("HS512", mint(alg="HS512")),
        ("HS384", mint(alg="HS384")),
        ("alg HS256 in another case", hand_made({"alg": "hs256"}, claims())),
        ("wrong key", mint(key=OTHER_SECRET)),
        ("payload swapped for another user's", f"{head}.{swapped}.{sig}"),
        ("signature of another token",
         f"{head}.{body}.{mint('bob').split('.')[2]}"),
        ("truncated signature", good[:-2]),
        ("expired beyond the leeway", mint(ttl=-120)),
        ("expired long ago", mint(exp=now - 86400, ttl=None)),
        ("nbf in the future", mint(nbf=now + 300)),
        ("missing sub", mint(sub=None)),
        ("missing exp", hand_made(HS256, {"sub": "alice", "iat": now})),
        ("exp not a number", mint(exp=str(now + 600), ttl=None)),
        ("empty sub", mint(sub="")),
        ("sub null", hand_made(HS256, {"sub": None, "exp": now + 600})),
        ("sub an object", mint(sub={"id": "alice"})),
        ("sub a float", mint(sub=1.5)),
        ("channels not an array", mint(channels="room:7")),
        ("channels holding a number", mint(channels=["room:7", 7])),
        ("too many channels", mint(channels=[f"c{i}" for i in range(16)])),
        ("malformed base64url (bad character)",
         f"{head}.{body[:5]}*{body[6:]}.{sig}"),
        ("malformed base64url (padding)", f"{head}.{body}==.{sig}"),
        ("malformed base64url (standard alphabet)",
         f"{head}.{body}.{sig[:-2]}+/"),
        ("two segments", f"{head}.{body}"),
        ("four segments", f"{good}.{sig}"),
        ("empty", ""),
        ("invalid JSON payload", hand_made(HS256, b'{"sub": "alice",')),
        ("invalid JSON header", hand_made(b'{"alg":"HS256"', claims())),
        ("JSON with trailing data", hand_made(HS256, json.dumps(
            claims()).encode() + b" {}")),
        ("duplicate sub", hand_made(HS256, b'{"sub":"bob","sub":"alice",'
                                    b'"exp":%d}' % (now + 600))),
        ("invalid UTF-8 in the payload", hand_made(
            HS256, b'{"sub":"\xff\xfe","exp":%d}' % (now + 600))),
        ("header not an object", hand_made(["HS256"], claims())),
        ("header a string", hand_made("HS256", claims())),
        ("payload not an object", hand_made(HS256, ["alice"])),
        ("payload a number", hand_made(HS256, 42)),
        ("crit header", hand_made({**HS256, "crit": ["exp"]}, claims())),
        ("oversized (over 4096 bytes, validly signed)",
         mint(pad="x" * 4000)),
    ]


# ---- servers ----

@pytest.fixture(scope="module")
def jwt_lighttpd(module_servers):
    return module_servers.lighttpd(jwt_secret=SECRET)


@pytest.fixture(scope="module")
def jwt_apache(module_servers):
    return module_servers.apache(jwt_secret=SECRET)


@pytest.fixture(params=["lighttpd", "apache"])
def jwt_server(request):
    return request.getfixturevalue(f"jwt_{request.param}")


# The isolation and injection cases run against both stores: the same
# bodies, with the outbox in SQLite (the servers' own file) or in a real
# PostgreSQL (conftest.py's postgres, one database per server).

STORES = ["sqlite", "postgresql"]


def pg_db(request):
    postgres = request.getfixturevalue("postgres")
    return postgres.url(postgres.new_db())


@pytest.fixture(scope="module")
def jwt_lighttpd_pg(module_servers, request):
    return module_servers.lighttpd(jwt_secret=SECRET, db=pg_db(request))


@pytest.fixture(scope="module")
def jwt_apache_pg(module_servers, request):
    return module_servers.apache(jwt_secret=SECRET, db=pg_db(request))


@pytest.fixture(params=[(k, s) for s in STORES for k in ("lighttpd",
                                                         "apache")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def jwt_server_store(request):
    """jwt_server on each store."""
    kind, store = request.param
    return request.getfixturevalue(
        f"jwt_{kind}" + ("_pg" if store == "postgresql" else ""))


@pytest.fixture(params=STORES)
def store_db(request):
    """A server's db argument: "fresh" (its own SQLite file) or a new
    PostgreSQL database's URI."""
    return "fresh" if request.param == "sqlite" else pg_db(request)


def is_pg(srv):
    return str(srv.db).startswith(("postgresql://", "postgres://"))


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def open_as(srv, token, where="header", last_event_id=None, query=""):
    """A stream whose token travels in the header, cookie or query."""
    headers = {}
    if where == "header":
        headers = bearer(token)
    elif where == "cookie":
        headers = {"Cookie": f"theme=dark; sse_token={token}; lang=en"}
    else:
        query = "&".join(q for q in (query, "token=" + urllib.parse.quote(
            token, safe="")) if q)
    return srv.open(query=query, headers=headers,
                    last_event_id=last_event_id)


def wait_ids(client, n, timeout=10.0):
    return [int(e.id) for e in client.wait_events(n, timeout)]


def close_all(clients):
    for c in clients:
        c.close()


def no_secret_in_logs(srv, *tokens):
    text = srv.logs.since()
    assert SECRET not in text, "the secret is in the log"
    for t in tokens:
        # Each segment long enough to be unambiguous, and the whole.
        for part in [t] + [p for p in t.split(".") if len(p) >= 16]:
            assert part not in text, f"a token ({part[:20]}...) is logged"


# ---- tokens from PyJWT, in all three places ----

@pytest.mark.parametrize("where", ["header", "cookie", "query"])
def test_pyjwt_tokens_are_accepted_everywhere(jwt_server, where):
    user = f"pyjwt-{where}"
    token = mint(user)
    c = open_as(jwt_server, token, where)
    try:
        assert c.status == 200, c.describe()
        assert c.headers["content-type"].startswith("text/event-stream")
        ids = jwt_server.produce((user, "hello", where), ("someone-else",
                                 None, "not yours"), (None, None, "all"))
        events = c.wait_events(2)
        assert [int(e.id) for e in events] == [ids[0], ids[2]]
        assert (events[0].type, events[0].data) == ("hello", where)
        assert c.no_more_events(2, settle=0.3)
    finally:
        c.close()
    no_secret_in_logs(jwt_server, token)


def test_integer_sub_and_leeway(jwt_lighttpd):
    """sub 42 is user "42"; exp 30 s ago and nbf 30 s ahead are inside
    the 60 s leeway."""
    now = int(time.time())
    token = jwt.encode({"sub": 42, "exp": now - 30, "nbf": now + 30},
                       SECRET, algorithm="HS256")
    with open_as(jwt_lighttpd, token) as c:
        assert c.status == 200, c.describe()
        ids = jwt_lighttpd.produce(("42", None, "n"), ("042", None, "x"))
        assert wait_ids(c, 1) == [ids[0]]
        assert c.no_more_events(1, settle=0.3)


def test_token_subcommand_agrees_with_pyjwt(jwt_lighttpd, responder):
    """Tokens minted by `sse-outbox token` verify with PyJWT, and the
    server takes them (the other direction of the same check)."""
    env = {"PATH": "/usr/bin:/bin", "SSE_JWT_SECRET": SECRET,
           **harness.sanitizer_env()}
    p = subprocess.run([responder, "token", "--user", "ünï 'q\"",
                        "--ttl", "120", "--channel", "room:1"],
                       capture_output=True, timeout=20, env=env)
    assert p.returncode == 0, p.stderr
    token = p.stdout.decode().strip()
    assert SECRET.encode() not in p.stdout + p.stderr
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert decoded["sub"] == "ünï 'q\""
    assert decoded["channels"] == ["room:1"]
    assert 100 <= decoded["exp"] - int(time.time()) <= 121
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    with open_as(jwt_lighttpd, token) as c:
        assert c.status == 200, c.describe()
        ids = jwt_lighttpd.produce(("room:1", None, "r"),
                                   ("ünï 'q\"", None, "u"))
        assert wait_ids(c, 2) == ids


# ---- the key file and the length of a user id ----

@pytest.mark.parametrize("line_end", ["LF", "CRLF"])
def test_key_file_line_end_is_not_part_of_the_key(servers, line_end):
    """README's set-up, `openssl rand -base64 48 > key`, leaves a LF after
    the key (an editor on Windows a CR LF): the key is the line without
    it. A token PyJWT signs with the line is taken; one signed with the
    line end included is not."""
    key = base64.b64encode(os.urandom(48)).decode()      # 64 characters
    end = {"LF": "\n", "CRLF": "\r\n"}[line_end]
    srv = servers.lighttpd(jwt_secret=(key + end).encode())
    user = f"keyfile-{line_end}"
    token = mint(user, key=key)
    with open_as(srv, token) as c:
        assert c.status == 200, c.describe()
        ids = srv.produce((user, None, "signed with the stripped key"))
        assert wait_ids(c, 1) == ids
    for bad in {mint(user, key=key + end), mint(user, key=key + "\n")}:
        mark = srv.logs.mark()
        r = srv.request(headers=bearer(bad))
        assert r.status == 401, (line_end, r.describe())
        srv.logs.wait_for(r"refused 401: ", mark)
    assert key not in srv.logs.since()


# ASCII, and UTF-8 (two bytes a character): the limit counts bytes.
ID_1024 = ["u" * 1024, "\u00e9" * 511 + "ab"]


@pytest.mark.parametrize("mode", ["query", "jwt"])
def test_user_id_of_1024_bytes_is_served_1025_refused(servers, mode):
    """A user id (REMOTE_USER, ?user=, a token's sub) of 1024 bytes is a
    user like any other; one byte more is 401, named in the log."""
    if mode == "jwt":
        srv = servers.lighttpd(jwt_secret=SECRET)
        # PyJWT writes non-ASCII as \u escapes, which would push the
        # token past its own 4096-byte cap: ASCII only here.
        ids = ID_1024[:1]

        def ask(u, **kw):
            return srv.request(headers=bearer(mint(u)), **kw)

        def open_user(u):
            return open_as(srv, mint(u))
        cause = "token sub is too long"
    else:
        srv = servers.lighttpd(auth="query")
        ids = ID_1024

        def ask(u, **kw):
            return srv.request(u, **kw)

        def open_user(u):
            return srv.open(u)
        cause = "user id too long"
    for user in ids:
        assert len(user.encode()) == 1024
        with open_user(user) as c:
            assert c.status == 200, c.describe()
            c.wait_fields(1)
            got = srv.produce((user, None, "for the long id"),
                              (user[:-1], None, "for a prefix of it"),
                              (user + "x", None, "for a longer id"))
            assert wait_ids(c, 1) == got[:1]
            assert c.no_more_events(1, settle=0.3), c.describe()
        longer = user + "x"
        assert len(longer.encode()) == 1025
        mark = srv.logs.mark()
        r = ask(longer)
        assert r.status == 401, (mode, r.describe())
        srv.logs.wait_for(rf"refused 401: {cause}", mark)


# ---- bad tokens ----

def assert_refused(srv, r, token, mark):
    assert r.status == 401, r.describe()
    assert r.headers.get("www-authenticate") == "Bearer", r.header_list
    assert b"retry:" not in bytes(r.raw)
    line = srv.logs.wait_for(r"sse-outbox\[\d+\]: \w+: req=\d+ refused "
                             r"401: [^\n]+", mark, timeout=5)
    text = srv.logs.since(mark)
    assert SECRET not in text
    if token:
        for part in [token] + [p for p in token.split(".") if len(p) >= 16]:
            assert part not in text, f"token logged: {line.group(0)}"
    return line.group(0)


def test_every_bad_token_is_refused(jwt_server):
    reasons = {}
    tokens = bad_tokens()
    for kind, token in tokens:
        mark = jwt_server.logs.mark()
        r = jwt_server.request(headers=bearer(token) if token else
                               {"Authorization": "Bearer"})
        reasons[kind] = assert_refused(jwt_server, r, token, mark)
    # One line per refusal, each naming a cause (never the same generic
    # text for a signature problem and a claim problem).
    assert "signature" in reasons["wrong key"]
    assert "alg" in reasons["HS512"]
    assert "expired" in reasons["expired beyond the leeway"]
    assert "nbf" in reasons["nbf in the future"]
    assert "too long" in reasons["oversized (over 4096 bytes, validly "
                                 "signed)"]
    no_secret_in_logs(jwt_server, *[t for _, t in tokens if t])


@pytest.mark.parametrize("where", ["cookie", "query"])
def test_bad_tokens_refused_in_cookie_and_query(jwt_lighttpd, where):
    for kind, token in bad_tokens():
        if not token or (where == "cookie" and "=" in token):
            continue        # not a cookie value; covered by the header
        mark = jwt_lighttpd.logs.mark()
        if where == "cookie":
            r = jwt_lighttpd.request(headers={"Cookie":
                                              f"sse_token={token}"})
        else:
            r = jwt_lighttpd.request(query="token=" + urllib.parse.quote(
                token, safe=""))
        assert_refused(jwt_lighttpd, r, token, mark)


@pytest.mark.parametrize("headers,query", [
    # The first credential present decides; a bad one is never skipped.
    ({"Authorization": "Bearer " + "x.y.z",
      "Cookie": "sse_token=GOOD"}, ""),
    ({"Authorization": "Basic YWxpY2U6YWxpY2UtcHc=",
      "Cookie": "sse_token=GOOD"}, ""),
    ({"Cookie": "sse_token=x.y.z"}, "token=GOOD"),
    ({"Cookie": "sse_token=GOOD; sse_token=GOOD"}, ""),
    ({}, "token=GOOD&token=GOOD"),
    ({}, ""),
])
def test_first_credential_decides(jwt_lighttpd, headers, query):
    good = mint("alice")
    headers = {k: v.replace("GOOD", good) for k, v in headers.items()}
    mark = jwt_lighttpd.logs.mark()
    r = jwt_lighttpd.request(query=query.replace("GOOD", good),
                             headers=headers)
    assert_refused(jwt_lighttpd, r, good, mark)


# ---- channels ----

def test_channels_grant_exactly_their_keys(jwt_server_store):
    """A token's channels add those keys; without the claim, none."""
    jwt_server = jwt_server_store
    tag = f"{jwt_server.kind}-{time.monotonic_ns()}"
    ch7, ch8, team = f"room:7:{tag}", f"room:8:{tag}", f"team:{tag}"
    alice, bob, carol = f"alice:{tag}", f"bob:{tag}", f"carol:{tag}"
    tokens = {alice: mint(alice, channels=[ch7, team]),
              bob: mint(bob),
              carol: mint(carol, channels=[ch7, ch7])}
    grants = {alice: {alice, ch7, team, None}, bob: {bob, None},
              carol: {carol, ch7, None}}
    rows = [(to, "ev", f"{i}") for i, to in enumerate(
        [alice, bob, carol, ch7, ch8, team, None, ch7 + " ", ch7.upper(),
         "room:7", team[:-1], alice, ch7, None, ch8])]
    clients = {u: open_as(jwt_server, t) for u, t in tokens.items()}
    try:
        for u, c in clients.items():
            assert c.status == 200, (u, c.describe())
            c.wait_fields(1)                # retry: the stream is live
        ids = jwt_server.produce(*rows)
        first = ids[0] - 1
        for u, c in clients.items():
            want = [i for i, r in zip(ids, rows) if r[0] in grants[u]]
            assert wait_ids(c, len(want)) == want, u
            assert c.no_more_events(len(want), settle=0.3), u
    finally:
        close_all(clients.values())
    # The same through the replay path (SQL, not the live fan-out).
    for u, t in tokens.items():
        want = [i for i, r in zip(ids, rows) if r[0] in grants[u]]
        with open_as(jwt_server, t, last_event_id=str(first)) as c:
            assert wait_ids(c, len(want)) == want, u
            assert c.no_more_events(len(want), settle=0.2), u


# ---- isolation ----

LONG_ID = "ü" * 300 + "x" * 399 + "'"      # 1000 bytes
USERS = [
    "alice", "bob", "o'brien", 'say "hi"', "100%", "a_c", "with space",
    "ünï", "用户", LONG_ID, "pre", "prefix", "42", "%41", "a+b",
    "semi;colon", "amp&x=1", "#hash?q=1", "emoji😀", "back\\slash",
]
# Keys no stream follows, each close to a user's: a LIKE pattern, a
# prefix, case, trailing space, a decoded or re-encoded form.
DECOYS = [
    "Alice", "alice ", " alice", "abc", "a%c", "100", "1000", "100x", "pr",
    "prefi", "prefixx", LONG_ID[:-1], LONG_ID + "x", "A", "a b", "a%2Bb",
    "用", "用户 ", "ÜNÏ", "", "semi", "amp", "#hash", "emoji", "back",
    "%", "_", "*", "042", "o''brien",
]


def isolation_rows(n, rng):
    """n rows in random order: 85 % to users, 10 % broadcasts, 5 % to
    keys nobody follows; each says whom it was for."""
    rows = []
    for i in range(n):
        pick = rng.random()
        if pick < 0.10:
            to = None
        elif pick < 0.15:
            to = rng.choice(DECOYS)
        else:
            to = rng.choice(USERS)
        data = json.dumps({"n": i, "to": to}, ensure_ascii=False)
        rows.append((to, rng.choice([None, "notice", "a b"]), data))
    return rows


def check_stream(c, user, want, label, timeout=20.0):
    events = c.wait_events(len(want), timeout)
    got = [int(e.id) for e in events]
    strangers = [e for e in events
                 if json.loads(e.data)["to"] not in (user, None)]
    assert not strangers, (label, user[:40], strangers[:3])
    assert got == want, (label, user[:40], len(got), len(want))
    return c


@pytest.mark.parametrize("mode", ["jwt", "query"])
def test_isolation_twenty_hostile_users(servers, store_db, mode):
    rng = random.Random(int(os.environ.get("SSE_SECURITY_SEED", "4242")))
    if mode == "jwt":
        srv = servers.lighttpd(db=store_db, jwt_secret=SECRET,
                               log_level="info")

        def open_user(u, last=None):
            return open_as(srv, mint(u), last_event_id=last)
    else:
        srv = servers.lighttpd(db=store_db, auth="query", log_level="info")

        def open_user(u, last=None):
            return srv.open(u, last_event_id=last)
    rows = isolation_rows(2000, rng)
    clients = {}
    try:
        for u in USERS:
            clients[u] = open_user(u)
            assert clients[u].status == 200, (u[:40], clients[u].describe())
        for c in clients.values():
            c.wait_fields(1)
        before = set(srv.responders())
        producer = harness.start_rows(srv.db, rows,
                                      batch=1 if mode == "jwt" else 7)
        ids = [o["id"] for o in harness.finish_burst(producer, timeout=60)]
        assert len(ids) == len(rows)
        wants = {u: [i for i, r in zip(ids, rows) if r[0] in (u, None)]
                 for u in USERS}
        for u, c in clients.items():
            check_stream(c, u, wants[u], "live")
        time.sleep(0.3)
        for u, c in clients.items():
            assert len(c.events) == len(wants[u]), (u[:40], "extra events")
        assert set(srv.responders()) == before
    finally:
        close_all(clients.values())
    # Resume from before the first row: the SQL path, in batches.
    replay = {}
    try:
        for u in USERS:
            replay[u] = open_user(u, last=str(ids[0] - 1))
        for u, c in replay.items():
            check_stream(c, u, wants[u], "replay")
    finally:
        close_all(replay.values())
    assert srv.crash_reports() == []


# ---- injection ----

INJECTION_ROWS = [
    (None, "a\rb"), (None, "a\nb"), (None, "a\r\nb"), (None, "a\x00b"),
    (None, "\n\nid: 999\nevent: evil\ndata: y"), (None, "retry: 1"),
    (None, "\rretry: 1\r\r"), (None, "x\r\n\r\nid: 1000\r\nretry: 2\r\n"),
    (None, ""), (None, "\n"), (None, "\r"), (None, "\r\n\r\n"),
    (None, ":comment\ndata: z"), (None, "data: q"), (None, "end\r"),
    ("evil\nid: 5", "name with LF"), ("a\rb", "name with CR"),
    ("a\x00b", "name with NUL"), ("x\r\ndata: forged", "name CR LF"),
    ("\n\n", "name of line ends only"), ("retry: 1", "retry as a name"),
    ("\r\nretry: 1\r\n", "retry on its own line in a name"),
    ("message", "plain"), (":x", "colon name"),
    ("e\n\nid: 777\ndata: f", "\n\nid: 999\nevent: evil\ndata: y"),
    ("日本\r語", "ü\r\nü\rü\nü\x00"),
]


def expected_event(name, data):
    etype = re.sub(r"[\r\n\x00]", "", name or "") or "message"
    return etype, data.replace("\r\n", "\n").replace("\r", "\n")


def test_rows_cannot_forge_events(jwt_server_store):
    jwt_server = jwt_server_store
    user = f"inject-{jwt_server.kind}"
    mark = jwt_server.logs.mark()
    token = mint(user)
    rows = INJECTION_ROWS
    if is_pg(jwt_server):
        # PostgreSQL's text holds no NUL: such a row cannot be stored.
        rows = [(n, d) for n, d in rows if "\x00" not in (n or "") + d]
    with open_as(jwt_server, token) as c:
        assert c.status == 200, c.describe()
        c.wait_fields(1)
        p = harness.start_rows(jwt_server.db, [(user, n, d) for n, d in
                                               rows])
        ids = [o["id"] for o in harness.finish_burst(p, timeout=30)]
        start = ids[0] - 1
        for label in ("live", "replay"):
            if label == "replay":
                c.close()
                c = open_as(jwt_server, token, last_event_id=str(start))
            events = c.wait_events(len(ids), timeout=10)
            assert c.no_more_events(len(ids), settle=0.3), label
            got = [(e.id, e.type, e.data) for e in events]
            want = [(str(i),) + expected_event(n, d)
                    for i, (n, d) in zip(ids, rows)]
            assert got == want, label
            assert c.retry == RETRY, label
            names = {name for name, _ in c.fields}
            assert names <= {"retry", "id", "event", "data"}, names
            assert [f for f in c.fields if f[0] == "retry"] == \
                [("retry", str(RETRY))]
            assert not c.comments or all(x.text == "" for x in c.comments)
        c.close()
    dirty = [i for i, (n, _) in zip(ids, rows)
             if n and re.search(r"[\r\n\x00]", n)]
    for i in dirty:
        jwt_server.logs.wait_for(rf"row {i}: CR, LF or NUL dropped from its "
                                 rf"event name", mark)


# ---- request fuzz through the real servers ----

METHODS = ["GET"] * 16 + ["HEAD"] * 4 + [
    "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "PROPFIND", "get",
    "G3T", "X" * 200, "BREW"]
GARBAGE = ["", "%", "%%", "%zz", "%0", "%00", "%C3%28", "%ff%fe", "+",
           "\u00fc", "%E2%82", "=", "&&&", "%2500", "-1", "9" * 30,
           "9223372036854775807", "9223372036854775808", "0x10", " 1",
           "\\u0000", "..%2f..%2f", "%0d%0aSet-Cookie:%20x=1"]


def fuzz_query(rng, token):
    parts = []
    for _ in range(rng.randrange(0, 6)):
        name = rng.choice(["user", "token", "lastEventId", "probe", "x",
                           "", "user%00", "tok%65n", "lastEventId[]"])
        value = rng.choice(GARBAGE + ["alice", token, "1",
                                      "A" * rng.choice([10, 5000, 9000])])
        parts.append(rng.choice([f"{name}={value}", name, f"{name}=",
                                 f"={value}"]))
        if rng.random() < 0.2:
            parts.append(parts[-1])             # repeated parameter
    q = "&".join(parts)
    if rng.random() < 0.05:
        q = "x=" + "%41" * rng.choice([1000, 4000])     # huge values
    return q.encode("utf-8", "surrogateescape")


def fuzz_headers(rng, srv, token):
    h = []
    auth = rng.random()
    if srv.auth == "jwt":
        if auth < 0.4:
            h.append(b"Authorization: Bearer " + token.encode())
        elif auth < 0.55:
            h.append(b"Cookie: sse_token=" + token.encode())
        elif auth < 0.7:
            h.append(b"Authorization: " + rng.choice(
                [b"Bearer", b"Bearer  ", b"bearer x.y.z", b"Basic x",
                 b"Bearer \xff\xfe.\x80.\x01", b"Bearer " + b"A" * 6000]))
    elif auth < 0.75:
        h.append(b"Authorization: Basic " + base64.b64encode(
            b"alice:" + harness.USERS["alice"].encode()))
    for _ in range(rng.randrange(0, 4)):
        name = rng.choice([b"Last-Event-ID", b"Cookie", b"X-Junk",
                           b"Accept", b"Origin", b"Cache-Control"])
        value = rng.choice([
            b"", b"5", b"-1", b"18446744073709551616", b"1 2", b"0x1",
            b"\xff\xfe\xfd", b"\xc3\x28", b"\xe2\x82", b"\xf0\x9f\x98",
            b"sse_token=a; sse_token=b", b"sse_token=\"q\"", b"%00",
            b"A" * rng.choice([100, 7000, 20000]), b"\x80" * 300,
            "ünï".encode(), b"\t", b"x\x01y"])
        h.append(name + b": " + value)
    if rng.random() < 0.05:
        h += [b"X-Many-%d: v" % i for i in range(rng.choice([50, 200]))]
    return h


def fuzz_request(rng, srv, token):
    method = rng.choice(METHODS).encode()
    target = rng.choice([srv.path, getattr(srv, "noauth_path",
                                           srv.path)]).encode()
    q = fuzz_query(rng, token)
    if q:
        target += b"?" + q
    if rng.random() < 0.05:
        target += b"#frag"
    lines = [method + b" " + target + b" HTTP/1.1",
             b"Host: 127.0.0.1:%d" % srv.port]
    lines += fuzz_headers(rng, srv, token)
    body = b""
    if method in (b"POST", b"PUT", b"PATCH") and rng.random() < 0.7:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


STATUS_RX = re.compile(rb"^HTTP/1\.[01] ([2-5]\d\d) ")


def raw_exchange(port, request, timeout=5.0):
    """Send request; return the status line's bytes (or what came)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(request)
        except OSError:
            pass        # the server may answer and close while we send
        got = b""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in got and time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        return got


@pytest.mark.parametrize("kind", ["lighttpd-jwt", "apache"])
def test_request_fuzz(request, kind):
    if kind == "apache":
        # Basic authentication, as shipped; its own, so that no process
        # of it is old enough for mod_fcgid's idle timeout during the
        # fuzz (a process that vanished would count as a crash).
        srv = request.getfixturevalue("module_servers").apache()
    else:
        srv = request.getfixturevalue("jwt_lighttpd")
    seed = int(os.environ.get("SSE_SECURITY_SEED", "0")) or \
        random.randrange(1 << 30)
    rng = random.Random(seed)
    token = mint("alice", ttl=600)
    # A stream first, so that a responder runs (mod_fcgid starts them
    # on demand) and is known before the fuzz.
    with (open_as(srv, token) if srv.auth == "jwt" else srv.open("alice")) \
            as c:
        assert c.status == 200, c.describe()
    mark = srv.logs.mark()
    before = set(srv.responders())
    assert before, "no responder running"
    count = 300 if srv.kind == "apache" else 1000
    requests = [fuzz_request(rng, srv, token) for _ in range(count)]
    statuses = {}
    started = time.monotonic()
    # Four at a time: mod_fcgid makes a request wait (in 1 s steps) for
    # a process while streams whose client left still hold theirs.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda r: raw_exchange(srv.port, r),
                                requests, timeout=40))
    for n, (req, got) in enumerate(zip(requests, answers)):
        m = STATUS_RX.match(got)
        assert m, f"seed {seed}, request {n}: no status line: {got[:200]!r}" \
                  f" for {req[:300]!r}"
        code = int(m.group(1))
        # 5xx only from the server itself for what it cannot do (501),
        # or 503 from a busy responder: never 500, 502 or 504.
        assert code not in (500, 502, 504), (seed, n, got[:200], req[:300])
        statuses[code] = statuses.get(code, 0) + 1
    n = len(answers)
    took = time.monotonic() - started
    print(f"{kind}: {n} requests in {took:.1f} s, seed {seed}, "
          f"statuses {statuses}")
    # No responder died: every one that ran before still runs.
    assert before <= set(srv.responders()), (before, srv.responders())
    log = srv.logs.since(mark)
    assert harness.crash_reports(log) == []
    for bad in ("fatal", "unexpected signal", "child signalled",
                "child exited", "Segmentation", "core dumped"):
        assert bad not in log, [ln for ln in log.splitlines() if bad in ln]
    # And it still serves a normal stream.
    if srv.auth == "jwt":
        c = open_as(srv, mint("after-fuzz"))
        user = "after-fuzz"
    else:
        c = srv.open("alice")
        user = "alice"
    with c:
        assert c.status == 200, c.describe()
        ids = srv.produce((user, None, "still here"))
        assert wait_ids(c, 1) == ids
