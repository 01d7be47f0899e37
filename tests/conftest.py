"""Fixtures shared by the whole test suite. Keep this small: fixtures of one part live beside its tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root directory (where pyproject.toml is)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for the whole run (its sync API refuses to start a second one while
    another runs in the process); tests launch their own Chromium from it."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    yield pw
    pw.stop()
