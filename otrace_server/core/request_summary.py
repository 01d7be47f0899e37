"""The request a context was recorded in: ``RequestSummary(method, uri, remote_ip)``, what web
framework glue (``otrace_server.tornado``) stores in ``ctx.extra["request"]``.

    >>> summary = RequestSummary("GET", "/?number=77", "127.0.0.1")
    >>> str(summary)                # THE one-line text consoles show (shell, DAP thread names)
    'GET /?number=77 from 127.0.0.1'
    >>> summary.fields()            # the editor protocol's ``summary`` object (docs/PROTOCOL.md)
    {'method': 'GET', 'uri': '/?number=77', 'remote_ip': '127.0.0.1'}

A named tuple: structured, yet as small as the one-line string it replaces (a tuple of three
references to the request's own strings: ~64 B per held request). The trace database stores and
loads it as itself.

Thread-safety: immutable; any thread.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["RequestSummary"]


class RequestSummary(NamedTuple):
    """An HTTP request in brief: ``method``, ``uri`` (the request target: path and query) and
    ``remote_ip`` ("" when unknown)."""

    method: str
    uri: str
    remote_ip: str = ""

    def __str__(self) -> str:
        """``GET /?number=77 from 127.0.0.1`` (without `` from ...`` when the address is unknown)."""
        text = f"{self.method} {self.uri}"
        return f"{text} from {self.remote_ip}" if self.remote_ip else text

    def fields(self) -> dict[str, str]:
        """``{method, uri, remote_ip}``, those that are not empty."""
        return {key: value for key, value in zip(self._fields, self) if value}
