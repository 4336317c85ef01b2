# SPDX-License-Identifier: BSD-2-Clause
"""Real browser clients against the demo (demo/run_demo.py: lighttpd and
the responder): headless Debian Chromium driven through playwright-core,
and the `eventsource` npm client, both from tests/browser/agent.mjs.

* the demo page shows inserted rows; the web server is stopped, rows are
  inserted while it is down, it is started again on the same port, and
  the browser's own reconnect (its own Last-Event-ID) shows each missed
  row exactly once;
* the `eventsource` client reads exact ids and data, resumes from a
  Last-Event-ID, and across a server restart;
* sse-outbox.js: several tabs, one network stream, every tab gets every
  event; the leader tab closes, rows are inserted, the other tabs get
  them exactly once, in order (Web Locks, and the BroadcastChannel
  fallback);
* CORS: a page on a listed second origin receives events (also across a
  reconnect), a page on an unlisted one gets an error and nothing; the
  headers over plain HTTP.
"""

import http.client
import re
import time
import urllib.parse
import urllib.request

import pytest

import browser
import harness

EVENTS_TABLE = ("[...document.querySelectorAll('#events tr')].reverse()"
                ".map(r => [...r.cells].slice(1).map(c => c.textContent))")


@pytest.fixture
def agent():
    a = browser.Agent()
    yield a
    a.close()


@pytest.fixture
def demos():
    started = []

    def start(**env):
        d = browser.Demo(env=env)
        started.append(d)
        return d.start()

    yield start
    failures = []
    for d in started:
        try:
            d.close()
        except BaseException as e:     # a crash in its log: close the rest
            failures.append(e)
    if failures:
        raise failures[0]


def stats(demo):
    with urllib.request.urlopen(demo.url + "sse?stats", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(sse_outbox_\w+)\{pid="\d+"(?:,status="(\w+)")?\}'
                     r' (\d+)$', line)
        if m:
            key = m.group(1) + (f"[{m.group(2)}]" if m.group(2) else "")
            out[key] = int(m.group(3))
    return out


def wait_stat(demo, name, value, timeout=5.0):
    got = harness.wait_until(lambda: stats(demo).get(name) == value, timeout)
    assert got, f"{name} is {stats(demo).get(name)}, expected {value}"


# ---- the demo page, the browser's own reconnect ----

def test_demo_page_resumes_after_server_restart(agent, demos):
    demo = demos()
    page = agent.new_page(demo.url)
    agent.wait_for(page, "document.getElementById('state').textContent"
                         " === 'open'")
    user = "42"     # the page's default user

    before = [demo.insert(user, "notice", '{"text":"first"}'),
              demo.insert(user, None, "plain\nmessage")]
    rows = agent.wait_for(page, f"(r => r.length >= 2 && r)({EVENTS_TABLE})")
    assert rows == [[str(before[0]), "notice", '{"text":"first"}'],
                    [str(before[1]), "message", "plain\nmessage"]]

    # The page's own form sends through send.cgi.
    agent.eval(page, "document.getElementById('sendData').value = 'via form';"
                     "document.querySelector('#sendForm button').click()")
    sent = agent.wait_for(page, "(t => /stored as id \\d+/.test(t) && t)"
                                "(document.getElementById('sendResult')"
                                ".textContent)")
    form_id = re.search(r"\d+", sent).group(0)
    rows = agent.wait_for(page, f"(r => r.length >= 3 && r)({EVENTS_TABLE})")
    assert rows[2] == [form_id, "notice", "via form"]

    # The web server goes away; the page stays open and says so.
    demo.stop()
    agent.wait_for(page, "document.getElementById('state').textContent"
                         " === 'error'")
    missed = [demo.insert(user, "notice", f"while down {i}")
              for i in range(3)]
    missed.append(demo.insert(None, "alert", "broadcast while down"))
    demo.insert("someone-else", "notice", "not for this page")
    demo.start()

    rows = agent.wait_for(page, f"(r => r.length >= 7 && r)({EVENTS_TABLE})",
                          timeout=20)
    expect = [[str(missed[i]), "notice", f"while down {i}"] for i in range(3)]
    expect.append([str(missed[3]), "alert", "broadcast while down"])
    assert rows[3:] == expect
    # Nothing more comes (no repeat of anything already shown).
    after = demo.insert(user, "notice", "after restart")
    rows = agent.wait_for(page, f"(r => r.length >= 8 && r)({EVENTS_TABLE})")
    assert rows[7:] == [[str(after), "notice", "after restart"]]
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)) and ids == sorted(ids, key=int)

    # It was the browser's own reconnect: same URL, with its own
    # Last-Event-ID header naming the last row it had.
    streams = [r for r in agent.requests(f":{demo.port}/sse")]
    assert len(streams) >= 2, streams
    assert all(r["url"] == f"{demo.url}sse?user=42" for r in streams)
    assert streams[0]["lastEventId"] is None
    resumed = [r for r in streams if r["lastEventId"] is not None]
    assert resumed and resumed[-1]["lastEventId"] == form_id, streams
    assert agent.eval(page, "document.getElementById('state').textContent"
                      ) == "open"


def test_reconnect_before_any_event_loses_nothing(agent, demos):
    demo = demos()
    page = agent.new_page(demo.url)
    agent.wait_for(page, "document.getElementById('state').textContent"
                         " === 'open'")
    demo.stop()
    agent.wait_for(page, "document.getElementById('state').textContent"
                         " === 'error'")
    missed = demo.insert("42", "notice", "committed while disconnected")
    demo.start()
    agent.wait_for(page, "document.getElementById('state').textContent"
                         " === 'open'", timeout=20)
    after = demo.insert("42", "notice", "after the reconnect")
    agent.wait_for(page, f"(r => r.some(x => x[0] === '{after}'))"
                         f"({EVENTS_TABLE})")
    rows = agent.eval(page, EVENTS_TABLE)
    assert [r[0] for r in rows] == [str(missed), str(after)]


# ---- a second client: the eventsource npm package ----

def test_eventsource_npm_client(agent, demos):
    demo = demos()
    user = "es-user"
    url = f"{demo.url}sse?user={user}"
    es = agent.es_open(url)
    agent.es_wait(es, lambda s: s["opens"] == 1, what="open")

    rows = [(user, "notice", '{"n":1}'),
            (user, None, "two\nlines"),
            ("someone-else", None, "not yours"),
            (user, None, "crlf\r\nand cr\rend"),
            (None, "notice", "to everyone"),
            (user, None, ""),
            (user, "order", "caf\u00e9 \u2713 \U0001F600\n")]
    ids = harness.produce_ids(demo.db, *rows)
    expect = [
        {"type": "notice", "id": str(ids[0]), "data": '{"n":1}'},
        {"type": "message", "id": str(ids[1]), "data": "two\nlines"},
        {"type": "message", "id": str(ids[3]), "data": "crlf\nand cr\nend"},
        {"type": "notice", "id": str(ids[4]), "data": "to everyone"},
        {"type": "message", "id": str(ids[5]), "data": ""},
        {"type": "order", "id": str(ids[6]),
         "data": "caf\u00e9 \u2713 \U0001F600\n"},
    ]
    state = agent.es_wait(es, lambda s: len(s["events"]) >= 6, what="events")
    assert state["events"] == expect
    agent.es_close(es)

    # A new client resuming from the second row gets the rest, once.
    later = harness.produce_ids(demo.db, (user, "notice", "later"))[0]
    es = agent.es_open(url, last_event_id=ids[1])
    state = agent.es_wait(es, lambda s: len(s["events"]) >= 5,
                          what="resumed events")
    assert state["events"] == expect[2:] + [
        {"type": "notice", "id": str(later), "data": "later"}]

    # Its own reconnect across a server restart sends its Last-Event-ID.
    demo.stop()
    agent.es_wait(es, lambda s: s["errors"], what="error")
    gone = harness.produce_ids(demo.db, (user, None, "while down"))[0]
    demo.start()
    state = agent.es_wait(es, lambda s: len(s["events"]) >= 6, timeout=20,
                          what="events after the restart")
    assert state["events"][5:] == [
        {"type": "message", "id": str(gone), "data": "while down"}]
    assert state["opens"] == 2
    time.sleep(0.3)
    assert len(agent.es_state(es)["events"]) == 6
    agent.es_close(es)


# ---- sse-outbox.js: one stream for all tabs ----

NO_LOCKS = "delete Navigator.prototype.locks;"


@pytest.mark.parametrize("election", ["locks", "broadcast"])
def test_one_stream_for_all_tabs(agent, demos, election):
    demo = demos(SSE_STATS="1")
    user = "tabs-" + election
    url = f"{demo.url}tabs.html?user={user}"
    init = NO_LOCKS if election == "broadcast" else None
    pages = [agent.new_page(url, init=init) for _ in range(4)]

    def leaders(among):
        return [p for p in among if agent.eval(p, "demoStream.isLeader")]

    for p in pages:
        agent.wait_for(p, "demoStream.readyState === SSEOutbox.OPEN")
        uses_locks = agent.eval(p, "demoStream._useLocks")
        assert uses_locks == (election == "locks")
    assert len(leaders(pages)) == 1

    def seen(p, n):
        return agent.wait_for(
            p, f"demoEvents.length >= {n} && demoEvents.map("
               f"e => [e.id, e.type, e.data])", timeout=15)

    first = [demo.insert(user, "notice", "one"),
             demo.insert(user, None, "two"),
             demo.insert(None, "alert", "three")]
    expect = [[str(first[0]), "notice", "one"],
              [str(first[1]), "message", "two"],
              [str(first[2]), "alert", "three"]]
    for p in pages:
        assert seen(p, 3) == expect
    sse = agent.requests(f":{demo.port}/sse?")
    assert len(sse) == 1, sse
    assert stats(demo)["sse_outbox_open_streams"] == 1

    # The leader tab closes; rows inserted at once must not be lost.
    leader = leaders(pages)[0]
    agent.close_page(leader)
    rest = [p for p in pages if p != leader]
    second = [demo.insert(user, "notice", f"after {i}") for i in range(3)]
    expect += [[str(i), "notice", f"after {n}"]
               for n, i in enumerate(second)]
    for p in rest:
        assert seen(p, 6) == expect
    assert len(leaders(rest)) == 1

    # A type only one follower listens for: the leader starts listening
    # for it when told, and relays it.
    follower = [p for p in rest if p not in leaders(rest)][0]
    agent.eval(follower, "window.rare = [];"
                         "demoStream.addEventListener('rare', e => "
                         "rare.push([e.lastEventId, e.data]))")
    agent.wait_for(leaders(rest)[0], "'rare' in demoStream._listening")
    rare = demo.insert(user, "rare", "only one tab asked")
    assert agent.wait_for(follower, "rare.length >= 1 && rare") == [
        [str(rare), "only one tab asked"]]

    sse = agent.requests(f":{demo.port}/sse?")
    assert len(sse) == 2, sse
    # The new leader resumed from the last id the tabs had seen.
    assert sse[1]["url"].endswith(f"&lastEventId={first[2]}"), sse
    wait_stat(demo, "sse_outbox_open_streams", 1)

    # Still exactly once and in order a moment later.
    last = demo.insert(user, "notice", "last")
    expect.append([str(last), "notice", "last"])
    for p in rest:
        assert seen(p, 7) == expect
    time.sleep(0.3)
    for p in rest:
        assert agent.eval(p, "demoEvents.length") == 7


# ---- CORS ----

CORS_PAGE = """<!DOCTYPE html>
<meta charset="utf-8">
<title>sse-outbox from another origin</title>
<script>
window.result = { events: [], errors: [], opens: 0 };
const src = new URLSearchParams(location.search).get('src');
const es = new EventSource(src, { withCredentials: true });
window.es = es;
const keep = (e) => result.events.push([e.lastEventId, e.type, e.data]);
es.onopen = () => { result.opens++; };
es.onmessage = keep;
es.addEventListener('notice', keep);
es.onerror = () => { result.errors.push(es.readyState); };
</script>
"""


@pytest.fixture
def sites(tmp_path):
    (tmp_path / "page.html").write_text(CORS_PAGE)
    made = []

    def make():
        s = browser.StaticSite(tmp_path)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_cors_in_browser(agent, demos, sites):
    listed, unlisted = sites(), sites()
    demo = demos(SSE_CORS_ORIGINS=f"https://app.example.com, "
                                  f"{listed.origin}")
    user = "cors-user"
    src = urllib.parse.quote(f"{demo.url}sse?user={user}", safe="")
    good = agent.new_page(f"{listed.origin}/page.html?src={src}")
    bad = agent.new_page(f"{unlisted.origin}/page.html?src={src}")

    agent.wait_for(good, "result.opens === 1")
    # The unlisted origin: the browser refuses the stream for good.
    agent.wait_for(bad, "result.errors.length > 0 && es.readyState === 2")

    first = demo.insert(user, "notice", "cross-origin")
    assert agent.wait_for(good, "result.events.length >= 1 && "
                                "result.events") == [
        [str(first), "notice", "cross-origin"]]

    # A reconnect from the other origin resumes with Last-Event-ID too.
    demo.stop()
    missed = demo.insert(user, None, "missed")
    demo.start()
    assert agent.wait_for(good, "result.events.length >= 2 && "
                                "result.events", timeout=20) == [
        [str(first), "notice", "cross-origin"], [str(missed), "message",
                                                 "missed"]]
    resumed = [r for r in agent.requests(f":{demo.port}/sse")
               if r["lastEventId"] is not None]
    assert [r["lastEventId"] for r in resumed] == [str(first)]

    # Nothing ever reached the unlisted page.
    result = agent.eval(bad, "result")
    assert result["events"] == [] and result["opens"] == 0, result
    assert agent.eval(bad, "es.readyState") == 2


def test_cors_headers(demos):
    allowed = "http://app.example.com:8443"
    demo = demos(SSE_CORS_ORIGINS=f"{allowed} https://other.example")

    def head(origin, method="HEAD"):
        conn = http.client.HTTPConnection("127.0.0.1", demo.port, timeout=5)
        try:
            headers = {"Origin": origin} if origin else {}
            conn.request(method, "/sse?user=cors", headers=headers)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()

    status, h = head(allowed)
    assert status == 200
    assert h["access-control-allow-origin"] == allowed
    assert h["access-control-allow-credentials"] == "true"
    assert "origin" in [v.strip().lower() for v in h["vary"].split(",")]
    assert h["content-type"].startswith("text/event-stream")
    assert head("https://other.example")[1][
        "access-control-allow-origin"] == "https://other.example"

    for origin in (None, "http://app.example.com", "http://evil.example",
                   allowed + "/", "null"):
        status, h = head(origin)
        assert status == 200, origin
        assert not [k for k in h if k.startswith("access-control-")], \
            (origin, h)
