"""The Starlette adapter (FastAPI too, which rides on Starlette): holds in endpoints, their request
summaries, and ``resume --status N reason`` as the app's own HTTP error response
(``starlette.exceptions.HTTPException(status, detail)``: Starlette answers it as plain text,
FastAPI as ``{"detail": ...}``).

    from fastapi import FastAPI
    from otrace_server import traceassert

    app = FastAPI()

    @app.get("/")
    async def divide(number: str = ""):
        await traceassert(number != "77", label="hold_check", action="hold")
        return {"result": 1 / float(number)}

    # uvicorn.run(app, host="127.0.0.1", port=8000), under `otrace script.py`

The request of a context: the endpoint's first argument (a Starlette endpoint's ``request``, an
``HTTPEndpoint`` method's ``self``) or a FastAPI endpoint's ``Request`` parameter (FastAPI passes
every argument by keyword, see ``selection.found``), else, for a hold or break while it is recorded, the nearest
``request`` (or ASGI ``scope``) on the stack (a FastAPI endpoint without a ``Request``
parameter: FastAPI's own request handler holds it a few frames up). Summary: method, path and
query, the client's address, and ``scope["user"]`` when it is a string or Starlette's
``SimpleUser`` (authentication middleware). A websocket endpoint's ``WebSocket`` is its request
too: summarized as its handshake (``GET /ws``), answered already (no status), its client watched
through the transport of uvicorn's websocket protocol.

Active only when the program imported ``starlette`` (optional extra ``otrace-server[starlette]``).

Thread-safety: see ``otrace_server.frameworks.adapter``.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable

from otrace_server.core.request_summary import RequestSummary

try:
    from starlette.authentication import SimpleUser
    from starlette.endpoints import HTTPEndpoint
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.websockets import WebSocket
except ImportError:   # the [starlette] extra: the selection imports this module once starlette is loaded
    SimpleUser = HTTPEndpoint = HTTPException = Request = WebSocket = None

__all__ = ["ADAPTER", "StarletteAdapter"]


class StarletteAdapter:
    """The ``frameworks.adapter.Adapter`` of Starlette and FastAPI."""

    name = "starlette"
    http = True
    module = "starlette"

    def request_types(self) -> tuple[type, ...]:
        """A Starlette endpoint's ``Request`` (FastAPI's too), an ``HTTPEndpoint`` method's ``self``,
        a websocket endpoint's ``WebSocket`` (its summary is its handshake's, ``GET /ws``)."""
        return (Request, HTTPEndpoint, WebSocket)

    def request_from(self, first: Any) -> "Request | None":
        """The request itself, or a ``Request`` over an ``HTTPEndpoint``'s HTTP scope."""
        if isinstance(first, HTTPEndpoint):
            return Request(first.scope, first.receive) if first.scope.get("type") == "http" else None
        return first

    def current_request(self) -> "Request | None":
        """The request of the endpoint running on this thread (see the module's docstring)."""
        from otrace_server.frameworks.stack import local_named

        return local_named(("request", "scope"), _a_request, skip=1)

    def summary(self, request: "Request") -> RequestSummary:
        """``RequestSummary(method, path?query, client host, user, "starlette")``."""
        scope = request.scope
        uri = scope.get("path", "")
        method = scope.get("method") or ("GET" if scope.get("type") == "websocket" else "")   # the handshake
        query = scope.get("query_string", b"")
        if query:
            uri = f"{uri}?{query.decode('latin-1')}"
        client = scope.get("client")
        user = scope.get("user")
        if isinstance(user, SimpleUser):
            user = user.username
        return RequestSummary(method, uri, str(client[0]) if client else "",
                              user if isinstance(user, str) else "", self.name)

    def status_exception(self, status: int, reason: str = "") -> BaseException:
        """``starlette.exceptions.HTTPException(status, reason)`` (FastAPI's HTTPException is a
        subclass: both apps' exception handlers answer it)."""
        return HTTPException(status, reason or None)

    def response_started(self, request: "Request") -> bool:
        """uvicorn's request cycle (the ``__self__`` of the request's ``receive``, else of the
        nearest ``receive`` on the stack: a request found by its ``scope`` has none) has sent the
        response's start (a background task runs after it, a streamed body during it); other
        servers: False (cannot tell). A websocket: True (its answer is the handshake's)."""
        from otrace_server.frameworks.stack import local_named

        if request.scope.get("type") == "websocket":
            return True
        cycle = _uvicorn_cycle(request.receive) or local_named(("receive",), _uvicorn_cycle, skip=1)
        return cycle is not None and cycle.response_started is True

    def on_disconnect(self, request: "Request", gone: Callable[[], None]) -> Callable[[], None] | None:
        """The ASGI server's own flag, looked at every ``polling.INTERVAL`` s while held: uvicorn's
        request cycle (the ``__self__`` of the request's ``receive``) sets ``disconnected`` when
        the client leaves. Reading ``receive`` ourselves would take the application's body
        messages; other servers, or a ``receive`` wrapped by middleware: None (cannot tell). A
        websocket: whether the transport of uvicorn's websocket protocol (the ``__self__`` of the
        nearest ``receive`` on the stack) is closing."""
        from otrace_server.frameworks.polling import Poll
        from otrace_server.frameworks.stack import local_named

        if request.scope.get("type") == "websocket":
            transport = local_named(("receive",), _transport_of, skip=1)
            return Poll(transport.is_closing, gone) if transport is not None else None
        cycle = getattr(request.receive, "__self__", None)
        if not isinstance(getattr(cycle, "disconnected", None), bool):
            return None
        return Poll(functools.partial(getattr, cycle, "disconnected"), gone)


def _uvicorn_cycle(receive: Any) -> Any:
    """uvicorn's request cycle whose method ``receive`` is, else None."""
    cycle = getattr(receive, "__self__", None)
    return cycle if isinstance(getattr(cycle, "response_started", None), bool) else None


def _transport_of(receive: Any) -> "asyncio.BaseTransport | None":
    """The transport of the uvicorn protocol whose method ``receive`` is, else None."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    return transport if isinstance(transport, asyncio.BaseTransport) else None


def _a_request(value: Any) -> "Request | None":
    if isinstance(value, Request):
        return value
    if isinstance(value, dict) and value.get("type") == "http" and "method" in value:   # an ASGI scope
        return Request(value)
    return None


ADAPTER = StarletteAdapter()
