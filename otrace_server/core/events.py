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

Thread-safety: ``publish`` may be called from any thread and calls subscribers on THAT thread;
crossing to another thread/loop is the subscriber's job (see otrace_server.runtime). A subscriber
that raises is logged once and kept; it never breaks the publisher.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Event", "EventBus"]

log = logging.getLogger("otrace")


@dataclass(slots=True)
class Event:
    """One engine event: its kind, its data and the wall-clock time it happened."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


_now = time.time


class EventBus:
    """Fan-out of events to subscriber callbacks."""

    def __init__(self) -> None:
        self._subscribers: tuple[Callable[[Event], None], ...] = ()
        self._lock = threading.Lock()
        self._failed: set[int] = set()
        #: True while some callback is subscribed (hot paths skip building events nobody gets)
        self.has_subscribers = False

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers = self._subscribers + (callback,)
            self.has_subscribers = True

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)
                self.has_subscribers = bool(self._subscribers)

        return unsubscribe

    def publish(self, kind: str, **data: Any) -> Event | None:
        """Deliver an event to every subscriber, on the calling thread; returns the event (None,
        and nothing is built, when nobody is subscribed)."""
        subscribers = self._subscribers
        if not subscribers:
            return None
        event = Event(kind, data, _now())
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                if id(callback) not in self._failed:
                    self._failed.add(id(callback))
                    log.exception("otrace: event subscriber %r failed (logged once)", callback)
        return event
