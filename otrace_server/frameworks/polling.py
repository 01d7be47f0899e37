"""Watching a held request's client by looking at it now and then, for frameworks that offer no
disconnect callback (aiohttp, uvicorn): one timer per held request, on the app loop.

    release = Poll(lambda: transport.is_closing(), gone)    # gone() once the check says so
    release()                                               # stop looking

Thread-safety: ``Poll`` and its ``release`` on the app loop's thread (the checks run there).
"""

from __future__ import annotations

import asyncio
from typing import Callable

__all__ = ["Poll", "INTERVAL"]

#: seconds between two looks at a held request's client
INTERVAL = 0.25


class Poll:
    """Call ``is_gone()`` every ``interval`` s on the running loop until it is true, then
    ``gone()`` once. Calling the Poll is ``release``: it stops. ``is_gone`` must be cheap and run
    no application code. Small: one per held request."""

    __slots__ = ("is_gone", "gone", "interval", "timer")

    def __init__(self, is_gone: Callable[[], bool], gone: Callable[[], None], interval: float = INTERVAL) -> None:
        self.is_gone = is_gone
        self.gone = gone
        self.interval = interval
        self.timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(interval, self.look)

    def look(self) -> None:
        """On the loop: look once; again later unless the client is gone."""
        if self.is_gone():
            self.timer = None
            self.gone()
        else:
            self.timer = asyncio.get_running_loop().call_later(self.interval, self.look)

    def __call__(self) -> None:
        """``release``: stop looking."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
