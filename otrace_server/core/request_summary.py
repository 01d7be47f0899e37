"""The request a context was recorded in: ``RequestSummary(method, uri, remote_ip, user, framework)``,
what the framework adapters (``otrace_server.frameworks``) store in ``ctx.extra["request"]``.

    >>> summary = RequestSummary("GET", "/?number=77", "127.0.0.1")
    >>> str(summary)                # THE one-line text consoles show (shell, DAP thread names)
    'GET /?number=77 from 127.0.0.1'
    >>> summary.fields()            # the editor protocol's ``summary`` object (docs/PROTOCOL.md)
    {'method': 'GET', 'uri': '/?number=77', 'remote_ip': '127.0.0.1'}

    >>> str(RequestSummary("POST", "/items", "::1", user="alice", framework="starlette"))
    'POST /items from ::1 as alice'

A named tuple: structured, yet as small as the one-line string it replaces (a tuple of five
references to the request's own strings: ~80 B per held request). ``framework`` names the adapter
that found the request (``tornado``, ``aiohttp``, ``starlette``): how a later ``resume --status``
knows who answers it; it is not part of the display text. The trace database stores and loads it
as itself (files written with the older three fields load with the others empty).

Thread-safety: immutable; any thread.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["RequestSummary", "RESPONSE_STARTED"]

#: ``ctx.extra`` key the framework glue sets (True) on a hold whose request's answer had begun
#: leaving when it started (a background task, a streamed body): no status can answer it any more
RESPONSE_STARTED = "response_started"


class RequestSummary(NamedTuple):
    """An HTTP request in brief: ``method``, ``uri`` (the request target: path and query),
    ``remote_ip`` (the client's address), ``user`` (the authenticated user, where the framework
    has one) and ``framework`` (the adapter's name); "" when unknown."""

    method: str
    uri: str
    remote_ip: str = ""
    user: str = ""
    framework: str = ""

    def __str__(self) -> str:
        """``GET /?number=77 from 127.0.0.1 as alice`` (without `` from ...``/`` as ...`` when the
        address/user is unknown)."""
        text = f"{self.method} {self.uri}"
        if self.remote_ip:
            text = f"{text} from {self.remote_ip}"
        return f"{text} as {self.user}" if self.user else text

    def fields(self) -> dict[str, str]:
        """``{method, uri, remote_ip, user}``, those that are not empty (``framework`` is otrace's
        own routing, not part of the protocol)."""
        return {key: value for key, value in zip(_SHOWN, self) if value}


#: the fields of the editor protocol's ``summary`` object, in order
_SHOWN = RequestSummary._fields[:4]
