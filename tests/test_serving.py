"""otrace_server.serving: ``serve`` runs a Tornado app with otrace attached and sets the App's
``serving`` event while it serves."""

from __future__ import annotations

import asyncio
import threading

import tornado.ioloop
import tornado.web

from otrace_server.serving import serve


class _StubApp:
    """What ``serve`` uses of the App its ``attach`` returns."""

    def __init__(self) -> None:
        self.serving = threading.Event()
        self.serving_when_stopped = None

    def control_line(self) -> None:
        return None

    def stop(self) -> None:
        self.serving_when_stopped = self.serving.is_set()


def test_serve_sets_the_apps_serving_event_while_it_serves(capsys):
    stub, seen = _StubApp(), []

    def attach(io_loop):
        def check_then_interrupt():
            seen.append(stub.serving.is_set())
            raise KeyboardInterrupt                # as Ctrl-C: serve() stops otrace, then the server

        io_loop.call_later(0.05, check_then_interrupt)
        return stub

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)                   # serve() runs the current thread's IOLoop
    try:
        serve(tornado.web.Application([]), 0, "127.0.0.1", attach=attach)
    finally:
        tornado.ioloop.IOLoop.current().close(all_fds=True)
        asyncio.set_event_loop(None)
        loop.close()
    assert seen == [True]
    assert stub.serving_when_stopped is True       # still serving while otrace stops (holds answered)
    assert not stub.serving.is_set()               # cleared once the HTTP server stopped
    assert capsys.readouterr().out.startswith("Listening on http://127.0.0.1:")
