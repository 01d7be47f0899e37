"""Waiting in tests for something to have happened: ``wait_for(predicate)`` polls until it holds.
Prefer waiting on the event itself (a ``threading.Event``, a notification, a line of output) where
the code under test offers one; poll only what offers no signal (a count, a file, a process)."""

from __future__ import annotations

import time
from typing import Any, Callable

__all__ = ["wait_for"]


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition",
             interval: float = 0.01) -> Any:
    """Poll ``predicate()`` until it returns a true value (returned); AssertionError("timed out
    waiting for <what>") after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
