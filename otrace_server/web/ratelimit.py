"""Log lines caused by browsers, rate-limited: a browser cannot flood the application's log.

    limiter = LogLimiter(logging.getLogger("otrace.web"), per_source=10, total=60, window=60.0)
    limiter.log("user1", logging.WARNING, "otrace: dropped a message from %s", "user1")

Within one window (60 s from the first line), at most ``per_source`` lines of one source (a
browser's name, or the remote address of a socket that has none) and ``total`` lines of all
sources are logged; the others are counted, and when the window ends one summary line says how
many were not logged and from whom (the five sources with most)::

    otrace: 1990 more log lines caused by browsers in the last 60 s were not logged (mallory: 1990)

Thread-safety: called on the loop threads where sockets live (one lock guards the counts, so
sockets of several loops may share a limiter). The summary is written by a timer on the running
loop at the window's end; without a running loop (tests calling it directly), by the first call
after the window.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from typing import Any, Callable

__all__ = ["LogLimiter"]


class LogLimiter:
    """Per-source and global limits on log lines (see the module doc)."""

    def __init__(self, logger: logging.Logger, per_source: int = 10, total: int = 60, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.per_source = per_source
        self.total = total
        self.window = window
        self.clock = clock
        self._start: float | None = None
        self._logged: collections.Counter[str] = collections.Counter()
        self._count = 0
        self._dropped: collections.Counter[str] = collections.Counter()
        self._timer: asyncio.TimerHandle | None = None
        self._lock = threading.Lock()

    def log(self, source: str, level: int, msg: str, *args: Any, exc_info: bool = False) -> bool:
        """Log ``msg % args`` at ``level`` unless ``source`` or all sources reached their limit in
        this window (then count it for the summary). Returns True when it was logged."""
        with self._lock:
            return self._log(source, level, msg, args, exc_info)

    def _log(self, source: str, level: int, msg: str, args: tuple, exc_info: bool) -> bool:
        now = self.clock()
        if self._start is None or now - self._start >= self.window:
            self._flush()
            self._start = now
        if self._logged[source] >= self.per_source or self._count >= self.total:
            self._dropped[source] += 1
            if self._timer is None:
                self._schedule_flush(self._start + self.window - now)
            return False
        self._logged[source] += 1
        self._count += 1
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def flush(self) -> None:
        """End the current window: write the summary line if lines were not logged."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        dropped, self._dropped = self._dropped, collections.Counter()
        self._logged.clear()
        self._count = 0
        self._start = None
        if dropped:
            top = ", ".join(f"{source}: {count}" for source, count in dropped.most_common(5))
            more = " ..." if len(dropped) > 5 else ""
            self.logger.warning("otrace: %d more log lines caused by browsers in the last %g s were not logged (%s%s)",
                                sum(dropped.values()), self.window, top, more)

    def _schedule_flush(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the next call after the window writes the summary
        self._timer = loop.call_later(max(delay, 0.0), self.flush)
