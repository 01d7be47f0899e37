"""traceassert: the fast path, recorded asserts, breaks and holds, many threads at once."""

from __future__ import annotations

import asyncio
import sys
import threading
import timeit

import pytest

from otrace_server.core.assertions import traceassert
from otrace_server.core.engine import READY, get_engine
from otrace_server.core.errors import OTraceError
from otrace_server.core.holds import Outcome
from tests.support.loops import LoopThread
from tests.support.waiting import wait_for

WAIT = 5.0


@pytest.fixture
def engine():
    """The default engine (traceassert reports to it), active, emptied, restored afterwards."""
    eng = get_engine()
    saved = {n: eng.settings.get(n) for n in ("trace_active", "max_recent", "hold_timeout")}
    crossing = getattr(eng, "_crossing", None)
    eng.settings.set("trace_active", True)
    eng.settings.set("max_recent", 100_000)
    eng.store.clear()
    yield eng
    eng.resume(None)
    eng.store.clear()
    eng.install_crossing(crossing)
    for name, value in saved.items():
        eng.settings.set(name, value)


def wait_for_holds(eng, n=1):
    wait_for(lambda: len(eng.holds) >= n, WAIT, what="the hold to start")
    return eng.holds.list()


def test_true_condition_records_nothing(engine):
    assert traceassert(True, "ok") is None
    assert traceassert(1 == 1, "ok", action="hold") is READY
    assert engine.store.recent() == []


def test_inactive_tracing_records_nothing(engine):
    engine.settings.set("trace_active", False)
    assert traceassert(False, "off") is None
    assert asyncio.run(_await(traceassert(False, "off", action="hold"))) is None
    assert engine.store.recent() == []


async def _await(awaitable):
    return await awaitable


def test_failed_assertion_is_recorded_with_its_frame(engine):
    def respond(number):
        doubled = number * 2
        traceassert(doubled < 10, label="num_check")
        return doubled

    respond(7)
    (ctx,) = engine.store.recent("asserts")
    assert ctx.id.startswith(f"{respond.__qualname__}:as-num_check:")
    assert ctx.event == "assert" and ctx.argvalues == {"number": 7} and ctx.locals["doubled"] == 14
    assert ctx.file == __file__ and ctx.line == respond.__code__.co_firstlineno + 2
    assert ctx.stack[-1].function == "respond"
    assert engine.store.latest() is ctx


def test_default_label_is_the_line(engine):
    traceassert(False)
    line = sys._getframe().f_lineno - 1
    (ctx,) = engine.store.recent("asserts")
    assert ctx.label == f"line{line}"


def test_unknown_action_is_a_one_line_error(engine):
    with pytest.raises(OTraceError, match="unknown action 'stop'"):
        traceassert(False, "x", action="stop")
    assert engine.store.recent() == []


def test_break_blocks_until_resumed(engine):
    box = []

    def worker():
        box.append(traceassert(False, label="brk", action="break"))

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    (hold,) = wait_for_holds(engine)
    assert hold.context.ctype == "breaks" and ":br-brk:" in hold.id
    assert t.is_alive() and box == []
    engine.resume([hold.id], Outcome("value", value="resumed"))
    t.join(WAIT)
    assert box == ["resumed"]


def test_hold_in_a_coroutine_on_a_running_loop(engine):
    engine.install_crossing(lambda lp, fn: lp.call_soon_threadsafe(fn))
    with LoopThread("app-loop", timeout=WAIT) as app:
        async def get(number):
            value = await traceassert(number != "77", label="hold_check", action="hold")
            return number, value

        assert app.run(get("5")) == ("5", None)
        fut = app.submit(get("77"))
        (hold,) = wait_for_holds(engine)
        assert ":hd-hold_check:" in hold.id and hold.context.argvalues == {"number": "77"}
        engine.resume(None, Outcome("value", value=1))
        assert fut.result(WAIT) == ("77", 1)


def test_hold_without_a_loop_becomes_an_assert(engine):
    assert traceassert(False, label="no_loop", action="hold") is READY
    (ctx,) = engine.store.recent("asserts")
    assert ":as-no_loop:" in ctx.id and len(engine.holds) == 0


def test_many_threads_recording_concurrently(engine):
    n_threads, per_thread = 8, 100
    barrier = threading.Barrier(n_threads)

    def worker(k):
        barrier.wait()
        for i in range(per_thread):
            traceassert(False, label="load")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    recorded = engine.store.recent("asserts")
    assert len(recorded) == n_threads * per_thread == len({c.id for c in recorded})
    assert {c.thread for c in recorded} == {t.name for t in threads}


def test_fast_path_is_cheap(engine):
    engine.settings.set("trace_active", False)
    n = 100_000
    per_call = min(timeit.repeat(lambda: traceassert(False, "x"), number=n, repeat=3)) / n
    assert per_call < 5e-6, f"traceassert fast path took {per_call * 1e9:.0f} ns"


def test_vetoed_trace_active_change_leaves_traceassert_as_it_was(engine):
    def veto(name, value):
        if name == "trace_active" and value is False:
            raise OTraceError("tracing must stay on")

    engine.settings.on_change(veto)
    try:
        with pytest.raises(OTraceError):
            engine.settings.set("trace_active", False)
        assert engine.settings.trace_active is True
        traceassert(False, "still_on")                          # still records: the flag followed the store
        assert [c.label for c in engine.store.recent("asserts")] == ["still_on"]
    finally:
        engine.settings._on_change.remove(veto)
    engine.settings.set("trace_active", False)
    traceassert(False, "now_off")
    assert [c.label for c in engine.store.recent("asserts")] == ["still_on"]


def test_site_counts_count_asserts_and_holds_per_line_even_once_evicted(engine):
    engine.settings.set("max_recent", 2)
    here = __file__

    def check(n):
        traceassert(n != 3, label="three")                         # line A
        return sys._getframe().f_lineno - 1

    line_a = max(check(n) for n in range(5))                       # one failure (n == 3)
    for _ in range(4):
        traceassert(False, label="always")                         # line B: four failures
    line_b = sys._getframe().f_lineno - 1
    assert traceassert(False, label="no_loop", action="hold") is READY   # no loop: counted as an assert
    line_c = sys._getframe().f_lineno - 1
    counts = engine.site_counts()
    assert counts[(here, line_a)] == {"asserts": 1}
    assert counts[(here, line_b)] == {"asserts": 4}                # 2 of them evicted from the store
    assert counts[(here, line_c)] == {"asserts": 1}
    assert len(engine.store.recent("asserts")) == 2
    counts[(here, line_b)]["asserts"] = 99                         # a copy
    assert engine.site_counts()[(here, line_b)] == {"asserts": 4}
