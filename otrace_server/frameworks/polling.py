"""Watching a held request's client by looking at it now and then, for frameworks that offer no
disconnect callback (aiohttp, uvicorn): one timer per held request, on the app loop.

    release = watch(lambda: transport.is_closing(), gone)   # gone() once the check says so
    release()                                               # stop looking

Thread-safety: ``watch`` and ``release`` on the app loop's thread (the checks run there).
"""

from __future__ import annotations

import asyncio
from typing import Callable

__all__ = ["watch", "INTERVAL"]

#: seconds between two looks at a held request's client
INTERVAL = 0.25


def watch(is_gone: Callable[[], bool], gone: Callable[[], None], interval: float = INTERVAL) -> Callable[[], None]:
    """Call ``is_gone()`` every ``interval`` s on the running loop until it is true, then ``gone()``
    once; returns ``release()``, which stops it. ``is_gone`` must be cheap and run no application code."""
    loop = asyncio.get_running_loop()
    timer: list[asyncio.TimerHandle | None] = [None]

    def look() -> None:
        if is_gone():
            timer[0] = None
            gone()
        else:
            timer[0] = loop.call_later(interval, look)

    def release() -> None:
        if timer[0] is not None:
            timer[0].cancel()
            timer[0] = None

    timer[0] = loop.call_later(interval, look)
    return release
