"""The store of trace contexts: id assignment, recent contexts per type, saved contexts.

Ids have otrace's form ``<funcname>:<prefix>-<label>:<HH-MM-SS>[.n]`` where ``.1``, ``.2``, ...
distinguish contexts of the same function, type and label recorded within the same second.
At most ``max_recent`` contexts are kept per type; the oldest is dropped first, except saved
contexts (moved to ``saved``, never evicted) and holds that are still held.

Cost: ``add`` is O(1) amortized however many contexts are held; it evicts in passes, once
``_EVICT_SLACK`` contexts beyond ``max_recent`` have accumulated (every read evicts first, so no
reader ever sees more than ``max_recent``). ``add_later`` is one append to its type's queue, a
deque of at most ``max_recent`` (``queues``): the context it pushes out, which no reader could
have seen, is freed at once (so a steady stream of recorded calls frees as much as it keeps:
what retained contexts drag along, e.g. a request and its handler, never piles up for the
cyclic GC's generation 0 to count). ``identify`` gives ids to the contexts an editor's feed was
offered as they were recorded (``core.events``), when it tells of them. Contexts held when added are kept
out of the eviction order ("pinned"); the pinned ones are re-checked (O(pinned)) at each listing
and, between listings, after as many adds of their type as stayed pinned at the previous check
(so each check is paid for by the adds before it, and holds added meanwhile cannot postpone it);
those resumed by then rejoin the eviction order as its newest entries (a resumed hold counts as
recent from its resume). Memory: at most max_recent + _EVICT_SLACK evictable contexts per type,
plus the pinned ones: those still held and, with nobody listing, at most about twice as many
resumed since the last check.

Thread-safety: every method may be called from any thread (one lock guards the maps; the
queues are deques, appended to without it).
"""

from __future__ import annotations

import collections
import heapq
import threading
import time
from collections import OrderedDict
from typing import Callable, Iterable

from otrace_server.core.context import CTYPES, TraceContext, safe_label
from otrace_server.core.errors import OTraceError

__all__ = ["ContextStore"]

_MAX_BASES = 10_000   # id bases remembered for the .n counters (cleared when exceeded)
#: contexts ``add`` may keep beyond max_recent before evicting (then down to max_recent): one
#: eviction pass per this many adds. Every read trims first, so none is ever seen.
_EVICT_SLACK = 8
#: the ``.n`` of ids, made once ("" for n = 0)
_SUFFIXES = [""] + [f".{n}" for n in range(1, 256)]
_NSUFFIXES = len(_SUFFIXES)


class _Base:
    """The id base ``<funcname>:<prefix>-<label>`` of a (function, type, label) and the counter
    of its last id: the second it was given in, ``<base>:<HH-MM-SS>`` and its ``.n``."""

    __slots__ = ("text", "second", "prefix", "n")

    def __init__(self, text: str) -> None:
        self.text = text
        self.second: tuple | None = None   # the store's (start, end, HH-MM-SS) of the last id
        self.prefix = ""                    # the last id without its .n
        self.n = 0


class _Recent:
    """The recent contexts of one type: ``all`` in the order added (listing, lookup), the ids of
    the evictable ones oldest first, and the pinned (held when last checked) ones."""

    __slots__ = ("all", "order", "pinned", "due")

    def __init__(self) -> None:
        self.all: dict[str, TraceContext] = {}             # insertion ordered
        self.order: dict[str, None] = {}    # insertion ordered: oldest first
        self.pinned: dict[str, TraceContext] = {}
        self.due = 0             # adds left before the pinned contexts are checked again

    def remove(self, trace_id: str) -> TraceContext | None:
        self.order.pop(trace_id, None)
        self.pinned.pop(trace_id, None)
        return self.all.pop(trace_id, None)

    def unpin(self) -> None:
        """Move the pinned contexts no longer held to the newest end of the eviction order; the
        next check is due after as many adds as stay pinned."""
        for key in [k for k, c in self.pinned.items() if not c.is_held]:
            del self.pinned[key]
            self.order[key] = None
        self.due = len(self.pinned)

    def evict(self, limit: int) -> None:
        """Drop the oldest evictable contexts while more than ``limit`` are stored."""
        all_, order = self.all, self.order
        while len(all_) > limit and order:
            key = next(iter(order))
            del order[key]
            ctx = all_[key]
            hold = ctx.hold
            if hold is not None and not hold.done:   # held after it was added (not via the engine): pin it
                self.pinned[key] = ctx
            else:
                del all_[key]


class ContextStore:
    """Recent and saved trace contexts. ``max_recent`` is read through a callable so a settings
    change applies at the next ``add``. ``prepare(ctx)``, when given, is called for each context
    queued by ``add_later`` just before it gets its id (with the store's lock held, on the thread
    that reads the store: it must not use the store); contexts dropped unseen are not prepared."""

    def __init__(self, max_recent: Callable[[], int] = lambda: 10,
                 prepare: Callable[[TraceContext], None] | None = None) -> None:
        self._max_recent = max_recent
        self._prepare = prepare
        self._lock = threading.Lock()
        self._recent: dict[str, _Recent] = {t: _Recent() for t in CTYPES}
        self._queue_limit = max(1, max_recent())
        #: ctype -> the contexts add_later queued, not stored yet (at most max_recent: see ``queues``)
        self.queues: dict[str, collections.deque[TraceContext]] = {
            t: collections.deque(maxlen=self._queue_limit) for t in CTYPES}
        self._queue_list = list(self.queues.values())
        self._saved: OrderedDict[str, TraceContext] = OrderedDict()
        self._latest: TraceContext | None = None
        self._second: tuple[float, float, str] = (0.0, 0.0, "")   # (second, next second, HH-MM-SS)
        self._bases: dict[tuple[str, str, str], _Base] = {}   # (funcname, ctype, label) -> id base

    def _new_second(self, timestamp: float) -> tuple[float, float, str]:
        """(second, next second, ``HH-MM-SS`` in local time) of ``timestamp``, cached for the next
        contexts of that second."""
        second = int(timestamp)   # bounds as floats: comparing a float with an int costs more
        self._second = (float(second), float(second + 1), time.strftime("%H-%M-%S", time.localtime(second)))
        return self._second

    def _base(self, ctx: TraceContext) -> _Base:
        """The id base of ``ctx``'s (function, type, label), cached (bounded)."""
        key = (ctx.funcname, ctx.ctype, ctx.label)
        base = self._bases.get(key)
        if base is None:
            base = _Base(f"{ctx.funcname}:{ctx.prefix}-{safe_label(ctx.label)}")
            if len(self._bases) >= _MAX_BASES:   # forgetting a counter is safe: ids are checked below
                self._bases.clear()
            self._bases[key] = base
        return base

    def add(self, ctx: TraceContext) -> TraceContext:
        """Assign ``ctx.id`` and store it under its type; evict beyond ``max_recent``. Returns ctx.
        Contexts queued by ``add_later`` are stored first (ids stay in the order of adding)."""
        if ctx.ctype not in self._recent:
            raise OTraceError(f"unknown context type {ctx.ctype!r}")
        lock = self._lock
        lock.acquire()        # not ``with``: on the tracer's path ``with`` costs three times as much
        try:
            if any(self._queue_list):
                self._settle()
            self._put(ctx, self._max_recent())
        finally:
            lock.release()
        return ctx

    def add_later(self, ctx: TraceContext) -> None:
        """Store ``ctx`` without assigning its id now, for a caller that does not need it (the
        tracer when nobody listens): the context is queued (one append to ``queues[ctx.ctype]``)
        and stored, in order, at the next read of the store or ``add``. A queue keeps the newest
        ``max_recent`` contexts of its type: the older ones, which ``add`` would have evicted
        before anyone could see them, are dropped without an id as newer ones come (ids stay
        unique: a ``.n`` counts the stored contexts of that second). Raises OTraceError for an
        unknown context type."""
        try:
            queue = self.queues[ctx.ctype]
        except KeyError:
            raise OTraceError(f"unknown context type {ctx.ctype!r}") from None
        queue.append(ctx)

    def identify(self, contexts: Iterable[TraceContext]) -> None:
        """Give each of ``contexts`` that has none its id now (for a reader that was offered them
        as they were recorded: an editor's feed of notifications). What is queued is stored
        first, as by a read, and a context no longer queued (``add_later`` dropped it unseen, as
        newer ones came) gets its id in the same order but is not stored: as with a context
        stored then evicted, its id is never given to another. (A context dropped before a read
        stored newer ones of its second gets a higher ``.n`` than they.) Any thread."""
        with self._lock:
            self._settle([c for c in contexts if not c.id])

    def limit_changed(self) -> None:
        """``max_recent`` changed: store what is queued, and fit the queues to the new value (the
        engine calls it when its setting changes; a read does it too)."""
        with self._lock:
            self._settle()

    def _settle(self, unqueued: list[TraceContext] | None = None) -> None:
        """(Lock held) Store the contexts queued by ``add_later``, in order (see there): each
        type's in the order queued, the types merged by timestamp; with ``unqueued``
        (``identify``'s contexts without an id, in the order recorded), those no longer queued
        get their ids in that order too, without being stored."""
        batches = []
        for queue in self._queue_list:
            if queue:
                batch = []
                while queue:     # popleft: contexts queued meanwhile by other threads join this batch
                    batch.append(queue.popleft())
                batches.append(batch)
        limit = max(1, self._max_recent())
        if limit != self._queue_limit:
            self._fit_queues(limit)
        dropped = None
        if unqueued:
            queued = {id(c) for batch in batches for c in batch}
            dropped = {id(c) for c in unqueued if id(c) not in queued}
            if dropped:
                batches.append([c for c in unqueued if id(c) in dropped])
        if not batches:
            return
        if len(batches) == 1:
            ordered = batches[0]
        elif len(batches) == 2 and batches[1][-1].timestamp < batches[0][0].timestamp:
            ordered = batches[1] + batches[0]   # (identify's usual case: those dropped, all older)
        else:
            ordered = heapq.merge(*batches, key=_timestamp)
        prepare = self._prepare
        for ctx in ordered:
            if prepare is not None:
                prepare(ctx)
            if dropped and id(ctx) in dropped:
                ctx.id = self._next_id(ctx)
            else:
                self._put(ctx, limit)

    def _fit_queues(self, limit: int) -> None:
        """(Lock held, queues just emptied) New queues of at most ``limit`` contexts (a context
        another thread queues while they are replaced may be dropped unseen: the queues change
        only with max_recent)."""
        self._queue_limit = limit
        for ctype, queue in self.queues.items():
            self.queues[ctype] = collections.deque(queue, maxlen=limit)
        self._queue_list = list(self.queues.values())

    def _put(self, ctx: TraceContext, limit: int) -> None:
        """(Lock held) Give ``ctx`` the next id of its (function, type, label) in its second, store
        it, evict beyond ``limit``."""
        recent = self._recent[ctx.ctype]
        trace_id = self._next_id(ctx)
        stored = recent.all
        if recent.pinned:   # resumed holds rejoin the eviction order before this context
            recent.due -= 1
            if recent.due <= 0:
                recent.unpin()
        ctx.id = trace_id
        stored[trace_id] = ctx
        self._latest = ctx
        hold = ctx.hold
        if hold is not None and not hold.done:
            recent.pinned[trace_id] = ctx
        else:
            recent.order[trace_id] = None
        if len(stored) > limit + _EVICT_SLACK:
            recent.evict(max(1, limit))

    def _next_id(self, ctx: TraceContext) -> str:
        """(Lock held) The next id of ``ctx``'s (function, type, label) in its second (counted:
        never given again)."""
        timestamp = ctx.timestamp or time.time()
        second = self._second
        if not second[0] <= timestamp < second[1]:
            second = self._new_second(timestamp)
        base = self._bases.get((ctx.funcname, ctx.ctype, ctx.label)) or self._base(ctx)
        if base.second is second:
            n = base.n + 1
            trace_id = base.prefix + (_SUFFIXES[n] if n < _NSUFFIXES else f".{n}")
        else:                        # the first id of this base in this second
            n = 0
            trace_id = base.prefix = f"{base.text}:{second[2]}"
            base.second = second
        stored = self._recent[ctx.ctype].all
        # contexts captured on other threads may arrive out of order, and a clock time recurs the
        # next day: never reuse an id that is still stored
        while trace_id in stored or trace_id in self._saved:
            n += 1
            trace_id = f"{base.prefix}.{n}"
        base.n = n
        return trace_id

    def _trim(self, ctypes: Iterable[str] = CTYPES, unpin: bool = False) -> None:
        """(Lock held; every read calls it first.) Store the contexts queued by ``add_later``, then
        evict what ``add`` left beyond max_recent (see ``_EVICT_SLACK``); with ``unpin``, resumed
        holds first rejoin the eviction order."""
        if any(self._queue_list):
            self._settle()
        limit = max(1, self._max_recent())
        if limit != self._queue_limit:
            self._fit_queues(limit)
        for t in ctypes:
            recent = self._recent[t]
            if unpin and recent.pinned:
                recent.unpin()
            if len(recent.all) > limit:
                recent.evict(limit)

    def get(self, trace_id: str) -> TraceContext | None:
        """The context with this id (recent or saved), or None."""
        with self._lock:
            self._trim()
            saved = self._saved.get(trace_id)
            if saved is not None:
                return saved
            for recent in self._recent.values():
                ctx = recent.all.get(trace_id)
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
            self._trim()
            latest = self._latest
            if latest is not None and (latest.id in self._recent[latest.ctype].all or latest.id in self._saved):
                return latest
            candidates = [next(reversed(r.all.values())) for r in self._recent.values() if r.all]
        return max(candidates, key=lambda c: c.timestamp, default=None)

    def recent(self, ctype: str | None = None) -> list[TraceContext]:
        """Recent contexts of one type (or all types), oldest first. Resumed holds beyond
        ``max_recent`` are dropped first."""
        if ctype is not None and ctype not in self._recent:
            raise OTraceError(f"unknown context type {ctype!r} (one of {', '.join(CTYPES)})")
        with self._lock:
            self._trim((ctype,) if ctype is not None else CTYPES, unpin=True)
            if ctype is not None:
                return list(self._recent[ctype].all.values())
            out = [c for r in self._recent.values() for c in r.all.values()]
        out.sort(key=lambda c: c.timestamp)
        return out

    def saved(self) -> list[TraceContext]:
        """Saved contexts, in the order they were saved."""
        with self._lock:
            return list(self._saved.values())

    def save(self, trace_id: str) -> TraceContext:
        """Mark a context saved: it moves to ``saved`` and is never evicted."""
        with self._lock:
            self._trim()
            for recent in self._recent.values():
                ctx = recent.remove(trace_id)
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
            self._trim()
            ctx = self._saved.get(trace_id)
            recent = None
            if ctx is None:
                recent = next((r for r in self._recent.values() if trace_id in r.all), None)
                ctx = recent.all[trace_id] if recent is not None else None
            if ctx is None:
                raise OTraceError(f"no trace context {trace_id!r}")
            if ctx.is_held:
                raise OTraceError(f"{trace_id} is held; resume it first")
            if recent is None:
                del self._saved[trace_id]
            else:
                recent.remove(trace_id)
            return ctx

    def clear(self, ctypes: Iterable[str] = CTYPES) -> None:
        """Drop all recent contexts of the given types that are not held (saved ones stay)."""
        with self._lock:
            if any(self._queue_list):
                self._settle()
            for t in ctypes:
                recent = self._recent[t]
                for key in [k for k, c in recent.all.items() if not c.is_held]:
                    recent.remove(key)


def _timestamp(ctx: TraceContext) -> float:
    return ctx.timestamp
