"""Waiting at holds and breaks: the loop side of an asyncio hold (``HoldWaiter``: its Future and
timeout timer), what the held coroutine awaits (``HoldAwaitable``), the thread side of a break
(``BreakWaiter``) and ``READY`` (the awaitable that completes at once). ``core.engine`` makes them
(``Engine.start_hold``/``start_break``); the hold registry calls the waiters as resolvers.

Thread-safety: a waiter's resolver (``__call__``) and ``retime`` may be called from any thread;
everything else of ``HoldWaiter``/``HoldAwaitable`` runs on the hold's loop, of ``BreakWaiter``
on the blocked thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from typing import Any, Callable, Protocol

from otrace_server.core.context import TraceContext
from otrace_server.core.holds import Hold, Outcome

__all__ = ["READY", "HoldWaiter", "BreakWaiter", "HoldAwaitable", "HoldOwner", "Crossing"]

log = logging.getLogger("otrace")

#: ``crossing(loop, fn)``: run ``fn()`` soon on ``loop``'s thread; callable from any thread.
Crossing = Callable[[asyncio.AbstractEventLoop, Callable[[], Any]], None]


class HoldOwner(Protocol):
    """What the waiters call back (``core.engine.Engine``)."""

    def apply_outcome(self, outcome: Outcome, context: TraceContext | None = None) -> Any:
        """In the resumed code: the value of ``outcome``, or raise what it asks for."""

    def resume_quietly(self, trace_id: str, outcome: Outcome) -> None:
        """Resume ``trace_id`` if it is still held."""

    def client_gone(self, hold: Hold) -> None:
        """The client of ``hold``'s request disconnected (app loop)."""


class _Ready:
    """An awaitable that completes at once with None (what ``await traceassert(True, ...)`` awaits)."""

    __slots__ = ()

    def __await__(self):
        return iter(())


READY = _Ready()


class HoldWaiter:
    """The loop side of one asyncio hold: its Future, the timeout timer, and the resolver the
    registry calls from any thread (the waiter itself). One small object per hold, no closures;
    its hold is its context's (``context.hold``, set when the registry creates it)."""

    __slots__ = ("engine", "context", "loop", "crossing", "future", "timer", "release")

    def __init__(self, engine: HoldOwner, context: TraceContext, loop: asyncio.AbstractEventLoop,
                 crossing: Crossing) -> None:
        self.engine = engine
        self.context = context
        self.loop = loop
        self.crossing = crossing
        self.future = loop.create_future()
        self.timer: asyncio.TimerHandle | None = None
        #: ends the client watch (``Engine.client_watch``), once the held code ran on
        self.release: Callable[[], None] | None = None

    @property
    def hold(self) -> Hold:
        """The hold this waiter waits for (its context's)."""
        return self.context.hold

    def __call__(self, outcome: Outcome) -> None:
        """The hold's resolver (any thread): complete the Future on its loop."""
        self.crossing(self.loop, functools.partial(self._complete, outcome))

    @staticmethod
    def resolve_many(waiters: list[HoldWaiter], outcome: Outcome) -> None:
        """The resolver of several holds (any thread; see ``core.holds``): one crossing per loop
        completes its waiters' Futures in order, in one callback, so resuming 1,000 holds wakes
        the loop once and their handlers all run in its next pass, as when the application
        completes 1,000 Futures itself (one crossing each could let the loop run the first ones,
        and the network events they cause, while the resuming thread still queues the rest)."""
        loop, crossing = waiters[0].loop, waiters[0].crossing
        for waiter in waiters:             # (the common case: one loop; no grouping to do)
            if waiter.loop is not loop or waiter.crossing is not crossing:
                break
        else:
            crossing(loop, functools.partial(_complete_all, loop, waiters, outcome))
            return
        by_loop: dict[tuple[asyncio.AbstractEventLoop, Crossing], list[HoldWaiter]] = {}
        for waiter in waiters:
            key = (waiter.loop, waiter.crossing)
            group = by_loop.get(key)
            if group is None:
                group = by_loop[key] = []
            group.append(waiter)
        for (loop, crossing), group in by_loop.items():
            crossing(loop, functools.partial(_complete_all, loop, group, outcome))

    def retime(self, hold: Hold) -> None:
        """``hold.timeout`` changed (any thread): re-arm the timer on the loop."""
        self.crossing(self.loop, functools.partial(self.arm, hold))

    def arm(self, hold: Hold) -> None:
        """On the loop: (re)start the timer that resumes ``hold`` (this waiter's) when its timeout
        is reached."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if hold.timeout and not hold.done:
            self.timer = self.loop.call_later(hold.remaining, self.engine.resume_quietly, hold.id,
                                              Outcome("timeout"))

    def client_gone(self) -> None:
        """The ``gone`` callback of the hold's client watch (app loop): tell the engine."""
        self.engine.client_gone(self.context.hold)

    def _complete(self, outcome: Outcome) -> None:
        """On the loop: the Future gets what the held code's ``await`` returns or raises."""
        future = self.future
        if future.done():
            return
        if outcome.kind == "continue":   # (what resume does nearly always: no call to the engine)
            future.set_result(None)
            return
        try:
            value = self.engine.apply_outcome(outcome, self.context)
        except BaseException as exc:   # what the resume asked the held code to raise
            try:
                future.set_exception(exc)
            except TypeError:           # StopIteration cannot travel through a Future
                future.set_exception(RuntimeError(f"resumed raising {exc!r}"))
        else:
            future.set_result(value)


def _complete_all(loop: asyncio.AbstractEventLoop, waiters: list[HoldWaiter], outcome: Outcome) -> None:
    """On ``loop``: complete each waiter's Future with ``outcome`` (one failing is reported through
    the loop's exception handler, the others are still completed)."""
    for waiter in waiters:
        try:
            waiter._complete(outcome)
        except Exception as exc:
            loop.call_exception_handler({"message": f"otrace: resuming {waiter.context.id} failed",
                                         "exception": exc})


#: loop -> the ``release`` callbacks of the holds that ended in its current pass (see ``_release_soon``)
_RELEASES: dict[asyncio.AbstractEventLoop, list[Callable[[], None]]] = {}


def _release_soon(loop: asyncio.AbstractEventLoop, release: Callable[[], None]) -> None:
    """On ``loop``: call ``release()`` in a later callback, after the held code's current step.
    The releases of every hold that ends in one pass of the loop share one callback (resuming
    1,000 holds schedules one, not 1,000 loop callbacks and context copies)."""
    pending = _RELEASES.get(loop)
    if pending is None:
        loop.call_soon(_release_all, loop)   # (first: a loop that refuses it keeps no entry here)
        _RELEASES[loop] = [release]
    else:
        pending.append(release)


def _release_all(loop: asyncio.AbstractEventLoop) -> None:
    """On ``loop``: call the releases ``_release_soon`` gathered (one failing is reported through
    the loop's exception handler, the others are still called)."""
    for release in _RELEASES.pop(loop, ()):
        try:
            release()
        except Exception as exc:
            loop.call_exception_handler({"message": "otrace: releasing a held request's client watch failed",
                                         "exception": exc})


class BreakWaiter:
    """The thread side of one break: the resolver (any thread) hands the outcome to the blocked
    thread; ``retime`` wakes it to wait again with the hold's new timeout."""

    __slots__ = ("condition", "outcome")

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.outcome: Outcome | None = None

    def __call__(self, outcome: Outcome) -> None:
        with self.condition:
            self.outcome = outcome
            self.condition.notify_all()

    def retime(self, hold: Hold) -> None:
        with self.condition:
            self.condition.notify_all()

    def wait(self, hold: Hold) -> bool:
        """Block until resumed (True) or ``hold``'s timeout has passed (False)."""
        with self.condition:
            while self.outcome is None:
                remaining = hold.remaining
                if remaining == 0.0:
                    return False
                self.condition.wait(remaining)
            return True


class HoldAwaitable:
    """What ``traceassert(..., action="hold")`` returns when it holds: awaiting it waits until the
    hold is resumed, then returns the resume value, raises the requested exception or answers
    the request with an HTTP status.

    It is its own await iterator (asyncio's Future protocol: it yields the hold's Future to the
    Task until the Future is done), so it sees the end of the wait itself: an await that is
    cancelled (client gone, shutdown) or closed ends the hold as ``cancelled``, and the timeout
    timer is dropped, with no done callback on the Future."""

    __slots__ = ("_waiter", "_unawaited")

    def __init__(self, waiter: HoldWaiter, hold: Hold) -> None:
        self._waiter = waiter
        self._unawaited: Hold | None = hold   # the hold (``waiter.hold``) until awaited, then None

    def __await__(self):
        self._unawaited = None
        return self

    def __iter__(self):
        return self

    def send(self, _value=None):
        """Yield the Future while it is pending; then return its result (the outcome, applied)."""
        future = self._waiter.future
        if not future.done():
            future._asyncio_future_blocking = True
            return future
        self._ended()
        raise StopIteration(future.result())   # or raises the resume's exception / CancelledError

    __next__ = send   # what the awaiting coroutine calls (one Python call per step, not two)

    def throw(self, typ, val=None, tb=None):
        """Something was thrown into the waiting coroutine (cancellation): end the hold, re-raise."""
        self._ended()
        if isinstance(typ, BaseException):
            raise typ
        raise typ(*(() if val is None else (val,)))

    def close(self) -> None:
        """The waiting coroutine was closed: end the hold (unless its loop is closed already: a
        pending task destroyed at shutdown; nothing can be completed there any more)."""
        if not self._waiter.loop.is_closed():
            self._ended()

    def _ended(self) -> None:
        waiter = self._waiter
        if waiter.timer is not None:
            waiter.timer.cancel()
        release, waiter.release = waiter.release, None
        if release is not None:   # after the held code's next step: it runs on first, as without otrace
            _release_soon(waiter.loop, release)
        if not waiter.future.done():
            waiter.future.cancel()
        hold = waiter.context.hold
        if not hold.done:
            waiter.engine.resume_quietly(hold.id, Outcome("cancelled"))

    def __del__(self):
        hold = self._unawaited
        if hold is not None and not hold.done:
            log.warning("otrace: hold %s was not awaited (use 'await traceassert(..., action=\"hold\")'); "
                        "resuming it", hold.id)
            self._waiter.engine.resume_quietly(hold.id, Outcome())
