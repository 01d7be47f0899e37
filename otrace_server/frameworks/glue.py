"""Installing the frameworks on an engine: request summaries and status answers per framework.

    glue.install(engine)      # app.start does it; adapters activate by what the program imports
    glue.uninstall(engine)    # app.stop

``install`` adds ``request_summary`` to ``engine.deferred_enrichers`` (a request does not change
once its handler runs, so the summary may be made when a queued context gets its id), makes
``engine.status_exception_for`` ask the frameworks (``selection.status_exception_for``) and
``engine.client_watch`` watch a held request's client (``client_watch``: ``Adapter.on_disconnect``).

Thread-safety: ``install``/``uninstall`` on the thread that starts/stops otrace;
``request_summary`` on the thread that records a context or reads the store (see
``core.engine``): it only reads the request.
"""

from __future__ import annotations

from typing import Any, Callable

from otrace_server.core.context import TraceContext
from otrace_server.core.engine import answer_any_hold, watch_no_client
from otrace_server.core.request_summary import RESPONSE_STARTED
from otrace_server.frameworks.selection import found, status_exception_for

__all__ = ["install", "uninstall", "request_summary", "client_watch"]


def request_summary(ctx: TraceContext) -> None:
    """Deferred enricher: ``ctx.extra["request"] = adapter.summary(request)`` when ``ctx`` was
    recorded in a request of a framework the program uses (see ``selection.found``). Cheap for a
    context outside any request; never raises for one."""
    hit = found(ctx)
    if hit is not None:
        ctx.extra["request"] = hit[0].summary(hit[1])


def client_watch(hold: Any, gone: Callable[[], None]) -> Callable[[], None] | None:
    """The engine's ``client_watch`` hook (app loop, while the hold starts, the held coroutine on
    the stack): the ``on_disconnect`` watch of the framework of the hold's request, or None; a
    request whose answer has begun leaving is marked so (``ctx.extra[RESPONSE_STARTED]``: a
    later ``resume --status`` is refused, the hold keeps waiting)."""
    hit = found(hold.context, live=True)
    if hit is None:
        return None
    adapter, request = hit
    if adapter.response_started(request):
        hold.context.extra[RESPONSE_STARTED] = True
    return adapter.on_disconnect(request, gone)


def install(engine: Any) -> None:
    """Make ``engine`` framework-aware (see the module's docstring). Idempotent."""
    engine.status_exception_for = status_exception_for
    engine.client_watch = client_watch
    if request_summary not in engine.deferred_enrichers:
        engine.deferred_enrichers.append(request_summary)


def uninstall(engine: Any) -> None:
    """Undo ``install``: status outcomes raise the bare engine's ``HoldAnswered`` again."""
    if engine.status_exception_for is status_exception_for:
        engine.status_exception_for = answer_any_hold
    if engine.client_watch is client_watch:
        engine.client_watch = watch_no_client
    while request_summary in engine.deferred_enrichers:
        engine.deferred_enrichers.remove(request_summary)
