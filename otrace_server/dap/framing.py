"""Debug Adapter Protocol framing on asyncio streams: ``Content-Length: N\\r\\n\\r\\n`` followed by N
BYTES of UTF-8 JSON (the length counts bytes, not characters); the framing itself is
``otrace_server.endpoint``'s (shared with the language server), this module adds the JSON objects.

    message = await read_message(reader)     # dict, None at EOF
    writer.write(encode({"seq": 1, "type": "event", "event": "initialized"}))

``read_message`` raises ``FramingError`` for a header block that is not DAP framing (the caller
closes the connection), ``TooLarge`` for a body above ``MAX_MESSAGE`` (skipped: the stream stays
usable) and ``BadBody`` for a body that is not a JSON object, or nested too deeply to parse
(consumed: the stream stays usable).

Thread-safety: a reader/writer pair belongs to one task on one loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from otrace_server import endpoint
from otrace_server.endpoint import MAX_MESSAGE, FramingError, TooLarge, read_frame

__all__ = ["MAX_MESSAGE", "FramingError", "TooLarge", "BadBody", "read_message", "encode"]


class BadBody(Exception):
    """A message body that is not a JSON object was consumed (message says why)."""


async def read_message(reader: asyncio.StreamReader, skip_large: bool = True) -> dict[str, Any] | None:
    """The next message, or None at EOF (see the module doc for the failures; ``skip_large`` as
    ``endpoint.read_frame``'s)."""
    body = await read_frame(reader, skip_large)
    if body is None:
        return None
    try:
        data = endpoint.loads(body)
    except ValueError as exc:
        raise BadBody(str(exc)) from None
    if not isinstance(data, dict):
        raise BadBody("the message is not a JSON object")
    return data


def encode(message: dict[str, Any]) -> bytes:
    """The framed bytes of ``message``."""
    return endpoint.encode(message, default=repr)
