"""The hold registry: requests/threads paused at a hold or break, until resumed.

The registry only keeps track of holds; the waiting is done by whoever created the hold, which
passes a ``resolver(outcome)`` callable. Resolvers must be callable from ANY thread: a break's
resolver (``core.waiters.BreakWaiter``) wakes the blocked thread; an asyncio hold's resolver (the
``core.waiters.HoldWaiter``) schedules the Future's completion on the application's loop through the
crossing ``otrace_server.runtime`` installs.
A resolver may also have a ``retime(hold)`` method (any thread), called after ``set_timeout``
changed ``hold.timeout``, so that the waiter re-arms its timer (a resolver without it keeps the
timer it started with). A resolver's class may have ``resolve_many(resolvers, outcome)`` (a
static method, any thread): ``resume_many``/``resume_all`` then hand it every resolver of that
class they resume, in order, instead of calling each (``HoldWaiter``'s completes 1,000 Futures
of one loop in one crossing, as the application's own code would in one callback).

Outcomes of ``resume`` (see ``Outcome``): continue (default), continue with a value (what
``await traceassert(...)`` returns), raise an exception in the held code, or answer the request
with an HTTP status (Tornado handlers). Front ends build them with ``core.outcomes.outcome_from``.

Thread-safety: every method may be called from any thread.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from otrace_server.core.errors import OTraceError

__all__ = ["Outcome", "Hold", "HoldRegistry", "HoldAnswered"]

log = logging.getLogger("otrace")


class HoldAnswered(Exception):
    """Raised in a held coroutine resumed with ``Outcome.status`` when no web framework hook turns
    it into a response (the Tornado glue raises ``tornado.web.HTTPError`` instead)."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(f"answered with HTTP {status}" + (f": {reason}" if reason else ""))
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Outcome:
    """How a hold ends. ``kind``: ``continue`` | ``value`` | ``raise`` | ``status`` | ``timeout`` |
    ``shutdown`` | ``cancelled`` (the last three continue like ``continue`` but say why;
    ``cancelled``: the held coroutine was cancelled, nothing waits any more)."""

    kind: str = "continue"
    value: Any = None
    exception: BaseException | None = None
    status: int = 0
    reason: str = ""

    def describe(self) -> str:
        """A short text for logs and consoles."""
        if self.kind == "value":
            return f"resumed with value {self.value!r}"
        if self.kind == "raise":
            return f"resumed raising {self.exception!r}"
        if self.kind == "status":
            return f"answered with HTTP {self.status}"
        return {"timeout": "resumed by hold_timeout", "shutdown": "resumed at shutdown",
                "cancelled": "cancelled"}.get(self.kind, "resumed")


_numbers = itertools.count(1)


class Hold:
    """One paused request or thread. ``number`` is a small stable integer (e.g. a DAP thread id).
    ``client_gone``: the client of the held request disconnected while it waits (set by the
    engine when the request's framework tells it; resuming it still runs the held code on)."""

    __slots__ = ("context", "number", "created", "timeout", "_resolver", "done", "outcome", "client_gone")

    def __init__(self, context, resolver: Callable[[Outcome], None], timeout: float = 0.0) -> None:
        self.context = context
        self.number = next(_numbers)
        self.created = time.monotonic()
        self.timeout = timeout
        self._resolver = resolver
        self.done = False
        self.outcome: Outcome | None = None
        self.client_gone = False

    @property
    def id(self) -> str:
        """The trace id of the hold's context."""
        return self.context.id

    @property
    def created_wall(self) -> float:
        """Wall-clock time the hold began: its context's timestamp (taken when it was captured,
        just before; no second clock reading kept per hold)."""
        return self.context.timestamp

    @property
    def age(self) -> float:
        """Seconds since the hold began."""
        return time.monotonic() - self.created

    @property
    def remaining(self) -> float | None:
        """Seconds until ``hold_timeout`` resumes it, or None when it has no timeout."""
        if not self.timeout:
            return None
        return max(0.0, self.timeout - self.age)

    def describe(self) -> str:
        """``<id>  held 12.3s[, resumes in 7.7s][, client gone]``."""
        text = f"{self.id}  held {self.age:.1f}s"
        if self.remaining is not None:
            text += f", resumes in {self.remaining:.1f}s"
        if self.client_gone:
            text += ", client gone"
        return text


class HoldRegistry:
    """The holds that are waiting. ``on_resumed(holds)`` is called once per resuming call, after
    it resumed them (a list of one for ``resume``, every hold it resumed for ``resume_many`` and
    ``resume_all``: resuming 10,000 holds tells its listener once, not 10,000 times).

    Besides the holds by id, the registry keeps them in one list by ``number`` (creation order),
    from which resumed holds are dropped lazily (compacted once they outnumber the waiting ones):
    ``page`` finds where a page starts by bisection, so a page costs O(log n + limit), not a sort
    of every hold; ``list`` walks it without sorting. 8 bytes a hold."""

    #: resumed holds the ordered list may keep before it is compacted, beyond one per waiting hold
    _SLACK = 64

    def __init__(self, on_resumed: Callable[[list[Hold]], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._holds: dict[str, Hold] = {}
        self._order: list[Hold] = []    # by number; holds no longer in _holds are skipped, then dropped
        self._on_resumed = on_resumed

    def create(self, context, resolver: Callable[[Outcome], None], timeout: float = 0.0) -> Hold:
        """Register a hold on ``context`` (which must already have its id)."""
        hold = Hold(context, resolver, timeout)
        context.hold = hold
        with self._lock:
            self._holds[context.id] = hold
            order = self._order
            if order and order[-1].number > hold.number:   # numbered on one thread, registered after
                bisect.insort(order, hold, key=_number)     # another thread's newer one
            else:
                order.append(hold)
        return hold

    def list(self) -> list[Hold]:
        """Holds still waiting, oldest first."""
        with self._lock:
            waiting = self._holds
            return [h for h in self._order if waiting.get(h.context.id) is h]

    def page(self, after: int | None = None, limit: int = 100) -> tuple[list[Hold], int, int | None]:
        """Up to ``limit`` (>= 1) waiting holds numbered above ``after`` (from the first when None),
        oldest first; how many holds wait in all; and the cursor of the next page (the last hold's
        number, to pass as ``after``) or None when no waiting hold follows. O(log n + limit)
        amortized: a hold resumed meanwhile is not in a later page, one started meanwhile is
        (numbers only grow)."""
        with self._lock:
            waiting, order = self._holds, self._order
            index = 0 if after is None else bisect.bisect_right(order, after, key=_number)
            found: list[Hold] = []
            while index < len(order):
                hold = order[index]
                index += 1
                if waiting.get(hold.context.id) is hold:
                    if len(found) == limit:
                        return found, len(waiting), found[-1].number
                    found.append(hold)
            return found, len(waiting), None

    def get(self, trace_id: str) -> Hold | None:
        """The waiting hold with this trace id, or None."""
        with self._lock:
            return self._holds.get(trace_id)

    def resume(self, trace_id: str, outcome: Outcome | None = None) -> Hold:
        """Resume one hold; OTraceError when no hold with this id is waiting."""
        with self._lock:
            hold = self._holds.pop(trace_id, None)
            self._compact()
        if hold is None:
            raise OTraceError(f"no held request or thread {trace_id!r}")
        self._finish(hold, outcome or Outcome())
        self._tell([hold])
        return hold

    def resume_many(self, trace_ids: list[str], outcome: Outcome | None = None) -> list[Hold]:
        """Resume the waiting holds of ``trace_ids`` (an id no hold waits for is skipped: resumed
        meanwhile); returns them, in the order of ``trace_ids``."""
        outcome = outcome or Outcome()
        with self._lock:
            holds = [h for h in (self._holds.pop(i, None) for i in trace_ids) if h is not None]
            self._compact()
        self._finish_many(holds, outcome)
        self._tell(holds)
        return holds

    def set_timeout(self, timeout: float) -> None:
        """Give every waiting hold ``timeout`` seconds (0: none), counted from when it began (a hold
        already older than that is resumed by its waiter at once): what changing ``hold_timeout``
        does to the holds that wait."""
        for hold in self.list():
            hold.timeout = timeout
            retime = getattr(hold._resolver, "retime", None)
            if retime is not None:
                try:
                    retime(hold)
                except Exception:  # a waiter must never break the caller (a settings change)
                    log.exception("otrace: re-timing %s failed", hold.id)

    def resume_all(self, outcome: Outcome | None = None) -> list[Hold]:
        """Resume every waiting hold; returns them."""
        outcome = outcome or Outcome()
        with self._lock:
            holds = list(self._holds.values())
            self._holds.clear()
            self._order = []
        self._finish_many(holds, outcome)
        self._tell(holds)
        return holds

    def _compact(self) -> None:
        """(Lock held.) Drop the resumed holds from the ordered list once they outnumber the
        waiting ones (plus ``_SLACK``): O(1) amortized per resume."""
        if len(self._order) > 2 * len(self._holds) + self._SLACK:
            waiting = self._holds
            self._order = [h for h in self._order if waiting.get(h.context.id) is h]

    def _finish(self, hold: Hold, outcome: Outcome) -> None:
        hold.outcome = outcome
        hold.done = True
        try:
            hold._resolver(outcome)
        except Exception:  # a resolver must never break the caller of resume
            log.exception("otrace: resuming %s failed", hold.id)

    def _finish_many(self, holds: list[Hold], outcome: Outcome) -> None:
        """``_finish`` each of ``holds``, handing the resolvers whose class has ``resolve_many``
        to it in one call per class (in the order of ``holds``)."""
        batches: dict[Callable, list] = {}
        kind, batch = None, None           # (the resolvers' class of the batch last added to)
        for hold in holds:
            resolver = hold._resolver
            if type(resolver) is not kind:
                kind = type(resolver)
                resolve_many = getattr(kind, "resolve_many", None)
                batch = None if resolve_many is None else batches.setdefault(resolve_many, [])
            if batch is None:
                self._finish(hold, outcome)
                continue
            hold.outcome = outcome
            hold.done = True
            batch.append(resolver)
        for resolve_many, resolvers in batches.items():
            try:
                resolve_many(resolvers, outcome)
            except Exception:  # a resolver must never break the caller of resume
                log.exception("otrace: resuming %d holds failed", len(resolvers))

    def _tell(self, holds: list[Hold]) -> None:
        if holds and self._on_resumed is not None:
            self._on_resumed(holds)

    def __len__(self) -> int:
        return len(self._holds)


def _number(hold: Hold) -> int:
    return hold.number
