# SPDX-License-Identifier: BSD-2-Clause
"""SSE_STATS=1: GET ?stats answers Prometheus text with this process's
counters, which move as streams open and close, rows and heartbeats are
sent and requests are refused. And the README's recipes that keep it to
local addresses, run in lighttpd, Apache and nginx as written there."""

import base64
import http.client
import re
import urllib.parse

import pytest

import harness

METRIC = re.compile(r'^(sse_outbox_\w+)\{pid="(\d+)"(?:,status="(\w+)")?\} '
                    r'(\d+)$')
COUNTERS = ("streams_total", "events_total", "bytes_total",
            "heartbeats_total", "watcher_wakeups_total",
            "watcher_reads_total", "refused_total")
GAUGES = ("open_streams", "newest_id")


def get(port, target, method="GET", user=None, source="127.0.0.1",
        headers=None):
    """One request from a chosen loopback address: (status, headers,
    body); an event stream is not read (only its head)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                      source_address=(source, 0))
    try:
        h = dict(headers or {})
        if user:
            cred = f"{user}:{harness.USERS[user]}".encode()
            h["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        conn.request(method, target, headers=h)
        r = conn.getresponse()
        head = {k.lower(): v for k, v in r.getheaders()}
        streaming = head.get("content-type", "").startswith(
            "text/event-stream")
        body = b"" if streaming or method == "HEAD" else r.read()
        return r.status, head, body.decode("utf-8", "replace")
    finally:
        conn.close()


def parse(text):
    """{name or name[status]: value}, checking every sample has HELP and
    TYPE lines and one pid."""
    values, pids, described = {}, set(), set()
    for line in text.splitlines():
        m = re.match(r"^# (HELP|TYPE) (\w+) ", line)
        if m:
            described.add((m.group(1), m.group(2)))
            continue
        m = METRIC.match(line)
        assert m, f"not a sample line: {line!r}"
        name, pid, status, value = m.groups()
        assert ("HELP", name) in described and ("TYPE", name) in described
        pids.add(int(pid))
        values[name[len("sse_outbox_"):] + (f"[{status}]" if status
                                            else "")] = int(value)
    assert len(pids) == 1, pids
    return values, pids.pop()


def scrape(srv, **kw):
    status, head, body = get(srv.port, srv.path + "?stats", **kw)
    assert status == 200, (status, body)
    assert head["content-type"].startswith("text/plain; version=0.0.4")
    return parse(body)


@pytest.fixture
def stats_server(servers):
    return servers.lighttpd(auth="query", heartbeat=1,
                            env={"SSE_STATS": "1"})


def test_stats_values_move(stats_server):
    srv = stats_server
    s0, pid = scrape(srv)
    assert srv.responders() == [pid]
    for name in COUNTERS[:-1] + GAUGES:
        assert name in s0, name
    for status in ("400", "401", "405", "414", "429", "503", "other"):
        assert f"refused_total[{status}]" in s0
    assert s0["open_streams"] == 0

    a = srv.open(user="stats-a")
    b = srv.open(user="stats-b")
    try:
        a.wait_fields(1)
        b.wait_fields(1)
        s1, _ = scrape(srv)
        assert s1["open_streams"] == 2
        assert s1["streams_total"] == s0["streams_total"] + 2

        ids = srv.produce(("stats-a", "notice", "one"),
                          ("stats-a", None, "two"),
                          ("stats-a", None, "three"),
                          (None, "notice", "everyone"),
                          ("nobody", None, "unseen"))
        a.wait_events(4)
        b.wait_events(1)
        s2 = harness.wait_until(
            lambda: (lambda s: s if s["newest_id"] == ids[-1] else None)(
                scrape(srv)[0]), 5)
        assert s2, scrape(srv)
        assert s2["events_total"] - s1["events_total"] == 5
        sent = sum(len(e.data) for e in a.events + b.events)
        assert s2["bytes_total"] - s1["bytes_total"] > sent
        assert s2["watcher_wakeups_total"] > s1["watcher_wakeups_total"]
        assert s2["watcher_reads_total"] > s1["watcher_reads_total"]

        # A second of silence: each stream gets a heartbeat.
        na, nb = len(a.comments), len(b.comments)
        a.wait_comments(na + 1, timeout=5)
        b.wait_comments(nb + 1, timeout=5)
        s3, _ = scrape(srv)
        assert s3["heartbeats_total"] >= s2["heartbeats_total"] + 2

        # Refusals, by status.
        assert get(srv.port, srv.path)[0] == 401
        assert get(srv.port, srv.path + "?user=x&lastEventId=abc")[0] == 400
        assert get(srv.port, srv.path + "?user=x", method="POST")[0] == 405
        s4, _ = scrape(srv)
        for status in ("400", "401", "405"):
            assert s4[f"refused_total[{status}]"] == \
                s3[f"refused_total[{status}]"] + 1, status
        assert s4["refused_total[503]"] == s3["refused_total[503]"]
        assert s4["streams_total"] == s3["streams_total"]
    finally:
        b.close()
    # A stream that ends is no longer open; counters never go back.
    s5 = harness.wait_until(
        lambda: (lambda s: s if s["open_streams"] == 1 else None)(
            scrape(srv)[0]), 5)
    a.close()
    assert s5, scrape(srv)
    for name in COUNTERS[:-1]:
        assert s5[name] >= s4[name], name

    status, head, body = get(srv.port, srv.path + "?stats", method="HEAD")
    assert status == 200 and body == ""
    assert head["content-type"].startswith("text/plain; version=0.0.4")


def test_stats_off_by_default(servers):
    srv = servers.lighttpd(auth="query")
    status, head, body = get(srv.port, srv.path + "?stats")
    assert status == 401, (status, body)       # a stream request, no user
    assert "sse_outbox_" not in body


# ---- the README's restrictions (section "Stats"), as written there ----

LIGHTTPD_RESTRICT = """
server.modules += ( "mod_access" )
$HTTP["url"] =^ "/events" {
	$HTTP["querystring"] == "stats" {
		$HTTP["remoteip"] != "127.0.0.1" {
			url.access-deny = ( "" )
		}
	}
}
"""

APACHE_RESTRICT = """
<IfModule !authz_host_module>
	LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
</IfModule>
<Location "/events">
	<If "%{QUERY_STRING} == 'stats'">
		AuthMerging And
		Require ip 127.0.0.1 ::1
	</If>
</Location>
"""

NGINX_RESTRICT_HTTP = """
# in http { }
geo $sse_local { default 0; 127.0.0.1 1; ::1 1; }
map "$args:$sse_local" $sse_stats_denied { default 0; "stats:0" 1; }
"""
NGINX_RESTRICT_LOCATION = """
# in location /events { }
if ($sse_stats_denied) { return 403; }
"""

DOCS = sorted((harness.ROOT / "docs").glob("*.md"))


def doc_blocks(fence, must_contain):
    """Every fenced block of that language in docs/ holding
    must_contain: the tests run what the docs say."""
    found = []
    for path in DOCS:
        for block in re.findall(rf"^```{fence}\n(.*?)^```",
                                path.read_text(), re.S | re.M):
            if must_contain in block:
                found.append((path.name, block))
    if not found:
        pytest.fail(f"docs/ has no ```{fence} block with {must_contain!r}")
    return found


def normalize(text):
    return [line.strip() for line in text.strip().splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_docs_recipes_are_the_tested_ones():
    """Each copy of the Stats recipes in docs/ (security.md and the
    server pages) is exactly what these tests run."""
    def same(fence, key, tested):
        for name, block in doc_blocks(fence, key):
            assert normalize(block) == normalize(tested), (name, block)

    same("lighttpd", '"querystring"', LIGHTTPD_RESTRICT)
    same("apache", "QUERY_STRING", APACHE_RESTRICT.split("</IfModule>")[1])
    same("nginx", "geo $sse_local", NGINX_RESTRICT_HTTP)
    same("nginx", "if ($sse_stats_denied)", NGINX_RESTRICT_LOCATION)


def check_restricted(srv, user, local_without_user):
    target = srv.path + "?stats"
    status, head, body = get(srv.port, target, user=user)
    assert status == 200, (status, body)
    assert "sse_outbox_open_streams" in body
    # From another address: refused by the web server, with or without a
    # user, and the responder never sees it.
    mark = srv.logs.mark()
    assert get(srv.port, target, user=user, source="127.0.0.2")[0] == 403
    assert get(srv.port, target, source="127.0.0.2")[0] in (401, 403)
    assert "stats" not in "".join(harness.responder_lines(
        srv.logs.since(mark)))
    # Streams from there are not affected.
    status, head, _ = get(srv.port, srv.path, user=user, source="127.0.0.2")
    assert status == 200 and head["content-type"].startswith(
        "text/event-stream")
    # Locally without a user: the location's authentication still holds.
    assert get(srv.port, target)[0] == local_without_user


def test_stats_restricted_in_lighttpd(servers):
    """lighttpd-example.conf has the recipe itself (a second copy of the
    same condition would be "Duplicate config variable")."""
    example = normalize(harness.LIGHTTPD_EXAMPLE.read_text())
    recipe = normalize(LIGHTTPD_RESTRICT)[2:]     # the inner conditions
    assert any(example[i:i + len(recipe)] == recipe
               for i in range(len(example))), recipe
    srv = servers.lighttpd(env={"SSE_STATS": "1"})
    check_restricted(srv, "alice", 401)


def test_stats_restricted_in_apache(servers):
    srv = servers.apache(env={"SSE_STATS": "1"}, extra=APACHE_RESTRICT)
    check_restricted(srv, "bob", 401)


def test_stats_restricted_in_nginx(servers):
    srv = servers.nginx(
        env={"SSE_STATS": "1"}, extra=NGINX_RESTRICT_HTTP,
        replace={"\t\t\tgzip off;\n":
                 "\t\t\tgzip off;\n" + NGINX_RESTRICT_LOCATION.lstrip("\n")})
    check_restricted(srv, "carol", 401)


def test_stats_query_must_be_exact(stats_server):
    srv = stats_server
    for query in ("stats=1", "stats&user=x", "Stats"):
        status, head, body = get(srv.port, srv.path + "?" +
                                 urllib.parse.quote(query, safe="=&"))
        assert "sse_outbox_" not in body, query
        assert not head.get("content-type", "").startswith("text/plain; "
                                                           "version"), query
