# SPDX-License-Identifier: BSD-2-Clause
"""A raw FastCGI client for the tests that talk to `sse-outbox --listen`
directly, as a web server would: records built by hand (FastCGI 1.0), so
a test can also send what no web server sends (idle connections,
management records, other roles)."""

import socket
import struct
import time

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, \
    STDERR, DATA, GET_VALUES, GET_VALUES_RESULT = range(1, 11)
RESPONDER, AUTHORIZER, FILTER = 1, 2, 3
REQUEST_COMPLETE, CANT_MPX_CONN, OVERLOADED, UNKNOWN_ROLE = range(4)


def record(rtype, request_id, content=b""):
    return struct.pack("!BBHHBx", VERSION, rtype, request_id, len(content),
                       0) + content


def _length(n):
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)


def pairs(params):
    out = b""
    for k, v in params.items():
        k, v = k.encode(), v.encode()
        out += _length(len(k)) + _length(len(v)) + k + v
    return out


def begin(request_id=1, role=RESPONDER, keep_conn=False):
    return record(BEGIN_REQUEST, request_id,
                  struct.pack("!HB5x", role, 1 if keep_conn else 0))


def request_bytes(params, request_id=1, role=RESPONDER):
    """A whole request as a web server sends it: BEGIN, PARAMS, the empty
    PARAMS, the empty STDIN."""
    return (begin(request_id, role) + record(PARAMS, request_id,
            pairs(params)) + record(PARAMS, request_id) +
            record(STDIN, request_id))


def get_params(query, method="GET", **extra):
    p = {"REQUEST_METHOD": method, "QUERY_STRING": query,
         "SCRIPT_NAME": "/events", "REQUEST_URI": "/events?" + query,
         "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1"}
    p.update(extra)
    return p


class Response:
    """What came back on one connection: STDOUT bytes, the END_REQUEST
    (app_status, protocol_status) if any, and whether it was closed."""

    def __init__(self):
        self.stdout = b""
        self.end = None
        self.closed = False
        self._buf = b""

    def feed(self, data):
        self._buf += data
        while len(self._buf) >= 8:
            _, rtype, _, clen, plen = struct.unpack("!BBHHBx",
                                                    self._buf[:8])
            if len(self._buf) < 8 + clen + plen:
                return
            content = self._buf[8:8 + clen]
            self._buf = self._buf[8 + clen + plen:]
            if rtype == STDOUT:
                self.stdout += content
            elif rtype == END_REQUEST:
                self.end = struct.unpack("!IB3x", content)

    @property
    def status(self):
        """The Status: of the CGI head, None before it is complete."""
        head, sep, _ = self.stdout.partition(b"\r\n\r\n")
        if not sep:
            return None
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"status:"):
                return int(line.split()[1])
        return 200

    @property
    def head(self):
        return self.stdout.partition(b"\r\n\r\n")[0].decode("latin-1")

    @property
    def body(self):
        return self.stdout.partition(b"\r\n\r\n")[2]


def connect(addr, timeout=10.0):
    """addr: (host, port) or a unix socket path."""
    if isinstance(addr, tuple):
        s = socket.create_connection(addr, timeout=timeout)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(addr)
    return s


def read_until(sock, resp, predicate, timeout):
    """Read into resp until predicate(resp), the peer closes, or timeout
    (seconds). Returns predicate(resp)."""
    deadline = time.monotonic() + timeout
    while not predicate(resp) and not resp.closed:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            resp.closed = True
            break
        if not data:
            resp.closed = True
            break
        resp.feed(data)
    return predicate(resp)


def ask(addr, params, timeout=10.0, until=None, role=RESPONDER):
    """Send one request; read until `until(resp)` (default: the
    END_REQUEST or the connection's end). Returns (sock, resp); the
    caller closes sock."""
    sock = connect(addr, timeout)
    sock.sendall(request_bytes(params, role=role))
    resp = Response()
    read_until(sock, resp, until or (lambda r: r.end is not None), timeout)
    return sock, resp
