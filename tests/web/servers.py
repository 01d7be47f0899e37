"""Helpers of the /osh/web tests: the chat demo module, the headless Chromium command line, and
(from ``tests.support.appserver``) a Tornado app served for real on a loop thread and polling."""

from __future__ import annotations

from pathlib import Path

from tests.support.appserver import AppServer, load_module

__all__ = ["AppServer", "CHROMIUM", "CHROMIUM_ARGS", "DEMO_PATH", "load_chat"]

ROOT = Path(__file__).resolve().parents[2]
DEMO_PATH = ROOT / "demos" / "chat_websock.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def load_chat():
    """The chat demo module (imported once, as ``chat_websock``)."""
    return load_module("chat_websock", DEMO_PATH)
