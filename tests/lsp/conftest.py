"""Fixtures for the language-server tests: real app processes (tests/lsp/sample_app.py and
demos/torna_trace.py) started with their own discovery directory, and raw JSON-RPC clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.lsp.rpc import Client
from tests.support.processes import end_process
from tests.web.servers import CHROMIUM, CHROMIUM_ARGS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


class AppProcess:
    """A running app subprocess: ``http`` and ``lsp`` ports, ``token``, ``discovery`` path."""

    def __init__(self, argv: list[str], tmp: Path, ready) -> None:
        self.dir = tmp / "otrace"
        env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp), PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True, cwd=str(ROOT))
        self.http, self.lsp = ready(self.proc.stdout)
        self.discovery = self.dir / f"otrace-{self.proc.pid}.json"
        self.info = json.loads(self.discovery.read_text())
        self.token = self.info["token"]
        self.clients: list[Client] = []

    def client(self, name: str = "test-client", token: str | None = "", **kw) -> Client:
        """A connected client, initialized with the right token unless ``token`` is given (None: no token)."""
        c = Client(self.lsp)
        self.clients.append(c)
        c.initialize(self.token if token == "" else token, name=name, **kw)
        return c

    def read_until(self, text: str) -> str:
        """The next line of the app's stdout that contains ``text`` (the lines before it are
        skipped); AssertionError when the app exits first. The test's timeout bounds the wait."""
        for line in self.proc.stdout:
            if text in line:
                return line
        raise AssertionError(f"the app exited before printing {text!r}")

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        end_process(self.proc)


def _sample_ready(stdout):
    line = stdout.readline()
    assert line.startswith("READY"), line
    _, http, lsp = line.split()
    return int(http), int(lsp)


def _demo_ready(stdout):
    http = lsp = None
    while lsp is None:
        line = stdout.readline()
        assert line, "demo exited"
        if line.startswith("Listening on"):
            http = int(line.rsplit(":", 1)[1])
        elif line.startswith("otrace language server"):
            lsp = int(line.split(":")[1].split()[0])
    return http, lsp


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    app = AppProcess([str(HERE / "sample_app.py")], tmp_path_factory.mktemp("xdg"), _sample_ready)
    yield app
    app.stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    app = AppProcess([str(ROOT / "demos" / "torna_trace.py"), "--port", "0", "--no-console", "--exit-on-stdin-eof"],
                     tmp_path_factory.mktemp("xdg"), _demo_ready)
    yield app
    app.stop()


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    """The chat demo (its /osh/web set up) as a process of its own."""
    app = AppProcess([str(ROOT / "demos" / "chat_websock.py"), "--port", "0", "--no-console",
                      "--exit-on-stdin-eof"], tmp_path_factory.mktemp("xdg"), _demo_ready)
    yield app
    app.stop()


def fetch_async(app, path: str) -> dict:
    """GET ``path`` on a thread; the returned dict gets 'body' when the response arrives."""
    box: dict = {}

    def run():
        box["body"] = urllib.request.urlopen(f"http://127.0.0.1:{app.http}{path}", timeout=30).read().decode()

    box["thread"] = threading.Thread(target=run, daemon=True)
    box["thread"].start()
    return box


@pytest.fixture(scope="module")
def page(chat, playwright):
    """A page of real headless Chromium (one per test module, beside the chat demo process)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium is not installed ({CHROMIUM})")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser.new_context().new_page()
    browser.close()
