"""How many per-context notifications reach the editors, and what they cost: ``Throttle`` lets at
most ``limit`` items a window pass and sums up the rest, ``context_line`` is what a client is told
of one context.

What keeps a chatty trace (thousands of recorded contexts per second) from costing the control
thread, the clients and, through the GIL, the application one notification per context; and a
quiet one (a few contexts a second) from costing a control-thread wake-up per context: the
recording thread only counts and keeps (``admit``; while a delivery is due, the ``tally`` does
it without a Python call), the control loop is woken once when a window opens and then
delivers what was admitted every ``FLUSH_INTERVAL`` (at most ``window / FLUSH_INTERVAL``
wake-ups a window, however many contexts), nothing is built for a context held back, and the
window's summary comes at its end.

Thread-safety: ``admit`` and ``tally.offer`` from any thread; everything else on the control loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable

from otrace_server.core.quickrecord import Tally
from otrace_server.core.reprs import visible

__all__ = ["CONTEXTS_PER_SECOND", "FLUSH_INTERVAL", "Throttle", "context_line"]

log = logging.getLogger("otrace")

#: recorded contexts told to clients one by one per second, at most; the rest are summed up
#: (more than a console's reader can follow; each costs the control thread ~10 us, cold)
CONTEXTS_PER_SECOND = 20
#: seconds between two deliveries of the admitted contexts while a window is open (the most a
#: context waits before its notification is sent, after the first of a window which goes at
#: once): each delivery wakes the idle control thread, ~100 us of CPU on a 2-core VM
FLUSH_INTERVAL = 0.5


def context_line(ctx: Any, more: int = 0) -> str:
    """What a client is told of a recorded context: its id (and exception), and ``more``: how many
    others the ``Throttle`` held back in the last window. One line, ``core.reprs.visible`` (an
    exception message is the application's)."""
    text = visible(ctx.id + (f"  {ctx.exc_type}: {ctx.exc_message}" if ctx.exc_type else ""), one_line=True)
    if more:
        text += f"  (and {more:,} more in the last second, not sent one by one: ls /osh/recent)"
    return text


class Throttle:
    """At most ``limit`` items per ``window`` seconds pass ``admit`` (any thread) and are handed to
    ``deliver(item)`` on the control loop, in order; the others are counted, and when the window
    ends ``overflow(count, last)`` is called once (control loop) with how many were held back and
    the last of them. A window starts with the first item after a quiet one, or right at the end
    of a window that held items back (the stream goes on: no quiet spell). ``prepare(items)``,
    when given, is called (control loop) with the items of each delivery, the summary's last
    included, before they are handed over (the language server gives recorded contexts their
    ids there: ``ContextStore.identify``); ``done()``, when given, after each delivery's items
    and summary were handed over (control loop; the end of a batch: the language server sends
    what it built for them then, in one write and the same pass of the loop).

    Wake-ups of the control loop: an item admitted while no delivery is due makes one crossing
    (``schedule(fn)``: run ``fn`` soon on the control loop, from any thread, e.g.
    ``Runtime.run_in_control``) and is delivered at once; the items admitted in the next
    ``interval`` seconds join the delivery at its end, and so on while they keep coming; a
    window that held items back is summed up at its end, and the next window opens then, its
    items joining the delivery ``interval`` later (no crossing: the recording thread is not
    asked for one). So a steady stream costs about ``window / interval`` wake-ups a window, a
    lone item one (and one more, finding nothing).
    A failing ``deliver``, ``overflow``, ``prepare``, ``done`` or ``schedule`` is logged and the
    throttle goes on.

    The items are kept in ``tally`` (``core.quickrecord.Tally``), which is also the throttle's
    ``core.events.Feed``: subscribed to the engine's bus, it is offered every recorded context,
    and while a delivery is due (``tally.armed``) it admits one without this lock or a Python
    call (the C recorder's path); otherwise the offer comes to ``admit``."""

    def __init__(self, limit: int, window: float, deliver: Callable[[Any], None],
                 overflow: Callable[[int, Any], None], schedule: Callable[[Callable[[], None]], Any],
                 interval: float = FLUSH_INTERVAL, prepare: Callable[[list[Any]], None] | None = None,
                 done: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self.window = window
        self.interval = interval
        self.deliver = deliver
        self.overflow = overflow
        self.schedule = schedule
        self.prepare = prepare
        self.done = done
        self.tally = Tally(self.admit)
        self._lock = threading.Lock()
        self._opened: float | None = None      # monotonic start of the window, None: none yet
        self._generation = 0                   # bumped by cancel: a flush of before it does nothing
        self._timer: asyncio.TimerHandle | None = None

    def admit(self, item: Any) -> bool:
        """Any thread: True when ``item`` will be delivered; False when it is only counted for the
        window's summary (nothing else is done for it)."""
        tally = self.tally
        with self._lock:
            now = time.monotonic()
            if self._opened is None or (not tally.armed and now - self._opened >= self.window):
                self._opened = now       # (not armed: nothing held, nothing pending)
                tally.open(self.limit)
            admitted = tally.admit(item)
            cross, generation = not tally.armed, self._generation
            tally.armed = True           # (a flush is due: crossing in flight or timer set)
        if cross:
            try:
                self.schedule(lambda: self._flush(generation))
            except Exception:   # e.g. the runtime is stopping: the next item tries again
                with self._lock:
                    tally.armed = False
                log.exception("otrace: scheduling throttled notifications failed")
        return admitted

    def cancel(self) -> None:
        """Control loop: forget the current window (nothing more delivered, no summary); the next
        item starts a new one."""
        with self._lock:
            self._generation += 1
            self._opened = None
            self.tally.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _flush(self, generation: int) -> None:
        """Control loop: deliver what was admitted; at the window's end sum it up and close it (a
        full one: open the next); come back in ``interval`` while items keep coming, at the
        window's end while some are held."""
        self._timer = None
        with self._lock:
            if generation != self._generation:
                return
            now = time.monotonic()
            left = self._opened + self.window - now
            if left <= 0:
                pending, held, last = self.tally.close()
                if held:                 # a full window: the stream goes on, so does the throttle
                    self._opened, delay = now, min(self.interval, self.window)
                    self.tally.open(self.limit)
                    self.tally.armed = True
                else:
                    self._opened, delay = None, None
            else:                        # (take disarms the tally when it finds nothing)
                pending, held = self.tally.take()
                delay = left if held else min(self.interval, left) if pending else None
                last = None              # (what is held is summed up at the window's end)
        summary = held and left <= 0
        if self.prepare is not None and (pending or summary):
            try:
                self.prepare(pending + [last] if summary else pending)
            except Exception:
                log.exception("otrace: preparing throttled notifications failed")
        for item in pending:
            try:
                self.deliver(item)
            except Exception:
                log.exception("otrace: delivering a throttled notification failed")
        if delay is not None:
            self._timer = asyncio.get_running_loop().call_later(delay, self._flush, generation)
        if summary:
            try:
                self.overflow(held, last)
            except Exception:
                log.exception("otrace: summing up %d held-back notifications failed", held)
        if self.done is not None and (pending or summary):
            try:
                self.done()
            except Exception:
                log.exception("otrace: ending a delivery of throttled notifications failed")
