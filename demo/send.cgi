#!/usr/bin/env python3
"""Demo producer (CGI): POST a notification into the outbox.

DEVELOPMENT ONLY: there is no authentication; anyone who can reach it can
notify anyone. A real producer INSERTs inside its own transaction instead.

Request: POST, Content-Type application/x-www-form-urlencoded, fields
  user   recipient key; missing or empty = broadcast (user_id NULL)
  event  SSE event type, letters/digits/._:- (at most 64); missing or
         empty = a plain "message" event (event NULL)
  data   payload text (required, may be empty; at most 64 KiB)
Answers:
  204 No Content, header X-Outbox-Id: <id of the new row>
  400 with a one-line text/plain reason for bad input
  405 for a method other than POST
  500 if the database refused the row (reason in the web server's log)

The database path comes from the environment variable DEMO_DB (set by
lighttpd's setenv.add-environment in the demo config).
"""

import os
import re
import sqlite3
import sys
from urllib.parse import parse_qsl

MAX_BODY = 80 * 1024
MAX_DATA = 64 * 1024
MAX_USER = 256
EVENT_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class BadRequest(Exception):
    pass


def respond(status, body="", headers=()):
    out = [f"Status: {status}"]
    out.extend(headers)
    if body:
        out.append("Content-Type: text/plain; charset=utf-8")
    out.append("Cache-Control: no-store")
    text = "\r\n".join(out) + "\r\n\r\n" + (body + "\n" if body else "")
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def read_form():
    ctype = os.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise BadRequest("expected Content-Type "
                         "application/x-www-form-urlencoded")
    raw_len = os.environ.get("CONTENT_LENGTH", "")
    if not raw_len.isdigit():
        raise BadRequest("missing Content-Length")
    length = int(raw_len)
    if length > MAX_BODY:
        raise BadRequest(f"body over {MAX_BODY} bytes")
    body = sys.stdin.buffer.read(length)
    if len(body) != length:
        raise BadRequest("truncated body")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                          encoding="utf-8", errors="strict",
                          max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("body is not valid UTF-8 form data") from None
    form = {}
    for key, value in pairs:
        if key not in ("user", "event", "data"):
            raise BadRequest(f"unknown field {key!r}")
        if key in form:
            raise BadRequest(f"field {key!r} given twice")
        form[key] = value
    return form


def validate(form):
    """(user_id or None, event or None, data) or BadRequest."""
    user = form.get("user", "")
    if len(user) > MAX_USER:
        raise BadRequest(f"user longer than {MAX_USER} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in user):
        raise BadRequest("user contains a control character")
    event = form.get("event", "")
    if event and not EVENT_RE.fullmatch(event):
        raise BadRequest("event must be 1-64 of letters, digits and ._:-")
    if "data" not in form:
        raise BadRequest("missing field 'data'")
    data = form["data"]
    if len(data.encode("utf-8")) > MAX_DATA:
        raise BadRequest(f"data over {MAX_DATA} bytes")
    return user or None, event or None, data


def insert(db, user, event, data):
    conn = sqlite3.connect(db, timeout=5)
    try:
        with conn:
            # Parameters, never string formatting: the values are the
            # client's.
            cur = conn.execute(
                "INSERT INTO outbox (user_id, event, data) VALUES (?, ?, ?)",
                (user, event, data))
        return cur.lastrowid
    finally:
        conn.close()


def main():
    if os.environ.get("REQUEST_METHOD") != "POST":
        respond("405 Method Not Allowed", "use POST", ["Allow: POST"])
        return
    try:
        user, event, data = validate(read_form())
    except BadRequest as e:
        respond("400 Bad Request", str(e))
        return
    db = os.environ.get("DEMO_DB", "")
    try:
        if not db:
            raise sqlite3.OperationalError("DEMO_DB is not set")
        row_id = insert(db, user, event, data)
    except sqlite3.Error as e:
        print(f"send.cgi: cannot insert into {db or '(no DEMO_DB)'}: {e}",
              file=sys.stderr)
        respond("500 Internal Server Error", "could not store the row")
        return
    respond("204 No Content", headers=[f"X-Outbox-Id: {row_id}"])


if __name__ == "__main__":
    main()
