"""Helpers: the demo app (demos/torna_trace.py) served for real on 127.0.0.1 by a Tornado IOLoop
running on its own thread, otrace started beside it, and small HTTP client helpers."""

from __future__ import annotations

import asyncio
import http.client
import importlib.util
import sys
import threading
import time
from pathlib import Path

import tornado.httpserver
import tornado.netutil

ROOT = Path(__file__).resolve().parents[2]
DEMO_PATH = ROOT / "demos" / "torna_trace.py"


def load_demo():
    """The demo module (imported once, as ``torna_trace``)."""
    if "torna_trace" not in sys.modules:
        spec = importlib.util.spec_from_file_location("torna_trace", DEMO_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules["torna_trace"] = module
        spec.loader.exec_module(module)
    return sys.modules["torna_trace"]


class DemoServer:
    """The demo's Tornado app listening on 127.0.0.1:<free port>, its loop on the thread ``app-thread``."""

    def __init__(self, app_factory=None) -> None:
        self.demo = load_demo()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()

        async def setup():
            self.http = tornado.httpserver.HTTPServer((app_factory or self.demo.make_app)())
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", backlog=4096)
            self.http.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(setup())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="app-thread", daemon=True)
        self.thread.start()
        assert ready.wait(10), "demo server did not start"

    def get(self, query: str = "", timeout: float = 10.0) -> tuple[int, str, str]:
        """GET /<query> on a new connection: (status, reason, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", "/" + query)
            resp = conn.getresponse()
            return resp.status, resp.reason, resp.read().decode()
        finally:
            conn.close()

    def get_in_thread(self, query: str, timeout: float = 15.0) -> "Pending":
        return Pending(self, query, timeout)

    def stop(self) -> None:
        async def shutdown():
            self.http.stop()

        if not self.loop.is_closed():
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


class Pending:
    """A GET running on its own thread (a request that may be held)."""

    def __init__(self, server: DemoServer, query: str, timeout: float) -> None:
        self.result: tuple[int, str, str] | None = None
        self.error: BaseException | None = None
        self.finished_at: float | None = None
        self._thread = threading.Thread(target=self._run, args=(server, query, timeout), daemon=True)
        self._thread.start()

    def _run(self, server, query, timeout):
        try:
            self.result = server.get(query, timeout)
        except BaseException as exc:
            self.error = exc
        self.finished_at = time.monotonic()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float = 10.0) -> tuple[int, str, str]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "request did not complete"
        if self.error is not None:
            raise self.error
        return self.result


def wait_for(predicate, timeout: float = 10.0, message: str = "condition not reached"):
    """Poll ``predicate`` until it returns a true value (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.005)


def wait_holds(engine, n: int, timeout: float = 10.0):
    """Wait until ``n`` holds are listed; returns them (oldest first)."""
    return wait_for(lambda: (lambda hs: hs if len(hs) >= n else None)(engine.holds.list()), timeout,
                    f"expected {n} holds")
