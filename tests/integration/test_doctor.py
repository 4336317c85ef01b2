# SPDX-License-Identifier: BSD-2-Clause
"""`sse-outbox doctor` against real servers: each started from its example
file, once as shipped (the doctor must say "streaming", exit 0) and once
deliberately broken the way users' servers are (it must say "buffered"
or "compressed", exit 1, and print the one directive that fixes that
server); and its errors (exit 2). The runs go in parallel threads."""

import socket
import subprocess
import threading
import time

import pytest

import conftest
import harness

DEFLATE = """
LoadModule filter_module /usr/lib/apache2/modules/mod_filter.so
LoadModule deflate_module /usr/lib/apache2/modules/mod_deflate.so
AddOutputFilterByType DEFLATE text/event-stream
"""
NO_GZIP_OFF = {"\t\tSetEnv no-gzip 1\n": ""}

# name -> (server kind, options, exit status, verdict, fix line or None,
#          lines that must not appear)
CONFIGS = {
    # As shipped: streaming.
    "apache-fcgid": ("apache", {"mode": "fcgid"}, 0, "streaming", None,
                     ["fix:"]),
    "apache-proxy-unix": ("apache", {"mode": "proxy-unix"}, 0,
                          "streaming", None, ["fix:"]),
    "apache-cgi": ("apache", {"mode": "cgi"}, 0, "streaming", None,
                   ["fix:"]),
    "apache-fcgid-http2": ("apache", {"mode": "fcgid", "http2": True}, 0,
                           "streaming", None, ["fix:"]),
    "lighttpd-fastcgi-spawn": ("lighttpd", {}, 0, "streaming", None,
                               ["fix:"]),
    "lighttpd-cgi": ("lighttpd", {"mode": "cgi"}, 0, "streaming", None,
                     ["fix:"]),
    "nginx": ("nginx", {}, 0, "streaming", None, ["fix:"]),
    # Hiding the header from clients does not stop nginx honouring it.
    "nginx-hide-header": ("nginx", {"replace": {
        "fastcgi_buffering off;":
        "fastcgi_buffering on; fastcgi_hide_header X-Accel-Buffering;"}},
        0, "streaming", None, ["fix:"]),
    # Broken on purpose.
    "apache-fcgid-output-buffer": ("apache", {"mode": "fcgid", "replace": {
        "FcgidOutputBufferSize 0\n": "\n"}},
        1, "buffered", ["fix: FcgidOutputBufferSize 0",
                        # Where the tenant cannot set it: the CGI route.
                        "fix: AddHandler cgi-script .cgi"],
        ["flushpackets", "no-gzip"]),
    "apache-proxy-no-flushpackets": ("apache", {
        "mode": "proxy-tcp", "replace": {
            "fcgi://${SSE_LISTEN_TCP}/ flushpackets=on":
            "fcgi://${SSE_LISTEN_TCP}/"}},
        1, "buffered", "fix: flushpackets=on",
        ["FcgidOutputBufferSize", "no-gzip", "cgi-script"]),
    "apache-deflate": ("apache", {"mode": "fcgid", "extra": DEFLATE,
                                  "replace": NO_GZIP_OFF},
                       1, "compressed", "fix: SetEnv no-gzip 1",
                       ["FcgidOutputBufferSize", "flushpackets"]),
    "apache-cgi-deflate": ("apache", {"mode": "cgi", "extra": DEFLATE,
                                      "replace": NO_GZIP_OFF},
                           1, "buffered", "fix: SetEnv no-gzip 1",
                           ["FcgidOutputBufferSize", "flushpackets"]),
    "lighttpd-stream-response-body-0": ("lighttpd", {"replace": {
        "server.stream-response-body = 2":
        "server.stream-response-body = 0"}},
        1, "buffered", "fix: server.stream-response-body = 2",
        ["Fcgid", "fastcgi_buffering"]),
    "lighttpd-cgi-stream-response-body-0": ("lighttpd", {
        "mode": "cgi", "replace": {
            "server.stream-response-body = 2":
            "server.stream-response-body = 0"}},
        1, "buffered", "fix: server.stream-response-body = 2",
        ["Fcgid", "fastcgi_buffering"]),
    "nginx-buffering-ignore-header": ("nginx", {"replace": {
        "fastcgi_buffering off;":
        "fastcgi_buffering on; fastcgi_ignore_headers X-Accel-Buffering;"}},
        1, "buffered", "fix: fastcgi_buffering off;",
        ["Fcgid", "stream-response-body"]),
}


def doctor(responder, *args, timeout=30):
    p = subprocess.run([responder, "doctor", *args], capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def basic(user="alice"):
    return ["--basic", f"{user}:{harness.USERS[user]}"]


def run_config(factory, responder, name):
    kind, opts, status, verdict, fix, absent = CONFIGS[name]
    srv = getattr(factory, kind)(heartbeat=30, **opts)
    try:
        rc, out, err = doctor(responder, srv.url(), *basic())
    finally:
        srv.stop()
    harness.assert_no_crash([srv], f"the logs of {name}")
    detail = f"exit {rc}\nstdout:\n{out}\nstderr:\n{err}"
    assert rc == status, detail
    assert f"\nverdict: {verdict}" in out, detail
    for line in [fix] if isinstance(fix, str) else fix or []:
        assert f"\n{line}\n" in out, detail
    for text in absent:
        assert text not in out, detail
    if verdict == "streaming":
        assert "probe events:      5 of 5" in out, detail
    if opts.get("http2"):
        assert "offers HTTP/2 too" in out, detail
    return out


@pytest.fixture(scope="module")
def verdicts(request, base_dir, responder, htpasswd):
    factory = conftest.Factory(base_dir, responder, htpasswd)
    outputs = {}
    wanted = [item.callspec.params["config"] for item in request.session.items
              if item.module.__name__ == __name__ and
              "config" in getattr(getattr(item, "callspec", None),
                                  "params", {})]

    def run(name):
        outputs[name] = run_config(factory, responder, name)

    try:
        results = harness.run_parallel(wanted, run, workers=8)
    finally:
        factory.close()
    yield {name: (err, outputs.get(name, "")) for name, (err, _)
           in results.items()}
    harness.assert_no_crash(factory.servers, "the servers of " + __name__)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_verdict(verdicts, config):
    err, out = verdicts[config]
    print(out)
    if err:
        pytest.fail(err, pytrace=False)


# ---- credentials and errors ----

def test_query_user_and_wrong_password(servers, responder):
    srv = servers.lighttpd(auth="query")
    rc, out, err = doctor(responder, srv.url(), "--user", "alice")
    assert rc == 0, out + err
    assert "?user=alice&probe=1 (user=alice in the query)" in out
    assert "verdict: streaming" in out
    srv2 = servers.lighttpd()
    rc, out, err = doctor(responder, srv2.url(), "--basic", "alice:wrong")
    assert rc == 2, out + err
    assert "401: the credential was refused (Basic auth as alice)" in err
    assert "Basic realm" in err
    assert "wrong" not in out + err         # never the secret
    # No credential at all: the responder's own 401.
    rc, out, err = doctor(responder, srv.url())
    assert rc == 2 and "401: the credential was refused" in err, out + err


def test_bearer_token(servers, responder):
    secret = "s" * 40
    srv = servers.lighttpd(jwt_secret=secret)
    token = subprocess.run([responder, "token", "--user", "alice"],
                           env={"SSE_JWT_SECRET": secret},
                           capture_output=True, timeout=10,
                           check=True).stdout.decode().strip()
    rc, out, err = doctor(responder, srv.url(), "--token", token)
    assert rc == 0, out + err
    assert "(Bearer token)" in out and token not in out + err
    assert "verdict: streaming" in out
    rc, out, err = doctor(responder, srv.url(), "--token", token + "x")
    assert rc == 2 and "401: the credential was refused" in err, out + err
    assert "Bearer" in err


def test_one_probe_at_a_time(servers, responder):
    """A second probe while one runs in the same process gets 503."""
    srv = servers.lighttpd()
    first = subprocess.Popen([responder, "doctor", srv.url(), *basic()],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.4)
        rc, out, err = doctor(responder, srv.url(), *basic("bob"))
        assert rc == 2, out + err
        assert "HTTP 503: unavailable" in err, out + err
        out1, err1 = first.communicate(timeout=15)
        assert first.returncode == 0, out1 + err1
    finally:
        harness.terminate(first.pid, popen=first, timeout=3)


def test_errors(servers, responder, base_dir):
    srv = servers.lighttpd()
    (srv.dir / "htdocs" / "page.html").write_text("<p>hello</p>\n")
    cases = [
        (["https://127.0.0.1/events"], "run the doctor on the server"),
        (["http://127.0.0.1:%d/events" % harness.free_port()],
         "Connection refused"),
        ([srv.url(path="/nothing-here")], "HTTP 404: not found"),
        ([srv.url(path="/page.html")], "not an event stream "
         "(Content-Type: application/octet-stream)"),
        ([srv.url(), "--user", "a", "--basic", "a:b"], "give one of"),
        ([srv.url(), "--timeout", "0"], "--timeout"),
        ([srv.url(), "--frobnicate"], "unknown argument"),
        ([], "usage: sse-outbox doctor URL"),
    ]
    for args, message in cases:
        rc, out, err = doctor(responder, *args)
        assert rc == 2, (args, out, err)
        assert message in err, (args, out, err)


def test_timeout(responder):
    """A server that accepts and never answers: exit 2 after --timeout."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    held = []
    done = threading.Event()

    def accept():
        lsock.settimeout(0.2)
        while not done.is_set():
            try:
                held.append(lsock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        t0 = time.monotonic()
        rc, out, err = doctor(responder, "http://127.0.0.1:%d/events" %
                              lsock.getsockname()[1], "--timeout", "2")
        took = time.monotonic() - t0
        assert rc == 2, out + err
        assert "timed out waiting for the response head" in err
        assert 1.8 <= took <= 5, took
    finally:
        done.set()
        t.join(2)
        for c in held:
            c.close()
        lsock.close()


def fake_server(head):
    """A one-shot HTTP server standing in for a hostile one: it answers
    every connection with head (bytes) and a chunked body of the five
    probe events at once. Returns (url, stop)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    lsock.settimeout(0.2)
    done = threading.Event()
    events = b"".join(b"event: probe\ndata: %d\n\n" % i for i in range(5))
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(events), events)

    def serve():
        while not done.is_set():
            try:
                c, _ = lsock.accept()
            except OSError:
                continue
            with c:
                c.settimeout(5)
                req = b""
                while b"\r\n\r\n" not in req:
                    got = c.recv(4096)
                    if not got:
                        break
                    req += got
                c.sendall(head + body)

    t = threading.Thread(target=serve, daemon=True)
    t.start()

    def stop():
        done.set()
        t.join(2)
        lsock.close()

    return "http://127.0.0.1:%d/events" % lsock.getsockname()[1], stop


# Terminal controls a hostile server may put in its headers: clear the
# screen, retitle the window, colour, backspace over the report, a C1
# CSI (0x9b), and a CR that would overwrite a line of the report.
EVIL = b"x\x1b[2J\x1b]0;owned\x07\x1b[31m\x08\x7f\x9b1m\rfix: evil\\"


def assert_printable(raw, where):
    bad = sorted({b for b in raw if (b < 0x20 and b != 0x0a) or b >= 0x7f})
    assert not bad, (where, bad, raw)


@pytest.mark.parametrize("status,extra,rc,shown", [
    # Streamed at once: "buffered", and the unknown Server is named.
    (b"200 OK", b"Content-Type: text/event-stream\r\n"
     b"Transfer-Encoding: chunked\r\nX-Accel-Buffering: " + EVIL +
     b"\r\nUpgrade: h2" + EVIL + b"\r\n", 1, "server: 'Evil"),
    (b"401 Unauthorized", b"WWW-Authenticate: Bearer " + EVIL + b"\r\n",
     2, "the server asks for Bearer x\\x1b[2J"),
    (b"200 OK", b"Content-Type: text/html" + EVIL + b"\r\n", 2,
     "(Content-Type: text/htmlx\\x1b[2J"),
])
def test_server_text_is_escaped(responder, status, extra, rc, shown):
    """Whatever the server sent is printed with its control bytes (and
    backslashes) escaped: no byte of it can drive the terminal."""
    head = (b"HTTP/1.1 " + status + b"\r\nServer: Evil" + EVIL + b"\r\n" +
            extra + b"Connection: close\r\n\r\n")
    url, stop = fake_server(head)
    try:
        p = subprocess.run([responder, "doctor", url, "--timeout", "10"],
                           capture_output=True, timeout=30)
    finally:
        stop()
    assert p.returncode == rc, (p.stdout, p.stderr)
    assert_printable(p.stdout, "stdout")
    assert_printable(p.stderr, "stderr")
    out = (p.stdout + p.stderr).decode()
    assert "Server:            Evilx\\x1b[2J\\x1b]0;owned\\x07\\x1b[31m" \
        "\\x08\\x7f\\x9b1m\\x0dfix: evil\\\\" in out, out
    assert shown in out, out
