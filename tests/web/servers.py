"""Helpers of the /osh/web tests: the chat demo module, the headless Chromium command line, (from
``tests.support.appserver``) a Tornado app served for real on a loop thread, and for
raw websocket clients: ``served`` (an app with a registry attached to a real Shell + Runtime),
``on_loop`` and ``connect``."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from pathlib import Path
from typing import Any, Callable, Iterator

import tornado.httpclient
import tornado.websocket

from otrace_server.core.engine import get_engine
from otrace_server.runtime import Runtime
from otrace_server.shell import Shell
from tests.support.appserver import AppServer, load_module

__all__ = ["AppServer", "CHROMIUM", "CHROMIUM_ARGS", "DEMO_PATH", "load_chat", "served", "on_loop", "connect"]

ROOT = Path(__file__).resolve().parents[2]
DEMO_PATH = ROOT / "demos" / "chat_websock.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def load_chat():
    """The chat demo module (imported once, as ``chat_websock``)."""
    return load_module("chat_websock", DEMO_PATH)


@contextlib.contextmanager
def served(registry, make_app: Callable[[], Any], serve: Callable[[Any], Any] = AppServer
           ) -> Iterator[tuple[AppServer, Runtime, Shell]]:
    """``serve(make_app)`` (default: the Tornado app of ``make_app()`` served on 127.0.0.1; see
    ``tests.web.frameworks`` for aiohttp and uvicorn) with ``registry`` attached to a real Shell +
    Runtime on the process engine; yields (server, runtime, shell) and detaches and stops
    everything after."""
    server = serve(make_app)
    runtime = Runtime(get_engine(), server.loop)
    runtime.start()
    shell = Shell(get_engine(), {})
    registry.attach(shell, runtime)
    try:
        yield server, runtime, shell
    finally:
        registry.detach()
        runtime.stop()
        server.stop()


def on_loop(server: AppServer, make: Callable[[], Any], timeout: float = 10) -> Any:
    """Run ``make()`` on the app loop (awaiting what it returns, if awaitable) and return the result."""
    async def run():
        value = make()
        return (await value) if inspect.isawaitable(value) else value

    return asyncio.run_coroutine_threadsafe(run(), server.loop).result(timeout)


def connect(server: AppServer, headers: dict[str, str] | None = None, path: str = "/otrace/ws",
            **options: Any) -> tornado.websocket.WebSocketClientConnection:
    """A raw websocket client (run on the app loop) to ``path`` with ``headers``; ``options`` go to
    ``websocket_connect`` (e.g. ``max_message_size``)."""
    request = tornado.httpclient.HTTPRequest(f"ws://127.0.0.1:{server.port}{path}", headers=headers or {})
    return on_loop(server, lambda: tornado.websocket.websocket_connect(request, **options))
