"""The store of trace contexts: id assignment, recent contexts per type, saved contexts.

Ids have otrace's form ``<funcname>:<prefix>-<label>:<HH-MM-SS>[.n]`` where ``.1``, ``.2``, ...
distinguish contexts of the same function, type and label recorded within the same second.
At most ``max_recent`` contexts are kept per type; the oldest is dropped first, except saved
contexts (moved to ``saved``, never evicted) and holds that are still held.

Thread-safety: every method may be called from any thread (one lock guards the maps).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Iterable

from otrace_server.core.context import CTYPES, TraceContext, safe_label
from otrace_server.core.errors import OTraceError

__all__ = ["ContextStore"]

_MAX_BASES = 10_000   # id bases remembered for the .n counters (cleared when exceeded)


class ContextStore:
    """Recent and saved trace contexts. ``max_recent`` is read through a callable so a settings
    change applies at the next ``add``."""

    def __init__(self, max_recent: Callable[[], int] = lambda: 10) -> None:
        self._max_recent = max_recent
        self._lock = threading.Lock()
        self._recent: dict[str, OrderedDict[str, TraceContext]] = {t: OrderedDict() for t in CTYPES}
        self._saved: OrderedDict[str, TraceContext] = OrderedDict()
        self._last_stamp: dict[str, tuple[str, int]] = {}   # id base -> (time string, counter)
        self._latest: TraceContext | None = None

    def add(self, ctx: TraceContext) -> TraceContext:
        """Assign ``ctx.id`` and store it under its type; evict beyond ``max_recent``. Returns ctx."""
        if ctx.ctype not in self._recent:
            raise OTraceError(f"unknown context type {ctx.ctype!r}")
        stamp = time.strftime("%H-%M-%S", time.localtime(ctx.timestamp or time.time()))
        base = f"{ctx.funcname}:{ctx.prefix}-{safe_label(ctx.label)}"
        with self._lock:
            recent = self._recent[ctx.ctype]
            last = self._last_stamp.get(base)
            n = last[1] + 1 if last is not None and last[0] == stamp else 0
            # contexts captured on other threads may arrive out of order, and a clock time recurs
            # the next day: never reuse an id that is still stored
            while (trace_id := f"{base}:{stamp}.{n}" if n else f"{base}:{stamp}") in recent \
                    or trace_id in self._saved:
                n += 1
            if len(self._last_stamp) >= _MAX_BASES and base not in self._last_stamp:
                self._last_stamp.clear()
            self._last_stamp[base] = (stamp, n)
            ctx.id = trace_id
            recent[ctx.id] = ctx
            self._latest = ctx
            self._evict(recent)
        return ctx

    def _evict(self, recent: OrderedDict[str, TraceContext]) -> None:
        limit = max(1, self._max_recent())
        if len(recent) <= limit:
            return
        for key in list(recent):
            if len(recent) <= limit:
                break
            if not recent[key].is_held:
                del recent[key]

    def get(self, trace_id: str) -> TraceContext | None:
        """The context with this id (recent or saved), or None."""
        with self._lock:
            saved = self._saved.get(trace_id)
            if saved is not None:
                return saved
            for recent in self._recent.values():
                ctx = recent.get(trace_id)
                if ctx is not None:
                    return ctx
        return None

    def find(self, trace_id: str) -> TraceContext:
        """Like ``get`` but raises OTraceError for an unknown id."""
        ctx = self.get(trace_id)
        if ctx is None:
            raise OTraceError(f"no trace context {trace_id!r}")
        return ctx

    def latest(self) -> TraceContext | None:
        """The most recently added context still stored (``~~`` in the shell), or None."""
        with self._lock:
            latest = self._latest
            if latest is not None and (latest.id in self._recent[latest.ctype] or latest.id in self._saved):
                return latest
            candidates = [next(reversed(r.values())) for r in self._recent.values() if r]
        return max(candidates, key=lambda c: c.timestamp, default=None)

    def recent(self, ctype: str | None = None) -> list[TraceContext]:
        """Recent contexts of one type (or all types), oldest first."""
        with self._lock:
            if ctype is not None:
                if ctype not in self._recent:
                    raise OTraceError(f"unknown context type {ctype!r} (one of {', '.join(CTYPES)})")
                return list(self._recent[ctype].values())
            out = [c for r in self._recent.values() for c in r.values()]
        out.sort(key=lambda c: c.timestamp)
        return out

    def saved(self) -> list[TraceContext]:
        """Saved contexts, in the order they were saved."""
        with self._lock:
            return list(self._saved.values())

    def save(self, trace_id: str) -> TraceContext:
        """Mark a context saved: it moves to ``saved`` and is never evicted."""
        with self._lock:
            for recent in self._recent.values():
                ctx = recent.pop(trace_id, None)
                if ctx is not None:
                    break
            else:
                ctx = self._saved.get(trace_id)
                if ctx is None:
                    raise OTraceError(f"no trace context {trace_id!r}")
            ctx.saved = True
            self._saved[trace_id] = ctx
        return ctx

    def delete(self, trace_id: str) -> TraceContext:
        """Remove a context (recent or saved); a context that is still held cannot be deleted."""
        with self._lock:
            for mapping in (self._saved, *self._recent.values()):
                ctx = mapping.get(trace_id)
                if ctx is not None:
                    if ctx.is_held:
                        raise OTraceError(f"{trace_id} is held; resume it first")
                    del mapping[trace_id]
                    return ctx
        raise OTraceError(f"no trace context {trace_id!r}")

    def clear(self, ctypes: Iterable[str] = CTYPES) -> None:
        """Drop all recent contexts of the given types that are not held (saved ones stay)."""
        with self._lock:
            for t in ctypes:
                recent = self._recent[t]
                for key in [k for k, c in recent.items() if not c.is_held]:
                    del recent[key]
