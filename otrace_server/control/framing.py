"""``Content-Length`` framing on asyncio streams and the JSON of its bodies: the wire format both
control-plane protocols (the language server, the DAP endpoint) share.

    body = await read_frame(reader)         # bytes, None at EOF; FramingError, TooLarge
    data = loads(body)                      # ValueError: not JSON (or nested too deeply)
    writer.write(encode({"seq": 1}))        # or frame(body) for bytes already encoded

A length counts BYTES of UTF-8, not characters. Two limits apply to a body: ``MAX_MESSAGE`` once
a client proved the token, ``MAX_LOGIN_MESSAGE`` (a few KiB: what a login needs) before, so that a
stranger cannot make the process buffer megabytes (``read_frame``'s ``limit``).

Thread-safety: a reader/writer pair belongs to one task on one loop.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Callable

__all__ = ["MAX_MESSAGE", "MAX_LOGIN_MESSAGE", "MAX_HEADERS", "FramingError", "TooLarge", "read_frame",
           "loads", "frame", "encode"]

#: the largest accepted message body of an authenticated client, in bytes
MAX_MESSAGE = 8 * 1024 * 1024
#: the largest accepted message body before the client proved the token, in bytes (an LSP
#: ``initialize`` with its capabilities is 5-10 KiB; a DAP ``attach`` a few hundred bytes)
MAX_LOGIN_MESSAGE = 64 * 1024
#: header lines in one header block, at most (LSP and DAP use one or two)
MAX_HEADERS = 16

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


async def read_frame(reader: asyncio.StreamReader, skip_large: bool = True, limit: int = MAX_MESSAGE) -> bytes | None:
    """The body of the next message, or None at EOF. FramingError for a header block that is not
    framing (a bad header line, more than MAX_HEADERS lines, no or a bad ``Content-Length``);
    TooLarge for a body above ``limit`` (skipped when ``skip_large``, else left unread: the
    caller closes the connection). Stream errors (``IncompleteReadError``...) propagate."""
    length = None
    for _ in range(MAX_HEADERS + 1):
        line = await reader.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is None:
                raise FramingError("header block without Content-Length")
            break
        m = _HEADER.match(line)
        if m is None:
            raise FramingError(f"bad header {line[:60]!r}")
        if m.group(1).lower() == b"content-length":
            if not m.group(2).isdigit():
                raise FramingError(f"bad Content-Length {m.group(2)[:20]!r}")
            length = int(m.group(2))
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
