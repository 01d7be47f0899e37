"""Tornado glue: holds that pause ONE request while the server keeps serving, and request summaries.

    import tornado.web
    from otrace_server import start, traceassert

    class GetHandler(tornado.web.RequestHandler):
        async def get(self):
            number = self.get_argument("number", "")
            await traceassert(number != "77", label="hold_check", action="hold")
            self.write(f"1/{number} = {1 / float(number)}")

    app = start(globals())          # called on the IOLoop's thread before IOLoop.current().start()

Entering 77 holds that request: its id ``GetHandler.get:hd-hold_check:HH-MM-SS`` is logged and the
context is listed under ``/osh/recent/holds``; every other request is served meanwhile. ``resume``
(current context, listed ids, or all; from the console, the editor, anywhere) completes the hold on
the application's loop. Outcomes of ``resume``:

* continue (default): ``await traceassert(...)`` returns None and the handler goes on;
* a value: ``await traceassert(...)`` returns it;
* raise: the exception is raised at the ``await`` in the held coroutine;
* status: the handler is answered with that HTTP status (``install`` makes the engine raise
  ``tornado.web.HTTPError(status, reason=reason)``, which Tornado turns into the response); a
  final status only (200-599; 204/304 have no body); when the handler had already flushed part
  of its answer, the headers are sent: the answer is just finished with what was sent;
* ``hold_timeout`` seconds (0 = forever) resume it by themselves (changing it applies to waiting
  holds too, counted from when each began); ``stop()`` resumes every hold (outcome ``shutdown``)
  so no request hangs.

``resume`` refuses (one-line OTraceError, the hold keeps waiting) to raise what is not an
``Exception`` (SystemExit would stop the IOLoop; GeneratorExit, CancelledError would leave the
request unanswered) and a 1xx status.

A client that disconnects while its request is held leaves the hold listed; resuming it later is
harmless (Tornado discards what the handler writes to a closed connection).

What ``action="hold"`` does in other places (see ``otrace_server.core.assertions``):

* without ``await``: the hold is recorded, but nothing waits for it; when the returned object is
  garbage-collected a warning is logged and the hold is resumed. Always write ``await traceassert(...)``.
* outside a running asyncio loop (a plain thread, a sync handler) or before otrace is started: the
  failure is recorded as an assertion under ``/osh/recent/asserts``, a warning is logged and the
  returned awaitable completes at once (use ``action="break"`` to block a worker thread instead).
* when the condition is true (or tracing is inactive) the awaitable completes at once.

``trace -a hold [-c cond] Class.method`` does the same for an ``async def`` method, before its body runs.

``install(engine)`` also adds a (deferred) enricher that stores a request summary
``core.request_summary.RequestSummary("GET", "/?number=77", "127.0.0.1")`` in ``ctx.extra["request"]``
for every context recorded in a ``RequestHandler`` method (a named tuple of the request's own
strings, no bigger than a one-line string: consoles show ``str(summary)``, the editor protocol
sends ``summary.fields()``); ``handler_of(ctx)`` returns that handler, the context's first
argument (the web module correlates it with a connected browser in ``ctx.extra["web_client"]``).

Serving a Tornado app with otrace attached, as the demos do, is ``otrace_server.serving.serve``.

Thread-safety notes: the enricher runs on the thread that records a context (the app's loop for
handlers) or, for a traced call's context the engine queued, on the thread that next reads the
store; it only reads the request, which does not change once the handler exists. ``install``/``uninstall`` are called by ``otrace_server.app``.
"""

from __future__ import annotations

from typing import Any

import tornado.web

from otrace_server.core.context import TraceContext
from otrace_server.core.request_summary import RequestSummary

__all__ = ["install", "uninstall", "handler_of", "request_summary", "http_error"]


def http_error(status: int, reason: str = "") -> tornado.web.HTTPError:
    """The exception a held handler raises for ``resume`` with an HTTP status."""
    return tornado.web.HTTPError(status, "otrace: resumed with HTTP %d", status, reason=reason or None)


def handler_of(ctx: TraceContext) -> tornado.web.RequestHandler | None:
    """The Tornado request handler whose method recorded ``ctx`` (its ``self``), or None."""
    handler = ctx.first_argument
    return handler if isinstance(handler, tornado.web.RequestHandler) else None


def request_summary(ctx: TraceContext) -> None:
    """Enricher: put ``RequestSummary(method, uri, remote_ip)`` of the handler's request into
    ``ctx.extra["request"]`` when ``ctx`` was recorded in a RequestHandler method (``remote_ip`` ""
    when Tornado has none). Cheap; never raises for a context that has no handler."""
    handler = handler_of(ctx)
    if handler is None:
        return
    request = handler.request
    ctx.extra["request"] = RequestSummary(request.method or "", request.uri or "", request.remote_ip or "")


def install(engine: Any) -> None:
    """Make ``engine`` Tornado-aware: status outcomes raise ``tornado.web.HTTPError`` and contexts of
    request handlers get a request summary. Idempotent."""
    engine.status_exception = http_error
    if request_summary not in engine.deferred_enrichers:   # a request does not change: deferred
        engine.deferred_enrichers.append(request_summary)


def uninstall(engine: Any) -> None:
    """Undo ``install`` (status outcomes raise the engine's default ``HoldAnswered`` again)."""
    from otrace_server.core.holds import HoldAnswered

    if engine.status_exception is http_error:
        engine.status_exception = HoldAnswered
    while request_summary in engine.deferred_enrichers:
        engine.deferred_enrichers.remove(request_summary)
