"""The batched crossing (otrace_server.runtime.crossing): callbacks from other threads reach a loop
with one wake-up per batch, all of them, in order, even when some raise or arrive mid-drain."""

import asyncio
import logging
import sys
import threading
import time

import pytest

from otrace_server.core.context import capture
from otrace_server.core.engine import Engine
from otrace_server.core.holds import Outcome
from otrace_server.runtime import Runtime, crossing
from tests.support.loops import LoopThread
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(20)


def count_wakeups(loop):
    """Wrap the real ``loop.call_soon_threadsafe`` so that ``loop.wakeups`` counts the calls made
    from now on; returns the real method."""
    real = loop.call_soon_threadsafe
    loop.wakeups = 0

    def counting(*args, **kwargs):
        loop.wakeups += 1
        return real(*args, **kwargs)

    loop.call_soon_threadsafe = counting
    return real


@pytest.fixture
def app_loop():
    """A real loop on its own thread; ``app_loop.wakeups`` counts its ``call_soon_threadsafe``
    calls made after the fixture is set up (the real method, wrapped)."""
    with LoopThread("app-thread") as app:
        count_wakeups(app.loop)
        yield app.loop


class Blocked:
    """Keeps the loop busy (blocked in a callback) until ``release()``: what the loop does while
    callbacks pile up from other threads."""

    def __init__(self, loop) -> None:
        self.inside, self.go = threading.Event(), threading.Event()
        asyncio.run_coroutine_threadsafe(self._block(), loop)
        assert self.inside.wait(5)

    async def _block(self):
        self.inside.set()
        self.go.wait(10)

    def release(self) -> None:
        self.go.set()


def test_a_batch_from_another_thread_runs_in_order_on_the_loop_with_one_wakeup(app_loop):
    ran = []
    blocked = Blocked(app_loop)
    before = app_loop.wakeups
    for i in range(1000):
        crossing(app_loop, lambda i=i: ran.append((i, threading.current_thread().name)))
    blocked.release()
    wait_for(lambda: len(ran) == 1000)
    assert ran == [(i, "app-thread") for i in range(1000)]
    assert app_loop.wakeups - before == 1


def test_a_raising_callback_is_reported_and_the_others_still_run(app_loop):
    reported, ran = [], []
    app_loop.set_exception_handler(lambda loop, context: reported.append(context["exception"]))
    blocked = Blocked(app_loop)

    def boom():
        raise ValueError("boom")

    for i in range(5):
        crossing(app_loop, boom if i == 2 else (lambda i=i: ran.append(i)))
    blocked.release()
    wait_for(lambda: len(ran) == 4)
    assert ran == [0, 1, 3, 4]
    assert [repr(e) for e in reported] == ["ValueError('boom')"]


def test_a_callback_added_while_the_drain_runs_is_run_by_a_second_wakeup(app_loop):
    ran = []

    def first():
        ran.append("first")   # on the loop, inside the drain: another thread adds one now
        adder = threading.Thread(target=crossing, args=(app_loop, lambda: ran.append("late")))
        adder.start()
        adder.join(5)

    blocked = Blocked(app_loop)
    before = app_loop.wakeups
    crossing(app_loop, first)
    crossing(app_loop, lambda: ran.append("second"))
    blocked.release()
    wait_for(lambda: len(ran) == 3)
    assert ran == ["first", "second", "late"]
    assert app_loop.wakeups - before == 2


def test_concurrent_threads_lose_nothing_and_keep_each_threads_order(app_loop):
    per_thread, n = 4, 3000
    ran: dict[int, list[int]] = {t: [] for t in range(per_thread)}

    def add(t):
        for i in range(n):
            crossing(app_loop, lambda i=i: ran[t].append(i))

    threads = [threading.Thread(target=add, args=(t,)) for t in range(per_thread)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    wait_for(lambda: sum(map(len, ran.values())) == per_thread * n)
    assert all(ran[t] == list(range(n)) for t in ran)
    assert app_loop.wakeups < per_thread * n   # batched while the loop was busy draining


def test_on_the_loops_own_thread_it_is_call_soon_without_a_wakeup(app_loop):
    async def from_the_loop():
        done = asyncio.get_running_loop().create_future()
        crossing(app_loop, lambda: done.set_result(threading.current_thread().name))
        return await done

    before = app_loop.wakeups
    assert asyncio.run_coroutine_threadsafe(from_the_loop(), app_loop).result(5) == "app-thread"
    assert app_loop.wakeups - before == 1   # run_coroutine_threadsafe's own; none by crossing


def test_a_loop_closed_with_a_drain_pending_is_logged_never_raised(caplog):
    loop = asyncio.new_event_loop()
    ran = []
    crossing(loop, lambda: ran.append(1))   # the loop is not running: the drain waits in it
    loop.close()                             # ... and is dropped with it
    with caplog.at_level(logging.WARNING, logger="otrace"):
        crossing(loop, lambda: ran.append(2))
        crossing(loop, lambda: ran.append(3))
    assert ran == []
    assert caplog.text.count("cannot reach event loop") == 2


def test_resuming_1000_holds_from_another_thread_completes_them_in_order_with_one_wakeup(app_loop):
    engine = Engine()
    runtime = Runtime(engine, app_loop)
    runtime.start()
    try:
        n, order = 1000, []

        async def held(i):
            ctx = capture(sys._getframe(), ctype="holds", label="batch_check", funcname="held", event="hold")
            value = await engine.start_hold(ctx)
            order.append((i, value, threading.current_thread().name))

        async def hold_all():
            for i in range(n):
                asyncio.ensure_future(held(i))

        asyncio.run_coroutine_threadsafe(hold_all(), app_loop).result(5)
        wait_for(lambda: len(engine.holds) == n)
        blocked = Blocked(app_loop)    # the loop is busy while resume queues every completion
        before = app_loop.wakeups
        resumer = threading.Thread(target=engine.resume, args=(None, Outcome("value", value="v")))
        resumer.start()
        resumer.join(10)
        assert app_loop.wakeups - before == 1
        blocked.release()
        wait_for(lambda: len(order) == n)
        assert order == [(i, "v", "app-thread") for i in range(n)]
        assert len(engine.holds) == 0
    finally:
        runtime.stop()


# ---- engine events -> the control thread (Runtime.subscribe_in_control) ------------------------

@pytest.fixture
def runtime(app_loop):
    """A started Runtime whose control loop counts its wake-ups (``call_soon_threadsafe``)."""
    rt = Runtime(Engine(), app_loop)
    rt.start()
    count_wakeups(rt.control_loop)
    yield rt
    rt.stop()


def test_a_burst_of_contexts_reaches_every_control_subscriber_in_order_with_few_wakeups(runtime):
    seen: dict[str, list] = {"a": [], "b": []}
    threads: set[str] = set()

    def subscriber(name):
        def callback(event):
            threads.add(threading.current_thread().name)
            seen[name].append(event.data.get("n"))
        return callback

    unsubscribe_a = runtime.subscribe_in_control(subscriber("a"))
    runtime.subscribe_in_control(subscriber("b"))
    # one engine subscription for both, and one for the contexts they want (so that a pump with no
    # callback wanting contexts does not make the engine record every context at once)
    assert len(runtime.engine.events._subscribers) == 2 and runtime.engine.events.wants_contexts

    def publish():
        for n in range(2000):
            runtime.engine.events.publish("context", n=n)

    worker = threading.Thread(target=publish)
    worker.start()
    worker.join(10)
    wait_for(lambda: len(seen["a"]) == 2000 and len(seen["b"]) == 2000)
    assert seen["a"] == seen["b"] == list(range(2000))
    assert threads == {"otrace-control"}
    # one wake-up per pump (every DELAY at most), not one per event
    assert runtime.control_loop.wakeups < 200, runtime.control_loop.wakeups

    unsubscribe_a()
    runtime.engine.events.publish("context", n=-1)
    wait_for(lambda: seen["b"][-1] == -1)
    assert seen["a"][-1] == 1999


def test_hold_events_are_delivered_at_once_and_after_the_contexts_before_them(runtime):
    seen = []
    runtime.subscribe_in_control(lambda event: seen.append((event.kind, time.monotonic())))
    runtime.engine.events.publish("context", n=1)
    sent = time.monotonic()
    runtime.engine.events.publish("hold_resumed", hold=None)
    wait_for(lambda: len(seen) == 2)
    assert [kind for kind, _ in seen] == ["context", "hold_resumed"]
    assert seen[1][1] - sent < 1.0


def test_the_last_unsubscribe_removes_the_engine_subscription(runtime):
    unsubscribe = runtime.subscribe_in_control(lambda event: None)
    assert runtime.engine.events.has_subscribers
    unsubscribe()
    assert not runtime.engine.events.has_subscribers


def test_a_burst_of_hold_events_is_one_wakeup_and_arrives_in_order(runtime):
    seen = []
    runtime.subscribe_in_control(lambda event: seen.append(event.data["n"]))
    blocked = Blocked(runtime.control_loop)      # the control loop is busy while the burst comes
    before = runtime.control_loop.wakeups
    for n in range(1000):
        runtime.engine.events.publish("hold_resumed", n=n)
    blocked.release()
    wait_for(lambda: len(seen) == 1000)
    assert seen == list(range(1000))
    assert runtime.control_loop.wakeups - before <= 2


def test_a_failing_control_subscriber_is_logged_once_and_the_others_still_get_every_event(runtime, caplog):
    seen = []

    def broken(event):
        raise ValueError("broken subscriber")

    runtime.subscribe_in_control(broken)
    runtime.subscribe_in_control(lambda event: seen.append(event.data["n"]))
    with caplog.at_level(logging.ERROR, logger="otrace"):
        for n in range(5):
            runtime.engine.events.publish("patch", n=n)
        wait_for(lambda: len(seen) == 5)
    assert seen == list(range(5))
    assert len([r for r in caplog.records if "subscriber" in r.getMessage()]) == 1
