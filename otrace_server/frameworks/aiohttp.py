"""The aiohttp adapter: holds in aiohttp handlers, their request summaries, and
``resume --status N reason`` as aiohttp's own error response (an ``aiohttp.web.HTTPException``).

    from aiohttp import web
    from otrace_server import traceassert

    async def handle(request):
        number = request.query.get("number", "")
        await traceassert(number != "77", label="hold_check", action="hold")
        return web.Response(text=f"1/{number} = {1 / float(number)}")

    app = web.Application()
    app.router.add_get("/", handle)
    web.run_app(app, host="127.0.0.1", port=8080)        # run with `otrace script.py`

The request of a context is the handler's first argument: the ``web.Request`` of a function
endpoint, or the ``request`` of a class-based ``web.View``. Summary: method, ``path_qs``, the
peer's address (``request.remote``); aiohttp has no user of its own.

Active only when the program imported ``aiohttp.web`` (optional extra ``otrace-server[aiohttp]``).

Thread-safety: see ``otrace_server.frameworks.adapter``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from otrace_server.core.request_summary import RequestSummary

try:
    from aiohttp import web
except ImportError:   # the [aiohttp] extra: the selection imports this module once aiohttp.web is loaded
    web = None

__all__ = ["ADAPTER", "AiohttpAdapter"]


@functools.lru_cache(maxsize=None)
def _exception_class(status: int) -> type:
    """``aiohttp.web.HTTPException`` subclass for ``status`` (aiohttp's own classes need a
    location for redirects and exist only for the registered statuses: this one has none of
    that, and no body for 204/304)."""
    base = web.HTTPError if status >= 400 else web.HTTPRedirection if status >= 300 else web.HTTPSuccessful
    return type(f"HTTPStatus{status}", (base,), {"status_code": status, "empty_body": status in (204, 304),
                                                  "__module__": __name__})


class AiohttpAdapter:
    """The ``frameworks.adapter.Adapter`` of aiohttp."""

    name = "aiohttp"
    http = True
    module = "aiohttp.web"

    def request_types(self) -> tuple[type, ...]:
        """A function endpoint's ``web.Request``, a class-based ``web.View``."""
        return (web.BaseRequest, web.View)

    def request_from(self, first: Any) -> "web.BaseRequest":
        """The request itself, or the view's ``request``."""
        return first.request if isinstance(first, web.View) else first

    def current_request(self) -> "web.BaseRequest | None":
        """The request of a handler on this thread's stack (a helper coroutine it awaits)."""
        from otrace_server.frameworks.stack import local_named

        return local_named(("request",), _a_request, skip=1)

    def summary(self, request: "web.BaseRequest") -> RequestSummary:
        """``RequestSummary(method, path_qs, remote, "", "aiohttp")``."""
        return RequestSummary(request.method, request.path_qs, request.remote or "", "", self.name)

    def status_exception(self, status: int, reason: str = "") -> BaseException:
        """An ``aiohttp.web.HTTPException`` of ``status``: aiohttp answers with that status line
        and the body ``"<status>: <reason>"``."""
        return _exception_class(status)(reason=reason or None)

    def response_started(self, request: "web.BaseRequest") -> bool:
        """Bytes of the answer sent: the request's writer's ``output_size`` (a ``StreamResponse``
        sends its headers when prepared)."""
        return getattr(request.writer, "output_size", 0) > 0

    def on_disconnect(self, request: "web.BaseRequest", gone: Callable[[], None]) -> Callable[[], None] | None:
        """The request's transport, looked at every ``polling.INTERVAL`` s while held (aiohttp
        has no disconnect callback; it only cancels the handler when the app runs with
        ``handler_cancellation=True``, which ends the hold as ``cancelled``)."""
        from otrace_server.frameworks.polling import Poll

        return Poll(functools.partial(_transport_closed, request), gone)


def _transport_closed(request: "web.BaseRequest") -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _a_request(value: Any) -> Any:
    return value if isinstance(value, web.BaseRequest) else None


ADAPTER = AiohttpAdapter()
