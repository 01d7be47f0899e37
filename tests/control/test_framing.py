"""framing.FrameParser: Content-Length framing read incrementally, whatever the cuts of the input,
with the same rules as read_frame (bad headers, limits, skipping a body over the limit)."""

from __future__ import annotations

import pytest

from otrace_server.control.framing import (MAX_HEADER_LINE, MAX_HEADERS, FrameParser, FramingError, TooLarge,
                                           frame)


def bodies(parser: FrameParser, **kw) -> list[bytes]:
    out = []
    while (body := parser.next(**kw)) is not None:
        out.append(body)
    return out


def test_messages_cut_anywhere_come_out_whole_and_in_order():
    data = frame(b'{"a": 1}') + b"Content-Length: 2\nX-Other: y\n\n{}" + frame("é".encode()) + frame(b"")
    expected = [b'{"a": 1}', b"{}", "é".encode(), b""]
    for step in (1, 2, 3, 7, len(data)):
        parser, got = FrameParser(), []
        for start in range(0, len(data), step):
            parser.feed(data[start:start + step])
            got += bodies(parser)
        assert got == expected, step
        assert parser.buffered == 0


def test_a_body_over_the_limit_is_skipped_then_reported_and_the_next_message_read():
    parser = FrameParser()
    parser.feed(b"Content-Length: 10\r\n\r\n01234")
    assert parser.next(limit=5) is None              # still dropping it
    parser.feed(b"56789" + frame(b"ok"))
    with pytest.raises(TooLarge) as err:
        parser.next(limit=5)
    assert (err.value.length, err.value.limit) == (10, 5)
    assert parser.next(limit=5) == b"ok"


def test_without_skipping_a_body_over_the_limit_is_reported_at_its_header():
    parser = FrameParser()
    parser.feed(b"Content-Length: 99999999999999999999\r\n\r\n")
    with pytest.raises(TooLarge):
        parser.next(limit=100, skip_large=False)


@pytest.mark.parametrize("data", [
    b"Content-Type: x\r\n\r\n{}",                          # no Content-Length
    b"Content-Length: 1x\r\n\r\n{}",                        # not a number
    b"{\"jsonrpc\": \"2.0\"}\r\n\r\n",                      # not a header
    b"X-Junk: 1\r\n" * (MAX_HEADERS + 1),                   # endless header block
    b"X-" + b"a" * (MAX_HEADER_LINE + 1),                   # a header line without end
])
def test_input_that_is_not_framing_raises_FramingError(data):
    parser = FrameParser()
    parser.feed(data)
    with pytest.raises(FramingError):
        bodies(parser)
