"""How many per-context notifications reach the editors: ``Throttle`` lets at most ``limit`` items a
window pass and sums up the rest, ``context_line`` is what a client is told of one context.

What keeps a chatty trace (thousands of recorded contexts per second) from costing the control
thread, the clients and, through the GIL, the application one notification per context.

Thread-safety: control loop only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from otrace_server.core.reprs import visible

__all__ = ["CONTEXTS_PER_SECOND", "Throttle", "context_line"]

log = logging.getLogger("otrace")

#: recorded contexts told to clients one by one per second, at most; the rest are summed up
CONTEXTS_PER_SECOND = 50


def context_line(ctx: Any, more: int = 0) -> str:
    """What a client is told of a recorded context: its id (and exception), and ``more``: how many
    others the ``Throttle`` held back in the last window. One line, ``core.reprs.visible`` (an
    exception message is the application's)."""
    text = visible(ctx.id + (f"  {ctx.exc_type}: {ctx.exc_message}" if ctx.exc_type else ""), one_line=True)
    if more:
        text += f"  (and {more:,} more in the last second, not sent one by one: ls /osh/recent)"
    return text


class Throttle:
    """At most ``limit`` items per ``window`` seconds pass ``admit``; the others are counted, and
    when the window ends ``overflow(count, last)`` is called once with how many were held back and
    the last of them. A window starts with the first item after a quiet one. Control loop only."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int, window: float,
                 overflow: Callable[[int, Any], None]) -> None:
        self.loop = loop
        self.limit = limit
        self.window = window
        self.overflow = overflow
        self._admitted = 0
        self._held = 0
        self._last: Any = None
        self._timer: asyncio.TimerHandle | None = None

    def admit(self, item: Any) -> bool:
        """True when ``item`` may be sent now; False when it is counted for the window's summary."""
        if self._timer is None:
            self._timer = self.loop.call_later(self.window, self._end)
        if self._admitted < self.limit:
            self._admitted += 1
            return True
        self._held += 1
        self._last = item
        return False

    def cancel(self) -> None:
        """Forget the current window (no summary); the next item starts a new one."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._admitted, self._held, self._last = None, 0, 0, None

    def _end(self) -> None:
        held, last = self._held, self._last
        self._timer, self._admitted, self._held, self._last = None, 0, 0, None
        if held:
            try:
                self.overflow(held, last)
            except Exception:
                log.exception("otrace: summing up %d held-back notifications failed", held)
