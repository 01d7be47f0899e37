"""The plain adapter: code that is not an HTTP request of a known framework (a thread of a
threaded ``http.server``, a worker thread, bare asyncio). It finds no request, has no summary,
and a status outcome is refused (``Engine.resume``); continue, ``--value`` and ``--raise`` work.

Thread-safety: stateless; any thread.
"""

from __future__ import annotations

from typing import Any, Callable

from otrace_server.core.request_summary import RequestSummary

__all__ = ["ADAPTER", "PlainAdapter"]


class PlainAdapter:
    """The ``frameworks.adapter.Adapter`` of everything else: no HTTP."""

    name = "plain"
    http = False
    module = "asyncio"

    def request_types(self) -> tuple[type, ...]:
        """None: there is no request."""
        return ()

    def request_from(self, first: Any) -> None:
        """None: there is no request."""
        return None

    def current_request(self) -> None:
        """None: there is no request."""
        return None

    def summary(self, request: Any) -> RequestSummary:
        """Never called (there is no request): an empty summary."""
        return RequestSummary("", "", framework=self.name)

    def status_exception(self, status: int, reason: str = "") -> BaseException:
        """Never called (``resume`` refuses a status first)."""
        raise TypeError("a plain hold cannot be answered with an HTTP status")

    def response_started(self, request: Any) -> bool:
        """Never called (there is no request): False."""
        return False

    def on_disconnect(self, request: Any, gone: Callable[[], None]) -> None:
        """None: no client to watch."""
        return None


ADAPTER = PlainAdapter()
