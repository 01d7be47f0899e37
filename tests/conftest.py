"""Fixtures shared by the whole test suite. Keep this small: fixtures of one part live beside its tests."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# The tests stop the programs they start as a user's Ctrl-C does (SIGINT). A suite started as a
# background job of a shell without job control has SIGINT ignored, which every program it starts
# would inherit (Python then leaves Ctrl-C ignored, and asyncio.run installs no handler): give
# this process Python's own handler back, so that its children start with SIGINT's default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root directory (where pyproject.toml is)."""
    return REPO_ROOT


@pytest.fixture(scope="module")
def playwright():
    """One Playwright driver per test module, shared by the module's fixtures: its sync API refuses
    a second driver while one runs, and while it runs it keeps an event loop on the main thread, so
    it must stop at the end of the module (later tests call asyncio.run)."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    yield pw
    pw.stop()
