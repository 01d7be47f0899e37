"""aiohttp and Starlette apps served for real on 127.0.0.1:<free port> by an asyncio loop on a thread
of its own (``app-thread``), the way their servers run them (aiohttp's ``AppRunner``/``TCPSite``, what
``web.run_app`` does; ``uvicorn.Server``, what ``uvicorn.run`` does): the same shape as
``tests.support.appserver.AppServer`` (``port``, ``url``, ``loop``, ``stop()``), so ``servers.served``
and ``servers.connect`` work on them.

    server = AiohttpServer(app)          # an aiohttp.web.Application
    server = UvicornServer(app)          # any ASGI app (Starlette, FastAPI)
    ...
    server.stop()

Thread-safety: construct and ``stop`` from the test thread; the app runs only on ``app-thread``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from typing import Any

from tests.support.loops import LoopThread

__all__ = ["AiohttpServer", "UvicornServer", "uvicorn_serves_websockets"]


def uvicorn_serves_websockets() -> bool:
    """Whether uvicorn has a websocket implementation here (websockets or wsproto: the
    ``otrace-server[starlette]`` extra installs wsproto)."""
    return any(importlib.util.find_spec(name) is not None for name in ("websockets", "wsproto"))


class _LoopServer:
    """The loop thread, and ``port``/``url`` once ``_serve()`` (run on the loop) gave the port."""

    def __init__(self) -> None:
        self._loop_thread = LoopThread("app-thread", timeout=10)
        self.loop = self._loop_thread.loop
        self.thread = self._loop_thread.thread
        self.port = self._loop_thread.run(self._serve())
        self.url = f"http://127.0.0.1:{self.port}"

    async def _serve(self) -> int:
        raise NotImplementedError

    async def _shutdown(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server (requests still open are cancelled), then the loop. Idempotent."""
        if not self.loop.is_closed():
            self._loop_thread.run(self._shutdown(), timeout=10)
            self._loop_thread.stop()


class AiohttpServer(_LoopServer):
    """``app`` (an ``aiohttp.web.Application``) served by aiohttp's own runner."""

    def __init__(self, app: Any) -> None:
        self.app = app
        super().__init__()

    async def _serve(self) -> int:
        from aiohttp import web

        self.runner = web.AppRunner(self.app, shutdown_timeout=1.0)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return self.runner.addresses[0][1]

    async def _shutdown(self) -> None:
        await self.runner.cleanup()


class UvicornServer(_LoopServer):
    """``app`` (an ASGI application) served by uvicorn, as ``uvicorn.run(app, host="127.0.0.1")``."""

    #: the largest websocket message uvicorn takes (its ``ws_max_size`` default); larger closes
    MAX_MESSAGE = 16 * 1024 * 1024

    def __init__(self, app: Any) -> None:
        self.app = app
        super().__init__()

    async def _serve(self) -> int:
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", log_level="warning",
                                                    ws_max_size=self.MAX_MESSAGE, timeout_graceful_shutdown=1))
        self.task = asyncio.ensure_future(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)
        return sock.getsockname()[1]

    async def _shutdown(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 10)
