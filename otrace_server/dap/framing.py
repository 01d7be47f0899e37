"""Debug Adapter Protocol framing on asyncio streams: ``Content-Length: N\\r\\n\\r\\n`` followed by N
BYTES of UTF-8 JSON (the length counts bytes, not characters).

    message = await read_message(reader)     # dict, None at EOF
    writer.write(encode({"seq": 1, "type": "event", "event": "initialized"}))

``read_message`` raises ``FramingError`` for a header block that is not DAP framing (the caller
closes the connection), ``TooLarge`` for a body above ``MAX_MESSAGE`` (skipped: the stream stays
usable) and ``BadBody`` for a body that is not a JSON object (consumed: the stream stays usable).

Thread-safety: a reader/writer pair belongs to one task on one loop.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

__all__ = ["MAX_MESSAGE", "FramingError", "TooLarge", "BadBody", "read_message", "encode"]

#: the largest accepted message body, in bytes
MAX_MESSAGE = 8 * 1024 * 1024

_HEADER = re.compile(rb"^([A-Za-z-]+):\s*(.*?)\s*$")


class FramingError(Exception):
    """The input is not DAP framing; the connection cannot continue."""


class TooLarge(Exception):
    """A message body larger than MAX_MESSAGE was skipped."""


class BadBody(Exception):
    """A message body that is not a JSON object was consumed (message says why)."""


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at EOF (see the module doc for the failures)."""
    length = None
    while True:
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
    if length > MAX_MESSAGE:
        while length > 0:
            chunk = await reader.read(min(length, 1 << 16))
            if not chunk:
                return None
            length -= len(chunk)
        raise TooLarge(f"message too large (the limit is {MAX_MESSAGE} bytes)")
    body = await reader.readexactly(length)
    try:
        data = json.loads(body)
    except ValueError:
        raise BadBody("the message is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadBody("the message is not a JSON object")
    return data


def encode(message: dict[str, Any]) -> bytes:
    """The framed bytes of ``message``."""
    body = json.dumps(message, default=repr).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body
