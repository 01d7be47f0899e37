"""Fixtures for /osh/web: the chat demo (demos/chat_websock.py) served on 127.0.0.1 by a Tornado loop on
its own thread with otrace started beside it, and REAL headless Chromium (Debian's /usr/bin/chromium)
driven by Playwright. Tests skip only when chromium is not installed."""

from __future__ import annotations

import os

import pytest

from tests.support.waiting import wait_for
from tests.web.servers import CHROMIUM, CHROMIUM_ARGS, AppServer, load_chat

@pytest.fixture(scope="module")
def browser(playwright):
    """One headless Chromium per test module; each user gets its own context (own cookies)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium is not installed ({CHROMIUM}); apt-get install chromium")
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()


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
