"""The Adapter protocol: what otrace asks of a web framework (Tornado, aiohttp, Starlette/FastAPI)
about a request held or traced in it. One adapter object per framework, in
``otrace_server.frameworks.<name>`` (``ADAPTER``); ``otrace_server.frameworks`` chooses among them.

    adapter = otrace_server.frameworks.adapter_of(ctx)   # the framework ctx was recorded in
    request = otrace_server.frameworks.request_of(ctx)   # Tornado: the RequestHandler
    adapter.summary(request)      # RequestSummary("GET", "/?n=77", "127.0.0.1", framework="tornado")
    raise adapter.status_exception(503, "try later")     # the framework answers 503

Thread-safety: ``request_types``, ``request_from``, ``summary`` and ``status_exception`` may be
called from any thread
(they only read what does not change once the request exists); ``current_request`` only on the
thread that records a context, while it records it; ``response_started`` and ``on_disconnect`` on
the app loop's thread.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from otrace_server.core.request_summary import RequestSummary

__all__ = ["Adapter"]


class Adapter(Protocol):
    """One web framework as otrace sees it."""

    #: ``tornado``, ``aiohttp``, ``starlette`` (FastAPI too) or ``plain`` (no HTTP: threads, asyncio)
    name: str
    #: whether requests of this framework can be answered with an HTTP status (plain: False)
    http: bool
    #: the module whose presence in ``sys.modules`` means the program uses the framework
    module: str

    def request_types(self) -> tuple[type, ...]:
        """The classes of a traced call's first argument that are (or carry) this framework's
        request (Tornado: ``RequestHandler``; aiohttp: ``web.BaseRequest``, ``web.View``;
        Starlette: ``Request``, ``HTTPEndpoint``). Asked once per class seen (``selection``
        caches the answer), so the per-context cost is one dict lookup."""

    def request_from(self, first: Any) -> Any | None:
        """The request of a first argument whose class is one of ``request_types()`` (the handler,
        request or endpoint itself, or the request it carries), or None (e.g. a websocket)."""

    def current_request(self) -> Any | None:
        """The framework's request of the code running on the calling thread now (from its stack:
        a FastAPI endpoint without a ``request`` parameter), or None. Only meaningful while a
        context is being recorded on this thread (the engine's enrichers of a hold or break)."""

    def summary(self, request: Any) -> RequestSummary:
        """``RequestSummary(method, uri, remote_ip, user, framework=name)`` of a request this
        adapter returned ("" for what the framework does not know)."""

    def status_exception(self, status: int, reason: str = "") -> BaseException:
        """The exception that, raised in the request's handler, makes the framework answer with
        ``status`` (200-599) and ``reason`` (its own error response: status line and body)."""

    def response_started(self, request: Any) -> bool:
        """Whether the answer to ``request`` has begun leaving (bytes sent to the client), so that
        no HTTP status can answer it any more (a hold in a background task, or in a streamed
        body). False where the framework finishes what was sent itself (Tornado). On the app
        loop's thread, as a hold starts."""

    def on_disconnect(self, request: Any, gone: Callable[[], None]) -> Callable[[], None] | None:
        """Watch the client of a held ``request``: call ``gone()`` (on the app loop) once it
        disconnects, and hold back what the framework would tell the application about it
        meanwhile. Returns ``release()``, which the engine calls on the app loop once the held
        code, resumed, has run its next step: it ends the watch and delivers what was held back
        as the framework would have without otrace (nothing when the handler has finished: the
        client then left after the answer). None: the framework cannot tell. On the app loop."""
