"""The Tornado adapter: holds that pause ONE request while the server keeps serving, request
summaries, and ``resume --status`` as Tornado's own error response.

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
* status: the handler is answered with that HTTP status (the held code raises
  ``tornado.web.HTTPError(status, reason=reason)``, which Tornado turns into the response); a
  final status only (200-599; 204/304 have no body); when the handler had already flushed part
  of its answer, the headers are sent: the answer is just finished with what was sent; a
  websocket handler's hold (``on_message``) refuses a status (its answer, 101, is sent);
* ``hold_timeout`` seconds (0 = forever) resume it by themselves (changing it applies to waiting
  holds too, counted from when each began); ``stop()`` resumes every hold (outcome ``shutdown``)
  so no request hangs.

``resume`` refuses (one-line OTraceError, the hold keeps waiting) to raise what is not an
``Exception`` (SystemExit would stop the IOLoop; GeneratorExit, CancelledError would leave the
request unanswered) and a 1xx status.

What ``action="hold"`` does in other places (see ``otrace_server.core.assertions``):

* without ``await``: the hold is recorded, but nothing waits for it; when the returned object is
  garbage-collected a warning is logged and the hold is resumed. Always write ``await traceassert(...)``.
* outside a running asyncio loop (a plain thread, a sync handler) or before otrace is started: the
  failure is recorded as an assertion under ``/osh/recent/asserts``, a warning is logged and the
  returned awaitable completes at once (use ``action="break"`` to block a worker thread instead).
* when the condition is true (or tracing is inactive) the awaitable completes at once.

``trace -a hold [-c cond] Class.method`` does the same for an ``async def`` method, before its body runs.

The request of a context (``request_of``) is the ``RequestHandler`` whose method recorded it (its
``self``); its summary ``RequestSummary("GET", "/?number=77", "127.0.0.1", user, "tornado")``
(``user``: the handler's ``current_user`` when the handler has already computed it and it is a
string; never computed here, that would run application code).

A client that disconnects while its request is held marks the hold ``client gone``
(``on_disconnect``); the handler's ``on_connection_close`` waits for the resume (see there), and
what the resumed handler writes goes nowhere.

Serving a Tornado app with otrace attached, as the demos do, is ``otrace_server.serving.serve``.

Thread-safety: see ``otrace_server.frameworks.adapter``.
"""

from __future__ import annotations

from typing import Any, Callable

import tornado.web

from otrace_server.core.request_summary import RequestSummary

__all__ = ["ADAPTER", "TornadoAdapter"]


class TornadoAdapter:
    """The ``frameworks.adapter.Adapter`` of Tornado."""

    name = "tornado"
    http = True
    module = "tornado.web"

    def request_types(self) -> tuple[type, ...]:
        """``(RequestHandler,)``: a handler method's ``self``."""
        return (tornado.web.RequestHandler,)

    def request_from(self, handler: tornado.web.RequestHandler) -> tornado.web.RequestHandler:
        """The handler itself (Tornado's request object is ``handler.request``)."""
        return handler

    def current_request(self) -> None:
        """None: a Tornado request is found from the handler method's ``self`` only."""
        return None

    def summary(self, handler: tornado.web.RequestHandler) -> RequestSummary:
        """``RequestSummary(method, uri, remote_ip, user, "tornado")`` of the handler's request."""
        request = handler.request
        user = vars(handler).get("_current_user")   # set once the handler computed current_user
        return RequestSummary(request.method or "", request.uri or "", request.remote_ip or "",
                              user if isinstance(user, str) else "", self.name)

    def status_exception(self, status: int, reason: str = "") -> tornado.web.HTTPError:
        """``tornado.web.HTTPError(status, reason=reason)``: Tornado's error page for ``status``."""
        return tornado.web.HTTPError(status, "otrace: resumed with HTTP %d", status, reason=reason or None)

    def response_started(self, handler: tornado.web.RequestHandler) -> bool:
        """True for a websocket once upgraded (its answer, 101 Switching Protocols, is sent: a
        status would close the socket); else False: a status after the handler flushed part of
        its answer finishes what was sent (Tornado's own ``send_error`` does so)."""
        return handler.get_status() == 101

    def on_disconnect(self, handler: tornado.web.RequestHandler,
                      gone: Callable[[], None]) -> Callable[[], None] | None:
        """The connection's close callback (``set_close_callback``, where Tornado registered the
        handler's ``on_connection_close``) is ``gone`` while the request is held: the client
        leaving calls ``gone()`` and the handler's ``on_connection_close`` is held back (it would
        run while the handler is paused, before the state the handler sets after the hold exists).
        ``release()``: a handler that finished right after the resume is not told (without
        otrace it had answered before the client left); one still running is told now, or gets
        its close callback back when the client is still there. Several holds of one handler at
        once (``asyncio.gather`` of held steps) share one close callback, a ``_Group`` telling each
        of them, and only the last one's ``release`` tells the handler (once)."""
        connection = handler.request.connection
        if not hasattr(connection, "set_close_callback"):
            return None
        group = vars(handler).get(_GROUP)
        earlier = getattr(connection, "_close_callback", None)   # Tornado's (no public getter)
        if group is None and getattr(earlier, "__func__", None) is getattr(gone, "__func__", False):
            group = vars(handler)[_GROUP] = _Group(earlier)       # another hold's gone: it waits too
        if group is not None:
            group.gones.append(gone)
            group.waiting += 1
            connection.set_close_callback(group)
        else:
            connection.set_close_callback(gone)
        return _Release(handler)


class _Release:
    """``TornadoAdapter.on_disconnect``'s ``release`` of one held handler (one small object per
    hold: the close callback is ``gone`` itself; whether the client left is whether the
    connection's stream is closed, which is what made Tornado call it)."""

    __slots__ = ("handler",)

    def __init__(self, handler: tornado.web.RequestHandler) -> None:
        self.handler = handler

    def __call__(self) -> None:
        """See ``TornadoAdapter.on_disconnect``."""
        handler = self.handler
        group = vars(handler).get(_GROUP)
        if group is not None:
            group.waiting -= 1
            if group.waiting:                     # another hold of the handler still waits
                return
            del vars(handler)[_GROUP]
        if getattr(handler, "_finished", True):   # Tornado's flag: finish() ran (no public one)
            return
        connection = handler.request.connection
        stream = getattr(connection, "stream", None)
        if stream is not None and stream.closed():   # the client left while held
            handler.on_connection_close()
        else:
            connection.set_close_callback(handler.on_connection_close)


#: the key of a handler's ``__dict__`` naming the ``_Group`` of its holds while two or more wait
_GROUP = "_otrace_holds"


class _Group:
    """The close callback of a handler's holds while several wait at once: the client leaving
    tells each of them; ``waiting`` counts the holds whose ``release`` has not run yet."""

    __slots__ = ("gones", "waiting")

    def __init__(self, first: Callable[[], None]) -> None:
        self.gones = [first]
        self.waiting = 1

    def __call__(self) -> None:
        for gone in self.gones:
            gone()


ADAPTER = TornadoAdapter()
