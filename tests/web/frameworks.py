"""aiohttp and Starlette apps served for real on 127.0.0.1:<free port>: in the test process by an
asyncio loop on a thread of its own (``app-thread``), the way their servers run them (aiohttp's
``AppRunner``/``TCPSite``, what ``web.run_app`` does; ``uvicorn.Server``, what ``uvicorn.run``
does), with the shape of ``tests.support.appserver.AppServer`` (``port``, ``url``, ``loop``,
``stop()``) so that ``servers.served`` and ``servers.connect`` work on them; or as a process of their
own (``AppProcess``: an app of tests/web/apps run by python, or by the ``otrace`` command).

    server = AiohttpServer(app)          # an aiohttp.web.Application
    server = UvicornServer(app)          # any ASGI app (Starlette, FastAPI)
    server.stop()
    app = AppProcess("aiohttp_app", tmp_path, otrace=["-s", "trace_active=True"])
    app.interrupt()                      # SIGINT, as Ctrl-C; app.proc.wait() ...

Thread-safety: construct and ``stop`` from the test thread; the app runs only on ``app-thread``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.lsp.rpc import Client
from tests.support.loops import LoopThread
from tests.support.waiting import wait_for

__all__ = ["AiohttpServer", "UvicornServer", "AppProcess", "uvicorn_serves_websockets"]

ROOT = Path(__file__).resolve().parents[2]
#: the line aiohttp's and uvicorn's servers print once they listen
LISTENING = re.compile(r"(?:Running on|Uvicorn running on) http://127\.0\.0\.1:(\d+)")


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


class AppProcess:
    """``python [-m otrace_server.cli --no-console OTRACE...] tests/web/apps/<app>.py 0`` (``otrace``:
    None runs it without otrace), its discovery directory ``tmp``, once it listens: ``url``,
    ``lines`` (its output so far, stdout and stderr, read by a thread), ``proc``. ``lsp()``: a
    language-server client initialized with the process's token. ``interrupt()`` sends SIGINT;
    ``close()`` kills what is still running. AssertionError when it ends before listening."""

    def __init__(self, app: str, tmp: Path, otrace: list[str] | None = None) -> None:
        command = [] if otrace is None else ["-m", "otrace_server.cli", "--no-console", *otrace]
        env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.tmp = tmp
        self.proc = subprocess.Popen([sys.executable, *command, str(ROOT / "tests" / "web" / "apps" / f"{app}.py"), "0"],
                                     cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, name="app-output", daemon=True).start()
        port = wait_for(self._port, timeout=30, what=f"{app} to listen")
        self.url = f"http://127.0.0.1:{port}"

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def _port(self) -> str | None:
        found = next((m.group(1) for m in map(LISTENING.search, list(self.lines)) if m), None)
        if found is None and self.proc.poll() is not None:
            raise AssertionError(f"the app ended: {''.join(self.lines)}")
        return found

    def lsp(self) -> Client:
        path = self.tmp / "otrace" / f"otrace-{self.proc.pid}.json"
        info = json.loads(wait_for(lambda: path.exists() and path.read_text(), what="the discovery file"))
        client = Client(info["lsp_port"])
        client.initialize(info["token"])
        return client

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
