"""EventBus: fan-out on the publishing thread, unsubscribe, failing subscribers isolated."""

from __future__ import annotations

import logging
import threading

from otrace_server.core.events import Event, EventBus


def test_publish_reaches_every_subscriber_in_order():
    bus = EventBus()
    got = []
    bus.subscribe(lambda ev: got.append(("a", ev.kind, ev.data)))
    bus.subscribe(lambda ev: got.append(("b", ev.kind, ev.data)))
    event = bus.publish("patch", name="f")
    assert isinstance(event, Event) and event.time > 0
    assert got == [("a", "patch", {"name": "f"}), ("b", "patch", {"name": "f"})]


def test_unsubscribe():
    bus = EventBus()
    got = []
    stop = bus.subscribe(got.append)
    bus.publish("x")
    stop()
    stop()                        # twice is harmless
    bus.publish("y")
    assert [e.kind for e in got] == ["x"]


def test_subscribers_run_on_the_publishing_thread():
    bus = EventBus()
    threads = []
    bus.subscribe(lambda ev: threads.append(threading.current_thread().name))
    t = threading.Thread(target=bus.publish, args=("context",), name="publisher")
    t.start()
    t.join(5)
    assert threads == ["publisher"]


def test_a_failing_subscriber_is_logged_once_and_never_breaks_publishing(caplog):
    bus = EventBus()
    got = []

    def broken(ev):
        raise ValueError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(got.append)
    with caplog.at_level(logging.ERROR, logger="otrace"):
        bus.publish("a")
        bus.publish("b")
    assert [e.kind for e in got] == ["a", "b"]
    assert sum("failed" in r.getMessage() for r in caplog.records) == 1


def test_concurrent_publish_and_subscribe():
    bus = EventBus()
    counts = [0]
    lock = threading.Lock()

    def count(ev):
        with lock:
            counts[0] += 1

    bus.subscribe(count)

    def publish():
        for _ in range(500):
            bus.publish("tick")

    def churn():
        for _ in range(200):
            bus.subscribe(lambda ev: None)()

    threads = [threading.Thread(target=publish) for _ in range(4)] + [threading.Thread(target=churn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert counts[0] == 2000


def test_a_subscriber_may_leave_out_contexts_and_a_feed_is_offered_only_contexts():
    bus = EventBus()
    got, offered = [], []
    bus.subscribe(lambda ev: got.append(ev.kind), contexts=False)
    assert bus.has_subscribers and not bus.wants_contexts and not bus.feeds

    class Feed:
        def offer(self, ctx):
            offered.append(ctx)

    unsubscribe = bus.subscribe_feed(Feed())
    assert bus.publish("context", context="c1") is None     # nobody wants the event itself
    bus.offer("c2")                                          # a context queued without an id
    bus.publish("patch", name="f")
    assert got == ["patch"] and offered == ["c1", "c2"]
    stop = bus.subscribe(lambda ev: got.append(ev.data["context"]) if ev.kind == "context" else None)
    assert bus.wants_contexts
    bus.publish("context", context="c3")
    assert got == ["patch", "c3"] and offered == ["c1", "c2", "c3"]
    stop()
    unsubscribe()
    assert not bus.wants_contexts and bus.feeds == ()


def test_a_failing_feed_is_logged_once(caplog):
    bus = EventBus()

    class Broken:
        def offer(self, ctx):
            raise ValueError("feed bug")

    bus.subscribe_feed(Broken())
    with caplog.at_level(logging.ERROR, logger="otrace"):
        bus.offer("a")
        bus.publish("context", context="b")
    assert sum("context feed" in r.getMessage() for r in caplog.records) == 1
