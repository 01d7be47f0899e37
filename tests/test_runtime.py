"""Contracts of otrace_server.runtime: crossing between the app loop and the control thread."""

import asyncio
import concurrent.futures
import logging
import sys
import threading
import time

import pytest

from otrace_server.core.context import capture
from otrace_server.core.engine import Engine
from otrace_server.core.errors import OTraceError
from otrace_server.core.holds import Outcome
from otrace_server.runtime import Runtime, crossing
from tests.support.loops import LoopThread, on_a_thread
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def app_loop():
    """An application loop running on its own thread (the 'app thread')."""
    with LoopThread("app-thread") as app:
        yield app.loop


@pytest.fixture
def engine():
    return Engine()


@pytest.fixture
def rt(engine, app_loop):
    runtime = Runtime(engine, app_loop)
    runtime.start()
    yield runtime
    runtime.stop()


def on_app(loop, fn):
    """Run fn() on the app loop from the test thread and return its result (test helper)."""
    return asyncio.run_coroutine_threadsafe(_call(fn), loop).result(5)


async def _call(fn):
    return fn()


def test_start_runs_a_daemon_control_thread_with_its_own_loop(rt):
    thread_name = rt.run_in_control(lambda: threading.current_thread().name).result(5)
    assert thread_name == "otrace-control"
    assert rt.control_loop.is_running()
    assert [t for t in threading.enumerate() if t.name == "otrace-control" and t.daemon]


def test_start_twice_raises(rt):
    with pytest.raises(RuntimeError, match="already started"):
        rt.start()


def test_bad_app_loop_is_one_clear_error(engine):
    with pytest.raises(OTraceError, match="asyncio event loop"):
        Runtime(engine, object())


def test_post_to_a_closed_app_loop_is_logged_not_raised(engine, caplog):
    asyncio.run(asyncio.sleep(0))        # this (the app) thread's last loop is closed: none to fall back on
    loop = asyncio.new_event_loop()
    loop.close()
    runtime = Runtime(engine, loop)
    runtime.start()
    try:
        with caplog.at_level(logging.WARNING, logger="otrace"):
            runtime.post_to_app_loop(lambda: None)     # fire and forget
        assert "no application loop runs (none yet, or it closed)" in caplog.text
    finally:
        runtime.stop()


def test_post_to_app_loop_runs_on_the_app_thread(rt):
    done = threading.Event()
    names = []
    rt.post_to_app_loop(lambda a, b: (names.append((threading.current_thread().name, a + b)), done.set()), 2, 3)
    assert done.wait(5)
    assert names == [("app-thread", 5)]


def _forget_the_main_threads_loop():
    """The main thread's last loop (the app loop's fallback) closed: forgotten (see Runtime.app_loop)."""
    asyncio.run(asyncio.sleep(0))


def test_without_an_explicit_loop_the_app_loop_is_the_one_that_runs_then_the_next_one(engine):
    """start() before asyncio.run, then asyncio.run again: the runtime follows each loop, and
    post_to_app_loop (from another thread) reaches the one that runs."""
    _forget_the_main_threads_loop()

    def program():
        runtime = Runtime(engine)        # made before any loop, on the thread that will run them
        before = runtime.app_loop

        async def main():
            loop = asyncio.get_running_loop()
            ran = loop.create_future()
            await asyncio.to_thread(runtime.post_to_app_loop,
                                    lambda: ran.set_result((asyncio.get_running_loop(), threading.current_thread().name)))
            return loop, runtime.app_loop, await ran

        runs = [asyncio.run(main()) for _ in range(2)]
        return before, runs, runtime.app_loop

    before, runs, after = on_a_thread(program)
    assert before is None and after is None            # no loop yet; both closed since
    (first, app1, ran1), (second, app2, ran2) = runs
    assert first is not second and app1 is first and app2 is second
    assert ran1 == (first, "program") and ran2 == (second, "program")


def test_an_explicit_app_loop_wins_while_it_is_open(engine):
    async def main():
        explicit = asyncio.new_event_loop()
        runtime = Runtime(engine, explicit)
        chosen = runtime.app_loop is explicit
        explicit.close()
        return chosen, runtime.app_loop is asyncio.get_running_loop()

    assert on_a_thread(lambda: asyncio.run(main())) == (True, True)   # then closed: the loop its thread runs


def test_the_control_loop_is_never_the_app_loop(engine):
    _forget_the_main_threads_loop()
    runtime = Runtime(engine)
    runtime.start()
    try:
        assert runtime.control_loop.is_running() and runtime.app_loop is None
        sent = []
        assert runtime.wait_for_answers(lambda: sent.append(1) or [], 1) == [] and sent == [1]
    finally:
        runtime.stop()


def test_run_in_control_runs_coroutines_and_functions_on_the_control_thread(rt):
    async def where():
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert rt.run_in_control(where()).result(5) == "otrace-control"
    assert rt.run_in_control(lambda x: x + 1, 1).result(5) == 2
    with pytest.raises(TypeError):
        rt.run_in_control(42)


def test_call_in_control_waits_for_the_result_and_refuses_the_control_thread(rt):
    async def where():
        return threading.current_thread().name

    assert rt.call_in_control(where()) == "otrace-control"
    with pytest.raises(ZeroDivisionError):
        rt.call_in_control(lambda: 1 / 0)
    fut = rt.run_in_control(lambda: rt.call_in_control(lambda: None))
    with pytest.raises(RuntimeError, match="control thread"):
        fut.result(1)


def test_call_in_control_times_out_with_a_clear_error(rt):
    release = threading.Event()
    rt.run_in_control(release.wait, 5)             # the control loop is now blocked
    try:
        with pytest.raises(OTraceError, match="control loop did not respond within 0.2s"):
            rt.call_in_control(lambda: None, timeout=0.2)
    finally:
        release.set()


def test_wait_for_answers_waits_for_answers_from_the_app_loop(rt):
    answers = [concurrent.futures.Future() for _ in range(3)]

    def send():
        for i, fut in enumerate(answers):
            rt.post_to_app_loop(fut.set_result, i)
        return answers

    assert rt.wait_for_answers(send, 5) == answers
    assert [f.result() for f in answers] == [0, 1, 2]
    slow = concurrent.futures.Future()
    started = time.monotonic()
    assert rt.wait_for_answers(lambda: [slow], 0.2) == [slow]     # not answered: returns after the timeout
    assert not slow.done() and 0.15 < time.monotonic() - started < 1.5


def test_wait_for_answers_refuses_both_loops_before_sending(rt, app_loop):
    sent = []

    def send():
        sent.append(threading.current_thread().name)
        return []

    with pytest.raises(RuntimeError, match="control thread"):
        rt.run_in_control(lambda: rt.wait_for_answers(send, 1)).result(1)
    message = on_app(app_loop, lambda: _error_of(lambda: rt.wait_for_answers(send, 1)))
    assert "app loop thread" in message
    assert sent == []


def _error_of(fn):
    try:
        fn()
    except RuntimeError as exc:
        return str(exc)
    return None


def test_control_calls_before_start_raise(engine, app_loop):
    runtime = Runtime(engine, app_loop)
    with pytest.raises(RuntimeError, match="not started"):
        runtime.run_in_control(lambda: None)


def test_stop_from_the_control_thread_raises(rt):
    with pytest.raises(RuntimeError, match="control thread"):
        rt.run_in_control(rt.stop).result(5)


def test_stop_is_idempotent_and_ends_the_thread(engine, app_loop):
    runtime = Runtime(engine, app_loop)
    runtime.start()
    loop = runtime.control_loop
    runtime.stop()
    runtime.stop()
    assert not runtime.running
    assert loop.is_closed()
    assert not [t for t in threading.enumerate() if t.name == "otrace-control"]


def _hold_context():
    return capture(sys._getframe(), ctype="holds", label="rt_check", funcname="held", event="hold")


def _start_hold(engine, app_loop, results):
    """Start a coroutine on the app loop that holds via engine.start_hold; returns the hold."""
    async def held():
        try:
            results.append(await engine.start_hold(_hold_context()))
        except Exception as exc:  # the outcome may raise
            results.append(exc)

    before = {h.id for h in engine.holds.list()}
    asyncio.run_coroutine_threadsafe(held(), app_loop)
    return wait_for(lambda: next((h for h in engine.holds.list() if h.id not in before), None), 5,
                    what="the hold to start")


def test_start_installs_the_crossing_so_resume_from_any_thread_completes_the_hold(rt, engine, app_loop):
    results = []
    hold = _start_hold(engine, app_loop, results)
    threading.Thread(target=engine.resume, args=([hold.id], Outcome("value", value=7))).start()
    wait_for(lambda: results)
    assert results == [7]


def test_stop_resumes_every_hold_with_shutdown_and_removes_the_crossing(engine, app_loop):
    runtime = Runtime(engine, app_loop)
    runtime.start()
    results = []
    holds = [_start_hold(engine, app_loop, results) for _ in range(3)]
    runtime.stop()
    wait_for(lambda: len(results) == 3)
    assert results == [None, None, None]
    assert [h.outcome.kind for h in holds] == ["shutdown"] * 3
    # without the crossing a hold cannot wait: it is recorded as an assertion and completes at once
    results.clear()

    async def after():
        return await engine.start_hold(_hold_context())

    assert asyncio.run_coroutine_threadsafe(after(), app_loop).result(5) is None
    assert not engine.holds.list()


def test_crossing_tolerates_a_closed_loop(caplog):
    loop = asyncio.new_event_loop()
    loop.close()
    with caplog.at_level(logging.WARNING, logger="otrace"):
        crossing(loop, lambda: None)
    assert "cannot reach event loop" in caplog.text


def test_subscribe_in_control_delivers_engine_events_on_the_control_thread(rt, engine):
    got = []
    done = threading.Event()
    unsubscribe = rt.subscribe_in_control(lambda ev: (got.append((ev.kind, threading.current_thread().name)),
                                                      done.set()))
    engine.events.publish("output", text="x", stream="stdout")
    assert done.wait(5)
    unsubscribe()
    assert got == [("output", "otrace-control")]


def test_a_cancelled_coroutine_ends_the_wait_at_once(rt):
    async def cancelled():
        raise asyncio.CancelledError

    started = time.monotonic()
    with pytest.raises(concurrent.futures.CancelledError):
        rt.run_in_control(cancelled).result(3)
    assert time.monotonic() - started < 1.0
