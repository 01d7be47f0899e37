"""Fixtures shared by the whole test suite. Keep this small: fixtures of one part live beside its tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


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
