# SPDX-License-Identifier: BSD-2-Clause
"""Many event streams read by one selector loop, for the fault, chaos
and burst tests.

sseclient.SSEClient gives each stream a thread and parses the body one
character at a time: right for exact checks of a few streams, too slow
for 50 streams that reconnect all the time or for 100,000 events. Here
one thread (the caller's) drives every socket with a selector, decodes
chunked bodies with bytes operations, and splits the event stream at
blank lines. It relies on what the responder sends (LF line ends, which
tests/integration/test_stream.py checks byte for byte); a CR in the body
is counted in `stray_cr` so a test can insist on none.

Every wait is bounded: `Swarm.wait` returns False at its deadline.
"""

import base64
import selectors
import socket
import time
import urllib.parse


class RawStream:
    """One GET whose response is read by a Swarm.

    events: [(id or None, type, data, receipt time.time())] for every
    dispatched event (an event without an id: line keeps None, like the
    reset event). A stream that ends mid-event drops the partial event,
    as a browser does.
    """

    def __init__(self, host, port, target, headers, tag=None, raw=False,
                 rcvbuf=None):
        self.host, self.port, self.target = host, port, target
        self.raw = raw              # keep the body, parse it only at the end
        self.body = bytearray()
        self.body_len = 0           # bytes of body received (raw mode)
        self.tag = tag              # the caller's: a client, a user ...
        self.status = None
        self.headers = {}
        self.events = []
        self.comments = 0
        self.retry = None
        self.stray_cr = 0
        self.complete = False       # chunked body ended with its last chunk
        self.closed = False         # the connection is gone
        self.error = None
        self.started = time.time()
        self.headers_at = None
        self.end_time = None
        self._raw = bytearray()     # bytes not yet decoded
        self._text = bytearray()    # decoded body not yet split into events
        self._chunked = None
        self._chunk_left = None     # None: expect a size line; -1: CRLF
        self._type = None
        self._data = None
        self._id = None
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}",
                 "Accept: text/event-stream", "Cache-Control: no-cache",
                 "User-Agent: sse-outbox-tests-swarm"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, so the window offered stays small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = self.sock.connect_ex((host, port))
        if err not in (0, 115):     # EINPROGRESS
            self._gone(OSError(err, "connect"))

    @property
    def ended(self):
        return self.complete or self.closed

    @property
    def ids(self):
        return [e[0] for e in self.events if e[0] is not None]

    @property
    def last_id(self):
        """The id a browser would resume from (None: none seen)."""
        return self._last_id_seen

    _last_id_seen = None

    def fileno(self):
        return self.sock.fileno()

    def _gone(self, error=None):
        if not self.closed:
            self.closed = True
            self.error = self.error or error
            if self.end_time is None:
                self.end_time = time.time()
        try:
            self.sock.close()
        except OSError:
            pass

    def close(self, reset=False):
        """Leave: FIN, or with reset=True a TCP reset (a killed browser)."""
        if self.closed:
            return
        if reset:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
        self._gone()

    # ---- driven by the Swarm ----

    def on_writable(self):
        try:
            n = self.sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._gone(e)
            return
        self._out = self._out[n:]

    def wants_write(self):
        return bool(self._out) and not self.closed

    def on_readable(self, now):
        try:
            data = self.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._gone(e)
            return
        if not data:
            self._gone()
            return
        self._raw += data
        self._decode(now)

    def _decode(self, now):
        if self.status is None:
            end = self._raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._raw[:end].decode("latin-1").split("\r\n")
            del self._raw[:end + 4]
            try:
                self.status = int(head[0].split(" ", 2)[1])
            except (IndexError, ValueError):
                self.status = -1
            for line in head[1:]:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
            self.headers_at = now
            self._chunked = "chunked" in self.headers.get(
                "transfer-encoding", "")
        if not self._chunked:
            self._text += self._raw
            self._raw.clear()
            length = self.headers.get("content-length")
            if length is not None and len(self._text) >= int(length):
                self.complete = True
                if self.end_time is None:
                    self.end_time = now
        else:
            self._dechunk(now)
        if self.status == 200:
            if self.raw:
                self.body_len += len(self._text)
                self.body += self._text
                self._text.clear()
            else:
                self._split(now)

    def _dechunk(self, now):
        raw = self._raw
        while raw and not self.complete:
            if self._chunk_left is None:
                eol = raw.find(b"\r\n")
                if eol < 0:
                    return
                try:
                    size = int(bytes(raw[:eol]).split(b";")[0], 16)
                except ValueError:
                    self._gone(ValueError("bad chunk size"))
                    return
                del raw[:eol + 2]
                if size == 0:
                    self.complete = True
                    if self.end_time is None:
                        self.end_time = now
                    return
                self._chunk_left = size
            elif self._chunk_left == -1:
                if len(raw) < 2:
                    return
                del raw[:2]
                self._chunk_left = None
            else:
                take = min(self._chunk_left, len(raw))
                self._text += raw[:take]
                del raw[:take]
                self._chunk_left -= take
                if self._chunk_left == 0:
                    self._chunk_left = -1

    def parse_body(self):
        """Raw mode: parse what was kept (receipt times are now)."""
        self._text += self.body
        self.body.clear()
        self._split(time.time())

    def _split(self, now):
        text = self._text
        start = 0
        while True:
            eol = text.find(b"\n", start)
            if eol < 0:
                break
            line = bytes(text[start:eol])
            start = eol + 1
            if b"\r" in line:
                self.stray_cr += 1
                line = line.replace(b"\r", b"")
            self._line(line.decode("utf-8", "replace"), now)
        del text[:start]

    def _line(self, line, now):
        if not line:
            if self._data is not None:
                eid = self._id
                if eid is not None:
                    self._last_id_seen = eid
                self.events.append((eid, self._type or "message",
                                    "\n".join(self._data), now))
            self._type = self._data = self._id = None
            return
        if line[0] == ":":
            self.comments += 1
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            if self._data is None:
                self._data = []
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id":
            self._id = int(value) if value.isdigit() else value
        elif name == "retry":
            self.retry = int(value) if value.isdigit() else self.retry


class Swarm:
    """A selector over RawStreams; the caller's thread drives it."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.streams = set()        # registered with the selector
        self.paused = set()         # open, deliberately not read

    def open(self, server, user, last_event_id=None, query="", tag=None,
             headers=None, raw=False, rcvbuf=None):
        """Start a GET of server's stream for user (harness.Server)."""
        url, kw = server._client_args(user, query, {})
        parts = urllib.parse.urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        hdrs = dict(headers or {})
        if "auth" in kw:
            token = base64.b64encode(
                f"{kw['auth'][0]}:{kw['auth'][1]}".encode()).decode()
            hdrs["Authorization"] = "Basic " + token
        if last_event_id is not None:
            hdrs["Last-Event-ID"] = str(last_event_id)
        s = RawStream(parts.hostname, parts.port, target, hdrs, tag=tag,
                      raw=raw, rcvbuf=rcvbuf)
        if not s.closed:
            self.sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ)
            self.streams.add(s)
        return s

    def pause(self, s):
        """Stop reading s: a client that stalls (its window fills)."""
        if s in self.streams and not s.wants_write():
            self.sel.unregister(s)
            self.streams.discard(s)
            self.paused.add(s)

    def unpause(self, s):
        if s in self.paused:
            self.paused.discard(s)
            if not s.closed:
                self.sel.register(s, selectors.EVENT_READ)
                self.streams.add(s)

    def drop(self, s, reset=False):
        self.paused.discard(s)
        if s in self.streams:
            self.streams.discard(s)
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
        s.close(reset=reset)

    def poll(self, timeout=0.05):
        if not self.streams:
            time.sleep(timeout)
            return
        for key, mask in self.sel.select(timeout):
            s = key.fileobj
            if mask & selectors.EVENT_WRITE:
                s.on_writable()
                if not s.wants_write() and not s.closed:
                    self.sel.modify(s, selectors.EVENT_READ)
            if mask & selectors.EVENT_READ and not s.closed:
                s.on_readable(time.time())
            if s.complete and not s.closed:
                s.close()           # no keep-alive reuse
            if s.closed:
                self.streams.discard(s)
                try:
                    self.sel.unregister(s)
                except (KeyError, ValueError):
                    pass

    def wait(self, predicate, timeout):
        """Drive the streams until predicate() or timeout; its result."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.poll(min(left, 0.05))

    def run_for(self, seconds):
        self.wait(lambda: False, seconds)

    def close(self):
        for s in list(self.streams) + list(self.paused):
            self.drop(s)
        self.sel.close()
