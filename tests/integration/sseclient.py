# SPDX-License-Identifier: BSD-2-Clause
"""A small streaming Server-Sent Events client for the integration tests.

It speaks raw HTTP/1.1 over a socket (no keep-alive reuse, no redirects),
decodes a chunked or Content-Length body as it arrives, and parses the
event stream incrementally as the HTML Living Standard says
(9.2.6 "Interpreting an event stream"):

* lines end at CR LF, a lone CR or a lone LF;
* a line starting with ':' is a comment (counted here as a heartbeat);
* "field: value" (one leading space of the value dropped), or "field";
* data lines are joined with LF, the final LF removed at dispatch;
* an empty line dispatches the event; an event whose data buffer is
  empty is not dispatched; the id persists across events.

A reader thread records the receipt time of every event and comment, so
the helpers can wait for "N events within T seconds" while other
processes insert rows.
"""

import base64
import os
import select
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass


@dataclass
class Event:
    type: str           # "message" when no event: field was given
    data: str
    id: str             # the last event ID string at dispatch
    fields: list        # (name, value) of the lines that made this event
    time: float         # time.time() when the blank line arrived

    @property
    def has_id(self):
        return any(name == "id" for name, _ in self.fields)


@dataclass
class Comment:
    text: str
    time: float


class EventStreamParser:
    """Incremental text/event-stream parser (UTF-8 bytes in, events out)."""

    def __init__(self):
        self._pending = b""         # undecoded bytes (split UTF-8 sequence)
        self._line = []             # characters of the current line
        self._after_cr = False      # last character was CR: skip one LF
        self._first = True          # strip a leading BOM once
        self._data = []
        self._type = ""
        self._event_fields = []
        self.last_event_id = ""
        self.retry = None           # last valid retry: value (ms)
        self.fields = []            # every (name, value) line, in order
        self.events = []
        self.comments = []

    def feed(self, data, now=None):
        now = time.time() if now is None else now
        raw = self._pending + data
        # Keep an incomplete UTF-8 sequence for the next chunk.
        cut = len(raw)
        for back in range(1, min(4, len(raw)) + 1):
            b = raw[-back]
            if b & 0xC0 == 0x80:
                continue            # continuation byte: look further back
            if b >= 0xC0:
                need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
                if back < need:
                    cut = len(raw) - back
            break
        self._pending = raw[cut:]
        text = raw[:cut].decode("utf-8", errors="replace")
        if self._first and text:
            self._first = False
            if text.startswith("\ufeff"):
                text = text[1:]
        for ch in text:
            if self._after_cr:
                self._after_cr = False
                if ch == "\n":
                    continue
            if ch == "\r":
                self._after_cr = True
                self._end_line(now)
            elif ch == "\n":
                self._end_line(now)
            else:
                self._line.append(ch)

    def _end_line(self, now):
        line = "".join(self._line)
        self._line = []
        if line == "":
            self._dispatch(now)
            return
        if line.startswith(":"):
            self.comments.append(Comment(line[1:], now))
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self.fields.append((name, value))
        self._event_fields.append((name, value))
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value and all("0" <= c <= "9" for c in value):
                self.retry = int(value)

    def _dispatch(self, now):
        fields = self._event_fields
        self._event_fields = []
        if not self._data:
            self._type = ""
            return
        data = "\n".join(self._data)
        self._data = []
        etype = self._type or "message"
        self._type = ""
        self.events.append(Event(etype, data, self.last_event_id, fields,
                                 now))


class ResponseError(Exception):
    pass


class SSEClient:
    """One HTTP request whose response is read by a background thread.

    After the constructor returns, the status line and headers have
    arrived (or an exception was raised). The body is parsed as an event
    stream when the status is 200 and the method is GET.
    """

    def __init__(self, url, headers=None, method="GET", auth=None,
                 last_event_id=None, timeout=10.0, body=b"", rcvbuf=None):
        parts = urllib.parse.urlsplit(url)
        self.host = parts.hostname
        self.port = parts.port or 80
        self.target = parts.path + ("?" + parts.query if parts.query else "")
        self.method = method
        self.lock = threading.Condition()
        self.parser = EventStreamParser()
        self.raw = bytearray()      # the decoded body, as received
        self.status = None
        self.reason = None
        self.header_list = []
        self.headers = {}
        self.complete = False       # the body ended as HTTP says it should
        self.closed = False         # the connection is gone (EOF or error)
        self.end_time = None        # when complete or closed was first seen
        self.error = None
        self.extra_after_end = False  # bytes arrived after the response
        self.sent_at = None
        self.headers_at = None
        self._stop = False
        self.paused = False         # stop reading: a client that stalls
        self._chunk_state = None
        lines = [f"{method} {self.target} HTTP/1.1",
                 f"Host: {self.host}:{self.port}",
                 "Accept: text/event-stream",
                 "Cache-Control: no-cache",
                 "User-Agent: sse-outbox-tests"]
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode())
            lines.append("Authorization: Basic " + token.decode())
        if last_event_id is not None:
            lines.append(f"Last-Event-ID: {last_event_id}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, so the window offered stays small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((self.host, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sent_at = time.time()
        self.sock.sendall(request)
        self.sock.setblocking(False)
        self._start_reading(f"{method} {url}", timeout, "connection closed")

    # ---- reading ----

    def _start_reading(self, what, timeout, closed_early):
        """Start the reader thread and wait for the response head."""
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()
        if not self.wait(lambda: self.status is not None or self.closed,
                         timeout):
            self.close()
            raise TimeoutError(f"no response headers for {what} "
                               f"within {timeout} s")
        if self.status is None:
            self.close()
            raise ResponseError(f"{closed_early} before headers: "
                                f"{self.error}")

    def _reader(self):
        buf = b""
        while not self._stop:
            if self.paused:
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select([self.sock], [], [], 0.05)
            except (OSError, ValueError):
                break
            if not ready:
                continue
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                with self.lock:
                    self.error = e
                    self._mark_closed()
                return
            now = time.time()
            with self.lock:
                if not data:
                    self._mark_closed()
                    return
                buf += data
                buf = self._consume(buf, now)
                self.lock.notify_all()

    def _mark_closed(self):
        self.closed = True
        if self.end_time is None:
            self.end_time = time.time()
        self.lock.notify_all()

    def _consume(self, buf, now):
        if self.status is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return buf
            head = buf[:end].decode("latin-1").split("\r\n")
            buf = buf[end + 4:]
            version, code, *reason = head[0].split(" ", 2)
            for line in head[1:]:
                name, _, value = line.partition(":")
                self.header_list.append((name.strip(), value.strip()))
                self.headers[name.strip().lower()] = value.strip()
            self.headers_at = now
            self.status = int(code)
            self.reason = reason[0] if reason else ""
            if self.method == "HEAD" or self.status in (204, 304):
                self._chunk_state = ("done",)
                self._finish(now)
            elif "chunked" in self.headers.get("transfer-encoding", ""):
                self._chunk_state = ("size",)
            elif "content-length" in self.headers:
                self._chunk_state = ("length",
                                     int(self.headers["content-length"]))
                if self._chunk_state[1] == 0:
                    self._finish(now)
            else:
                self._chunk_state = ("eof",)
        while buf:
            state = self._chunk_state
            if state[0] == "done":
                self.raw += buf     # bytes after the end: recorded, wrong
                self.extra_after_end = True
                return b""
            if state[0] == "eof":
                self._body(buf, now)
                return b""
            if state[0] == "length":
                take = buf[:state[1]]
                self._body(take, now)
                left = state[1] - len(take)
                buf = buf[len(take):]
                self._chunk_state = ("length", left)
                if left == 0:
                    self._finish(now)
                continue
            if state[0] == "size":
                eol = buf.find(b"\r\n")
                if eol < 0:
                    return buf
                size = int(buf[:eol].split(b";")[0], 16)
                buf = buf[eol + 2:]
                self._chunk_state = ("data", size) if size else ("trailer",)
                continue
            if state[0] == "data":
                take = buf[:state[1]]
                self._body(take, now)
                left = state[1] - len(take)
                buf = buf[len(take):]
                self._chunk_state = ("data", left) if left else ("crlf",)
                continue
            if state[0] == "crlf":
                if len(buf) < 2:
                    return buf
                if buf[:2] != b"\r\n":
                    raise ResponseError("bad chunk framing")
                buf = buf[2:]
                self._chunk_state = ("size",)
                continue
            if state[0] == "trailer":
                eol = buf.find(b"\r\n")
                if eol < 0:
                    return buf
                line = buf[:eol]
                buf = buf[eol + 2:]
                if not line:
                    self._finish(now)
                continue
        return buf

    def _body(self, data, now):
        self.raw += data
        if self.status == 200 and self.method == "GET":
            self.parser.feed(bytes(data), now)

    def _finish(self, now):
        self._chunk_state = ("done",)
        self.complete = True
        if self.end_time is None:
            self.end_time = now

    # ---- waiting ----

    def wait(self, predicate, timeout):
        """Wait until predicate() is true (checked under the lock)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.1))
            return True

    @property
    def events(self):
        with self.lock:
            return list(self.parser.events)

    @property
    def comments(self):
        with self.lock:
            return list(self.parser.comments)

    @property
    def fields(self):
        with self.lock:
            return list(self.parser.fields)

    @property
    def retry(self):
        return self.parser.retry

    @property
    def last_event_id(self):
        return self.parser.last_event_id

    @property
    def ended(self):
        return self.complete or self.closed

    def describe(self):
        with self.lock:
            tail = bytes(self.raw[-600:])
        return (f"{self.method} {self.target}: status={self.status} "
                f"complete={self.complete} closed={self.closed} "
                f"events={len(self.parser.events)} "
                f"comments={len(self.parser.comments)} "
                f"body tail={tail!r}")

    def wait_events(self, n, timeout=5.0):
        """Return the first n events; fail if they do not arrive in time."""
        if not self.wait(lambda: len(self.parser.events) >= n or
                         (self.ended and len(self.parser.events) < n),
                         timeout) or len(self.parser.events) < n:
            raise AssertionError(f"expected {n} events within {timeout} s; "
                                 + self.describe())
        return self.events[:n]

    def wait_comments(self, n, timeout=5.0):
        if not self.wait(lambda: len(self.parser.comments) >= n or
                         self.ended, timeout) or \
                len(self.parser.comments) < n:
            raise AssertionError(f"expected {n} comments within {timeout} s;"
                                 f" " + self.describe())
        return self.comments[:n]

    def wait_fields(self, n, timeout=5.0):
        if not self.wait(lambda: len(self.parser.fields) >= n or
                         self.ended, timeout) or \
                len(self.parser.fields) < n:
            raise AssertionError(f"expected {n} fields within {timeout} s; "
                                 + self.describe())
        return self.fields[:n]

    def wait_end(self, timeout=5.0):
        """True once the response ended (cleanly or not) within timeout."""
        return self.wait(lambda: self.ended, timeout)

    def no_more_events(self, count, settle=0.5):
        """Wait settle seconds; true if still exactly count events."""
        time.sleep(settle)
        return len(self.events) == count

    # ---- ending ----

    def _join(self):
        self._stop = True
        if threading.current_thread() is not self._thread:
            self._thread.join(2)

    def close(self):
        """Close normally (FIN)."""
        self._join()
        try:
            self.sock.close()
        except OSError:
            pass

    def kill(self):
        """Go away abruptly: close with a TCP reset, as a killed browser."""
        self._join()
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def request(url, method="GET", headers=None, auth=None, last_event_id=None,
            timeout=10.0, body=b""):
    """A complete (non-streaming) request: returns the ended SSEClient.

    Fails if the response does not end within timeout seconds.
    """
    c = SSEClient(url, headers=headers, method=method, auth=auth,
                  last_event_id=last_event_id, timeout=timeout, body=body)
    try:
        if not c.wait_end(timeout):
            raise AssertionError(f"response did not end within {timeout} s:"
                                 f" " + c.describe())
    finally:
        c.close()
    return c


class CurlSSEClient(SSEClient):
    """The same waiting helpers over a `curl -N` child process, for what
    the socket client does not speak: HTTP/2 (h2c with prior knowledge).

    curl prints the response head (-i) then the body as it arrives;
    status and headers are those of the final response. complete means
    curl ended the transfer without an error (exit 0): for HTTP/2 the
    stream ended with END_STREAM, not a reset.
    """

    CURL = "/usr/bin/curl"

    def __init__(self, url, headers=None, auth=None, last_event_id=None,
                 timeout=10.0, http2=True, method="GET"):
        parts = urllib.parse.urlsplit(url)
        self.host = parts.hostname
        self.port = parts.port or 80
        self.target = parts.path + ("?" + parts.query if parts.query else "")
        self.method = method
        self.lock = threading.Condition()
        self.parser = EventStreamParser()
        self.raw = bytearray()
        self.status = None
        self.reason = None
        self.http_version = None
        self.header_list = []
        self.headers = {}
        self.complete = False
        self.closed = False
        self.end_time = None
        self.error = None
        self.extra_after_end = False
        self.paused = False
        self.returncode = None
        args = [self.CURL, "-sS", "-N", "-i", "--no-progress-meter",
                "-H", "Accept: text/event-stream",
                "-H", "Cache-Control: no-cache",
                "-A", "sse-outbox-tests"]
        if http2:
            args.append("--http2-prior-knowledge")
        if auth is not None:
            args += ["-u", f"{auth[0]}:{auth[1]}"]
        if last_event_id is not None:
            args += ["-H", f"Last-Event-ID: {last_event_id}"]
        for name, value in (headers or {}).items():
            args += ["-H", f"{name}: {value}"]
        if method == "HEAD":
            args.append("-I")
        args.append(url)
        self.sent_at = time.time()
        self.headers_at = None
        self._stop = False
        self._head = b""
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self._start_reading(f"{method} {url}", timeout, "curl ended")

    def _reader(self):
        fd = self.proc.stdout.fileno()
        while not self._stop:
            try:
                ready, _, _ = select.select([fd], [], [], 0.05)
            except (OSError, ValueError):
                break
            if not ready:
                continue
            data = os.read(fd, 65536)
            now = time.time()
            with self.lock:
                if not data:
                    break
                self._take(data, now)
                self.lock.notify_all()
        rc = self.proc.wait()
        err = self.proc.stderr.read().decode("utf-8", "replace")
        with self.lock:
            self.returncode = rc
            if rc != 0:
                self.error = f"curl exit {rc}: {err.strip()}"
            elif self.status is not None:
                self.complete = True
            self._mark_closed()

    def _take(self, data, now):
        if self.status is not None:
            self._body(data, now)
            return
        self._head += data
        while self.status is None:
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._head[:end].decode("latin-1").split("\r\n")
            self._head = self._head[end + 4:]
            version, code = head[0].split(" ")[:2]
            if code.startswith("1"):
                continue        # 100 Continue and the like
            self.http_version = version
            self.status = int(code)
            for line in head[1:]:
                name, _, value = line.partition(":")
                self.header_list.append((name.strip(), value.strip()))
                self.headers[name.strip().lower()] = value.strip()
            self.headers_at = now
        if self._head:
            rest, self._head = self._head, b""
            self._body(rest, now)

    def _body(self, data, now):
        self.raw += data
        if self.status == 200 and self.method == "GET":
            self.parser.feed(bytes(data), now)

    def _join(self):
        self._stop = True
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if threading.current_thread() is not self._thread:
            self._thread.join(2)

    def close(self):
        self._join()

    def kill(self):
        self._join()
