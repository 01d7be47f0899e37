"""Fixtures for /osh/web: the chat demo (demos/chat_websock.py) served on 127.0.0.1 by a Tornado loop on
its own thread with otrace started beside it, and REAL headless Chromium (Debian's /usr/bin/chromium)
driven by Playwright. Tests skip only when chromium is not installed."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import threading
import time
from pathlib import Path

import pytest
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


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session; each user gets its own context (own cookies)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium is not installed ({CHROMIUM}); apt-get install chromium")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()
    pw.stop()


@pytest.fixture(scope="module")
def chat():
    """The chat demo served for real, with otrace started beside it (no console, no LSP); yields
    (server, otrace App, registry)."""
    demo = load_chat()
    server = AppServer(demo.make_app)
    otrace = demo.start_otrace(server.io_loop, console=False, lsp=False)
    registry = demo.otrace_web.get_registry()
    yield server, otrace, registry
    registry.detach()
    otrace.stop()
    server.stop()


class Users:
    """Browser users of the chat: ``login(name)`` opens a fresh context, logs in, waits until the page
    is registered under /osh/web and returns (page, web name)."""

    def __init__(self, browser, server, registry) -> None:
        self.browser, self.server, self.registry = browser, server, registry
        self.contexts = []

    def login(self, name: str):
        context = self.browser.new_context()
        self.contexts.append(context)
        page = context.new_page()
        known = {c.name for c in self.registry.clients()}
        page.goto(self.server.url + "/login")
        page.fill("#name", name)
        page.click("#login")
        page.wait_for_selector("#message")
        client = wait_for(lambda: next((c for c in self.registry.clients()
                                        if c.name not in known and c.url.endswith("/")), None),
                          what=f"browser of {name} to register")
        return page, client.name

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        wait_for(lambda: not self.registry.clients(), what="browsers to disconnect")


@pytest.fixture
def users(browser, chat):
    """Log users in (see ``Users``); every browser is closed after the test, safe_mode restored."""
    server, otrace, registry = chat
    made = Users(browser, server, registry)
    yield made
    made.close()
    otrace.engine.settings.set("safe_mode", True)
