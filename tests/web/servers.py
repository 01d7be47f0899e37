"""Helpers of the /osh/web tests: a Tornado app served for real on 127.0.0.1 by a loop on its own
thread, the chat demo module, and polling."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
import time
from pathlib import Path

import tornado.httpserver
import tornado.netutil

ROOT = Path(__file__).resolve().parents[2]
DEMO_PATH = ROOT / "demos" / "chat_websock.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def load_chat():
    """The chat demo module (imported once, as ``chat_websock``)."""
    if "chat_websock" not in sys.modules:
        spec = importlib.util.spec_from_file_location("chat_websock", DEMO_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules["chat_websock"] = module
        spec.loader.exec_module(module)
    return sys.modules["chat_websock"]


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    """Poll ``predicate()`` until it returns a true value (returned) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class AppServer:
    """A Tornado app on 127.0.0.1:<free port>, its loop running on the thread ``app-thread``."""

    def __init__(self, app_factory) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def setup():
            import tornado.ioloop

            self.io_loop = tornado.ioloop.IOLoop.current()
            self.http = tornado.httpserver.HTTPServer(app_factory())
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
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
        async def shutdown():
            self.http.stop()

        if not self.loop.is_closed():
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()
