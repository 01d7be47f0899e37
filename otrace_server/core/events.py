"""Publish/subscribe of engine events, with plain callbacks.

    >>> bus = EventBus()
    >>> unsubscribe = bus.subscribe(lambda ev: print(ev.kind))
    >>> bus.publish("patch", name="f")
    patch

Kinds published by the engine (``Event.data`` keys in brackets):
    context        a trace context was recorded          [context]
    hold_started   a hold began                          [hold]
    hold_resumed   a hold was resumed                    [hold, outcome]
    holds_resumed  several holds resumed by one call     [holds, outcome]
    patch          a function was patched                [name, patch]
    unpatch        a patch was removed                   [name]
    trace/untrace  tracing installed/removed             [name]
    output         text for consoles (e.g. trace logs)   [text, stream]

Who wants every recorded context, and who only a feed of them: a subscriber gets ``context``
events unless it subscribes with ``contexts=False``, and while one does (``wants_contexts``) the
engine records each context at once (its id given, the event published). A *feed*
(``subscribe_feed``: e.g. an editor's throttled notifications, ``control.throttle``) only wants
to be offered the contexts (``feed.offer(ctx)``, on the recording thread), some of which it will
read later: with feeds only, the engine still queues a traced call's context without an id
(``Engine.record_later``; the C recorder of ``core.quickrecord`` offers it to the feeds itself),
and whoever reads one gives it its id then (``ContextStore.identify``).

Thread-safety: ``publish`` and ``offer`` may be called from any thread and call subscribers
(feeds) on THAT thread; crossing to another thread/loop is the subscriber's job (see
otrace_server.runtime). A subscriber that raises is logged once and kept; it never breaks the
publisher.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

__all__ = ["Event", "EventBus", "Feed"]

log = logging.getLogger("otrace")


@dataclass(slots=True)
class Event:
    """One engine event: its kind, its data and the wall-clock time it happened."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


_now = time.time


class Feed(Protocol):
    """What ``EventBus.subscribe_feed`` takes: ``offer(ctx)`` is called on the recording thread
    with each recorded context (perhaps not given its id yet); cheap, must not raise."""

    def offer(self, ctx: Any) -> None: ...


class EventBus:
    """Fan-out of events to subscriber callbacks, and of recorded contexts to feeds."""

    def __init__(self) -> None:
        self._subscribers: tuple[Callable[[Event], None], ...] = ()
        self._context_subscribers: tuple[Callable[[Event], None], ...] = ()
        self._lock = threading.Lock()
        self._failed: set[int] = set()
        #: True while some callback is subscribed (hot paths skip building events nobody gets)
        self.has_subscribers = False
        #: True while some callback wants every ``context`` event (read by the engine's gate)
        self.wants_contexts = False
        #: the feeds (``subscribe_feed``), read at each recorded call by the C recorder
        self.feeds: tuple[Feed, ...] = ()

    def subscribe(self, callback: Callable[[Event], None], contexts: bool = True) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (but ``context`` events when ``contexts`` is
        False); returns a function that unsubscribes."""
        with self._lock:
            self._subscribers = self._subscribers + (callback,)
            if contexts:
                self._context_subscribers = self._context_subscribers + (callback,)
            self._changed()

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)
                self._context_subscribers = tuple(s for s in self._context_subscribers if s is not callback)
                self._changed()

        return unsubscribe

    def subscribe_feed(self, feed: Feed) -> Callable[[], None]:
        """Offer every recorded context to ``feed`` (see ``Feed``); returns a function that
        unsubscribes it."""
        with self._lock:
            self.feeds = self.feeds + (feed,)

        def unsubscribe() -> None:
            with self._lock:
                self.feeds = tuple(f for f in self.feeds if f is not feed)

        return unsubscribe

    def _changed(self) -> None:
        """(Lock held) The flags the hot paths read, after a change of the subscribers."""
        self.has_subscribers = bool(self._subscribers)
        self.wants_contexts = bool(self._context_subscribers)

    def publish(self, kind: str, **data: Any) -> Event | None:
        """Deliver an event to every subscriber, on the calling thread (a ``context`` event: to
        those that want contexts, and its ``context`` is offered to the feeds); returns the
        event (None, and nothing is built, when no subscriber gets it)."""
        if kind == "context":
            if self.feeds:
                self.offer(data["context"])
            subscribers = self._context_subscribers
        else:
            subscribers = self._subscribers
        if not subscribers:
            return None
        event = Event(kind, data, _now())
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                self._failed_once("event subscriber", callback)
        return event

    def offer(self, ctx: Any) -> None:
        """Offer a recorded context to every feed, on the calling thread (a failing feed is
        logged once and kept)."""
        for feed in self.feeds:
            try:
                feed.offer(ctx)
            except Exception:
                self._failed_once("context feed", feed)

    def _failed_once(self, what: str, who: Any) -> None:
        """(In an ``except``) Log the failure of a subscriber or feed, the first time only."""
        if id(who) not in self._failed:
            self._failed.add(id(who))
            log.exception("otrace: %s %r failed (logged once)", what, who)
