"""``Content-Length`` framing and the JSON of its bodies: the wire format both control-plane
protocols (the language server, the DAP endpoint) share.

    frames = FrameParser()                  # the servers: bytes in as they arrive (data_received)
    frames.feed(data)
    body = frames.next(limit)               # a whole body, or None: more input is needed
    body = await read_frame(reader)         # clients on asyncio streams: None at EOF
    data = loads(body)                      # ValueError: not JSON (or nested too deeply)
    transport.write(encode({"seq": 1}))     # or frame(body) for bytes already encoded

A length counts BYTES of UTF-8, not characters. Two limits apply to a body: ``MAX_MESSAGE`` once
a client proved the token, ``MAX_LOGIN_MESSAGE`` (a few KiB: what a login needs) before, so that a
stranger cannot make the process buffer megabytes (the ``limit`` of ``FrameParser.next`` and
``read_frame``). A header line is at most ``MAX_HEADER_LINE`` bytes.

Thread-safety: a parser, or a reader/writer pair, belongs to one connection on one loop.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Callable

__all__ = ["MAX_MESSAGE", "MAX_LOGIN_MESSAGE", "MAX_HEADERS", "MAX_HEADER_LINE", "FramingError", "TooLarge",
           "FrameParser", "read_frame", "loads", "frame", "encode"]

#: the largest accepted message body of an authenticated client, in bytes
MAX_MESSAGE = 8 * 1024 * 1024
#: the largest accepted message body before the client proved the token, in bytes (an LSP
#: ``initialize`` with its capabilities is 5-10 KiB; a DAP ``attach`` a few hundred bytes)
MAX_LOGIN_MESSAGE = 64 * 1024
#: header lines in one header block, at most (LSP and DAP use one or two)
MAX_HEADERS = 16
#: the longest header line, in bytes (a Content-Length line is about 25)
MAX_HEADER_LINE = 64 * 1024

_HEADER = re.compile(rb"^([A-Za-z-]+):\s*(.*?)\s*$")


class FramingError(Exception):
    """The input is not Content-Length framing; the connection cannot continue."""


class TooLarge(Exception):
    """A message body above the limit; ``length`` is its size in bytes, ``limit`` the limit. When
    it was skipped (``read_frame(skip_large=True)``) the stream stays usable."""

    def __init__(self, length: int, limit: int = MAX_MESSAGE) -> None:
        super().__init__(f"message too large ({length} bytes; the limit is {limit})")
        self.length = length
        self.limit = limit


def _header(line: bytes, length: int | None) -> int | None:
    """The Content-Length known after the header ``line`` (not the blank line ending the block),
    given ``length``, the one known before it. FramingError for a line that is not a header or a
    Content-Length that is not a number."""
    m = _HEADER.match(line)
    if m is None:
        raise FramingError(f"bad header {line[:60]!r}")
    if m.group(1).lower() == b"content-length":
        if not m.group(2).isdigit():
            raise FramingError(f"bad Content-Length {m.group(2)[:20]!r}")
        return int(m.group(2))
    return length


class FrameParser:
    """Content-Length framing read incrementally: ``feed`` the bytes of a connection as they
    arrive, ``next`` takes its messages' bodies one at a time, in order. No I/O, no loop: the
    caller decides when to read more (``buffered``: the bytes fed and not yet taken)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._lines = 0                     # header lines of the block being read
        self._length: int | None = None     # its Content-Length so far
        self._body: int | None = None       # the block is complete: the body's length
        self._skip = 0                      # bytes of a body over the limit still to drop

    def feed(self, data: bytes) -> None:
        """Add bytes read from the connection."""
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Bytes fed and not yet taken as (or dropped with) a body."""
        return len(self._buffer)

    def next(self, limit: int = MAX_MESSAGE, skip_large: bool = True) -> bytes | None:
        """The next body, or None until more input is fed. FramingError for a header block that
        is not framing (a bad header line, one longer than MAX_HEADER_LINE, more than
        MAX_HEADERS lines, no or a bad ``Content-Length``): the parser cannot go on. TooLarge for a
        body above ``limit``: with ``skip_large`` once the whole body was dropped (the parser
        goes on with the next message), else as soon as its header is read (the body is left:
        the caller closes the connection)."""
        buffer = self._buffer
        while self._body is None:
            end = buffer.find(b"\n")
            if end < 0:
                if len(buffer) > MAX_HEADER_LINE:
                    raise FramingError(f"a header line longer than {MAX_HEADER_LINE} bytes")
                return None
            line = bytes(buffer[:end + 1])
            del buffer[:end + 1]
            if line in (b"\r\n", b"\n"):
                if self._length is None:
                    raise FramingError("header block without Content-Length")
                self._body, self._length, self._lines = self._length, None, 0
                if self._body > limit:
                    if not skip_large:
                        raise TooLarge(self._body, limit)
                    self._skip = self._body
            else:
                self._lines += 1
                if self._lines > MAX_HEADERS:
                    raise FramingError(f"more than {MAX_HEADERS} header lines")
                self._length = _header(line, self._length)
        if self._skip:
            dropped = min(self._skip, len(buffer))
            del buffer[:dropped]
            self._skip -= dropped
            if self._skip:
                return None
            length, self._body = self._body, None
            raise TooLarge(length, limit)
        if len(buffer) < self._body:
            return None
        body = bytes(buffer[:self._body])
        del buffer[:self._body]
        self._body = None
        return body


async def read_frame(reader: asyncio.StreamReader, skip_large: bool = True, limit: int = MAX_MESSAGE) -> bytes | None:
    """The body of the next message on an asyncio stream (a client's, e.g. the benches'), or None
    at EOF. FramingError for a header block that is not framing (a bad header line, more than
    MAX_HEADERS lines, no or a bad ``Content-Length``); TooLarge for a body above ``limit``
    (skipped when ``skip_large``, else left unread: the caller closes the connection). Stream
    errors (``IncompleteReadError``...) propagate."""
    length = None
    for _ in range(MAX_HEADERS + 1):
        line = await reader.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is None:
                raise FramingError("header block without Content-Length")
            break
        length = _header(line, length)
    else:
        raise FramingError(f"more than {MAX_HEADERS} header lines")
    if length > limit and not skip_large:
        raise TooLarge(length, limit)
    if length > limit:
        left = length
        while left > 0:
            chunk = await reader.read(min(left, 1 << 16))
            if not chunk:
                return None
            left -= len(chunk)
        raise TooLarge(length, limit)
    return await reader.readexactly(length)


def loads(body: bytes) -> Any:
    """The JSON value of a message body. ValueError with a one-line message when it is not JSON
    (``the message is not valid JSON``) or is nested too deeply for the parser (which would
    otherwise raise RecursionError: ``the message is nested too deeply``)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("the message is nested too deeply") from None
    except ValueError:   # UnicodeDecodeError included
        raise ValueError("the message is not valid JSON") from None


def frame(body: bytes) -> bytes:
    """The framed bytes of a message body."""
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def encode(message: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """The framed bytes of ``message`` as UTF-8 JSON (``default``: ``json.dumps``' hook for the
    values JSON has no form for)."""
    return frame(json.dumps(message, default=default).encode("utf-8"))
