"""A Tornado app served for real on 127.0.0.1:<free port> by an asyncio loop on its own thread
(``app-thread``): what the /osh/web and the Tornado-holds tests share.

    server = AppServer(make_app)      # started; server.port, server.url, server.loop, server.io_loop
    ...
    server.stop()                     # stops the HTTP server and the loop, joins the thread

Thread-safety: construct and ``stop`` from the test thread; the app runs only on ``app-thread``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

import tornado.httpserver
import tornado.ioloop
import tornado.netutil

from tests.support.loops import LoopThread

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
    TimeoutError when it does not start within 10 s."""

    def __init__(self, app_factory: Callable[[], Any], backlog: int = 128) -> None:
        self._loop_thread = LoopThread("app-thread", timeout=10)
        self.loop = self._loop_thread.loop

        async def setup():
            self.io_loop = tornado.ioloop.IOLoop.current()
            self.http = tornado.httpserver.HTTPServer(app_factory())
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", backlog=backlog)
            self.http.add_sockets(sockets)
            return sockets[0].getsockname()[1]

        self.port = self._loop_thread.run(setup())
        self.thread = self._loop_thread.thread
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop listening, then stop the loop as ``LoopThread.stop`` does: requests left waiting
        cancelled, loop stopped, thread joined, loop closed (idempotent)."""
        async def shutdown():
            self.http.stop()

        if not self.loop.is_closed():
            self._loop_thread.run(shutdown(), timeout=5)
            self._loop_thread.stop()
