# SPDX-License-Identifier: BSD-2-Clause
"""The test client's event-stream parser against the HTML standard's
rules, so that what the other tests see is what a browser would see."""

import pytest

from sseclient import EventStreamParser


def parse(chunks):
    p = EventStreamParser()
    for c in chunks:
        p.feed(c, now=0.0)
    return p


def bytewise(data):
    return [data[i:i + 1] for i in range(len(data))]


STREAM = (b"\xef\xbb\xbfretry: 1500\n\n"
          b": hello\r\n"
          b"id: 7\r\nevent: notice\r\ndata: a\r\ndata: b\r\n\r\n"
          b"id: 8\rdata\rdata:  two spaces\r\r"
          b"data: h\xc3\xa9 \xe2\x9c\x93\n\n"
          b"id: 9\ndata: x\nretry: soon\nunknown: f\n\n"
          b"event: lonely\n\n"
          b"data: last\n")        # no blank line: never dispatched


@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_parser_follows_the_standard(split):
    p = parse([STREAM] if split == "whole" else bytewise(STREAM))
    assert p.retry == 1500
    assert [c.text for c in p.comments] == [" hello"]
    got = [(e.id, e.type, e.data) for e in p.events]
    assert got == [
        ("7", "notice", "a\nb"),
        ("8", "message", "\n two spaces"),
        ("8", "message", "h\u00e9 \u2713"),     # the id persists
        ("9", "message", "x"),
    ]
    assert p.events[0].fields == [("id", "7"), ("event", "notice"),
                                  ("data", "a"), ("data", "b")]
    assert not p.events[2].has_id


def test_cr_then_lf_in_the_next_chunk_is_one_line_end():
    p = parse([b"data: a\r", b"\ndata: b\r", b"\r"])
    assert [e.data for e in p.events] == ["a\nb"]


def test_id_with_nul_is_ignored():
    p = parse([b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"])
    assert [e.id for e in p.events] == ["1", "1"]
