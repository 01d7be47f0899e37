"""A Tornado app served for real on 127.0.0.1:<free port> by an asyncio loop on its own thread
(``app-thread``): what the /osh/web and the Tornado-holds tests share.

    server = AppServer(make_app)      # started; server.port, server.url, server.loop, server.io_loop
    ...
    server.stop()                     # stops the HTTP server and the loop, joins the thread

Thread-safety: construct and ``stop`` from the test thread; the app runs only on ``app-thread``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import tornado.httpserver
import tornado.ioloop
import tornado.netutil

__all__ = ["AppServer", "load_module"]


def load_module(name: str, path: Path):
    """The module of the file ``path``, imported once under ``name`` (e.g. a demo script)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class AppServer:
    """The Tornado app of ``app_factory()`` on 127.0.0.1:<free port>, its loop on ``app-thread``.
    AssertionError when it does not start within 10 s."""

    def __init__(self, app_factory: Callable[[], Any], backlog: int = 128) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()

        async def setup():
            self.io_loop = tornado.ioloop.IOLoop.current()
            self.http = tornado.httpserver.HTTPServer(app_factory())
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", backlog=backlog)
            self.http.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(setup())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="app-thread", daemon=True)
        self.thread.start()
        assert ready.wait(10), "app server did not start"
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop listening, stop the loop, join its thread, close it (idempotent)."""
        async def shutdown():
            self.http.stop()

        if not self.loop.is_closed():
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()
