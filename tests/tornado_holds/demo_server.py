"""Helpers: the demo app (demos/torna_trace.py) served for real on 127.0.0.1 by a Tornado IOLoop
running on its own thread, otrace started beside it, and small HTTP client helpers."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

from tests.support.appserver import AppServer, load_module
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
DEMO_PATH = ROOT / "demos" / "torna_trace.py"


def load_demo():
    """The demo module (imported once, as ``torna_trace``)."""
    return load_module("torna_trace", DEMO_PATH)


class DemoServer(AppServer):
    """The demo's Tornado app (or ``app_factory()``'s) on 127.0.0.1:<free port>, its loop on the
    thread ``app-thread``, with small HTTP client helpers."""

    def __init__(self, app_factory=None) -> None:
        self.demo = load_demo()
        super().__init__(app_factory or self.demo.make_app, backlog=4096)

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


def wait_holds(engine, n: int, timeout: float = 10.0):
    """Wait until ``n`` holds are listed; returns them (oldest first)."""
    return wait_for(lambda: (lambda hs: hs if len(hs) >= n else None)(engine.holds.list()), timeout,
                    f"{n} holds", interval=0.005)
