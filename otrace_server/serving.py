"""Serving a Tornado application with otrace attached, as the demos do.

    from otrace_server import start
    from otrace_server.serving import serve

    serve(make_app(), 8888, "127.0.0.1", attach=lambda io_loop: start(globals(), app_loop=io_loop))

``serve`` binds the HTTP server, prints ``Listening on http://ADDR:PORT`` and the App's control
line, runs the current thread's IOLoop, and on exit (Ctrl-C, SIGTERM, stdin EOF when asked) stops
otrace (held requests answered) before the HTTP server. While its loop serves, the App's
``serving`` event is set (the explicit signal, as the demos give it).

Thread-safety: ``serve`` runs on the thread whose IOLoop serves (the main thread for SIGTERM to be
handled); the stdin watchdog thread crosses to that loop only through ``runtime.crossing``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from typing import Any, Callable

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

from otrace_server.runtime import crossing

__all__ = ["serve"]


def serve(app: tornado.web.Application, port: int = 8888, address: str = "127.0.0.1", *,
          attach: Callable[[tornado.ioloop.IOLoop], Any] | None = None, exit_on_stdin_eof: bool = False,
          backlog: int = 1024, sockets: list | None = None) -> None:
    """Serve ``app`` on ``address:port`` (port 0: a free one) on the current thread's IOLoop until
    Ctrl-C, SIGTERM or, with ``exit_on_stdin_eof``, until stdin reaches EOF (a parent process that
    went away).

    ``attach(io_loop)``, when given, starts otrace beside the app (e.g. ``otrace_server.start``) and
    returns its App (or None). Printed on stdout: ``Listening on http://<address>:<port>``, then the
    App's ``control_line()``. The App's ``serving`` event is set once the loop runs (the HTTP
    server listening) and cleared as it stops serving. On exit otrace is stopped first (held
    requests are resumed and answered), then the HTTP server. ``sockets``: listening sockets
    bound already (``tornado.netutil.bind_sockets`` before ``fork_processes``: every worker serves
    them), instead of binding ``address:port``. Failures: OSError when the port cannot be bound.
    """
    io_loop = tornado.ioloop.IOLoop.current()
    server = tornado.httpserver.HTTPServer(app)
    if sockets is None:
        sockets = tornado.netutil.bind_sockets(port, address, backlog=backlog)
    server.add_sockets(sockets)
    print(f"Listening on http://{address}:{sockets[0].getsockname()[1]}", flush=True)
    otrace = attach(io_loop) if attach is not None else None
    if otrace is not None:
        if otrace.control_line():
            print(otrace.control_line(), flush=True)
        io_loop.asyncio_loop.call_soon(otrace.serving.set)   # once the loop runs: it serves

    async def shutdown():
        if otrace is not None:
            otrace.stop()
            await asyncio.sleep(0.2)   # let the resumed requests be answered
        server.stop()

    async def exit_now():
        await shutdown()
        io_loop.stop()

    if exit_on_stdin_eof:
        _on_stdin_eof(io_loop.asyncio_loop, lambda: asyncio.ensure_future(exit_now()))
    terminate = _on_signals(io_loop.asyncio_loop, lambda: asyncio.ensure_future(exit_now()))
    try:
        io_loop.start()
    except KeyboardInterrupt:
        io_loop.run_sync(shutdown)
    finally:
        terminate()
        if otrace is not None:
            otrace.serving.clear()


def _on_signals(loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> Callable[[], None]:
    """Run ``callback()`` on ``loop`` at SIGTERM (what ``kill`` and service managers send) and at
    SIGINT (Ctrl-C), so held requests are answered instead of the process dying with them. As a
    loop callback, Ctrl-C never lands as a KeyboardInterrupt in the middle of whatever the app
    thread runs (a request starting a hold failed, and the process died by the signal). Only on
    the main thread of a loop that supports signal handlers (elsewhere Ctrl-C stays a
    KeyboardInterrupt, handled by ``serve``); returns what removes the handlers."""
    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, callback)
        except (ValueError, RuntimeError, NotImplementedError, AttributeError):   # not the main thread, Windows
            break
        installed.append(signum)

    def remove() -> None:
        for signum in installed:
            loop.remove_signal_handler(signum)

    return remove


def _on_stdin_eof(loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
    """Watchdog thread: run ``callback()`` on ``loop`` when stdin reaches EOF."""
    def watch():
        try:   # os.read: no lock of sys.stdin is held while waiting (a daemon thread holding it
            fd = sys.stdin.fileno()   # would make the interpreter's shutdown abort)
            while os.read(fd, 4096):
                pass
        except (OSError, ValueError, AttributeError):
            pass
        crossing(loop, callback)

    threading.Thread(target=watch, name="stdin-watchdog", daemon=True).start()
