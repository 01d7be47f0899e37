"""Holds and breaks with real threads and a real asyncio loop: every Outcome, hold_timeout,
resume_all, unknown ids, cancellation, not-awaited holds, holds without a loop or crossing."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time

import pytest

from otrace_server.core.context import capture
from otrace_server.core.engine import READY, Engine
from otrace_server.core.errors import OTraceError
from otrace_server.core.holds import HoldAnswered, HoldRegistry, Outcome
from tests.support.loops import LoopThread
from tests.support.waiting import wait_for

WAIT = 5.0


@pytest.fixture
def app_loop():
    """An asyncio loop running on its own thread, as the application's loop does."""
    with LoopThread("app-loop", timeout=WAIT) as app:
        yield app.loop


@pytest.fixture
def engine():
    eng = Engine()
    eng.install_crossing(lambda loop, fn: loop.call_soon_threadsafe(fn))
    return eng


def hold_ctx(label="hold_check", funcname="GetHandler.get"):
    return capture(sys._getframe(1), ctype="holds", label=label, funcname=funcname, event="hold")


async def held_handler(engine, number):
    """A request handler that holds (what ``await traceassert(..., action="hold")`` does)."""
    result = await engine.start_hold(hold_ctx())
    return ("done", number, result)


def submit(loop, coro):
    return asyncio.run_coroutine_threadsafe(coro, loop)


def wait_for_holds(engine, n=1):
    wait_for(lambda: len(engine.holds.list()) >= n, WAIT, what="the hold to start")
    return engine.holds.list()


def test_hold_pauses_one_request_while_the_loop_keeps_serving(engine, app_loop):
    events = []
    engine.events.subscribe(lambda ev: events.append((ev.kind, threading.current_thread().name)))
    fut = submit(app_loop, held_handler(engine, "77"))
    (hold,) = wait_for_holds(engine)
    ctx = hold.context
    assert ctx.ctype == "holds" and ctx.is_held and ctx.argvalues == {"engine": engine, "number": "77"}
    assert ctx.id.startswith("GetHandler.get:hd-hold_check:")
    assert ctx.path[:4] == ["recent", "holds", "GetHandler.get", "hd-hold_check"]
    assert engine.store.get(ctx.id) is ctx
    assert submit(app_loop, asyncio.sleep(0, "other request")).result(WAIT) == "other request"
    assert not fut.done()
    (resumed,) = engine.resume([ctx.id])
    assert fut.result(WAIT) == ("done", "77", None)
    assert resumed is hold and hold.done and not ctx.is_held and hold.outcome.kind == "continue"
    assert [k for k, _ in events] == ["context", "hold_started", "hold_resumed"]
    assert events[0][1] == "app-loop" and events[2][1] == threading.current_thread().name


@pytest.mark.parametrize("outcome, check", [
    (Outcome("value", value=42), lambda fut: fut.result(WAIT) == ("done", 1, 42)),
    (Outcome(), lambda fut: fut.result(WAIT) == ("done", 1, None)),
    (Outcome("shutdown"), lambda fut: fut.result(WAIT) == ("done", 1, None)),
])
def test_resume_outcomes_that_continue(engine, app_loop, outcome, check):
    fut = submit(app_loop, held_handler(engine, 1))
    (hold,) = wait_for_holds(engine)
    engine.resume([hold.id], outcome)
    assert check(fut)


def test_resume_raising_an_exception(engine, app_loop):
    fut = submit(app_loop, held_handler(engine, 1))
    (hold,) = wait_for_holds(engine)
    engine.resume([hold.id], Outcome("raise", exception=KeyError("gone")))
    with pytest.raises(KeyError, match="gone"):
        fut.result(WAIT)


def test_resume_with_http_status(engine, app_loop):
    fut = submit(app_loop, held_handler(engine, 1))
    (hold,) = wait_for_holds(engine)
    engine.resume([hold.id], Outcome("status", status=403, reason="held too long"))
    with pytest.raises(HoldAnswered) as info:
        fut.result(WAIT)
    assert info.value.status == 403 and "403" in str(info.value)

    class Answered(Exception):
        pass

    engine.status_exception_for = lambda ctx: Answered
    fut = submit(app_loop, held_handler(engine, 2))
    (hold,) = wait_for_holds(engine)
    engine.resume([hold.id], Outcome("status", status=503))
    with pytest.raises(Answered):
        fut.result(WAIT)


def test_hold_timeout_resumes_by_itself(engine, app_loop):
    engine.settings.set("hold_timeout", 0.2)
    started = time.monotonic()
    fut = submit(app_loop, held_handler(engine, 1))
    (hold,) = wait_for_holds(engine)
    assert 0 < hold.remaining <= 0.2 and "resumes in" in hold.describe()
    assert fut.result(WAIT) == ("done", 1, None)
    assert 0.15 < time.monotonic() - started < WAIT
    assert hold.outcome.kind == "timeout" and len(engine.holds) == 0


def test_resume_all_and_unknown_ids(engine, app_loop):
    futs = [submit(app_loop, held_handler(engine, n)) for n in range(3)]
    holds = wait_for_holds(engine, 3)
    assert len({h.id for h in holds}) == 3 and [h.number for h in holds] == sorted(h.number for h in holds)
    with pytest.raises(OTraceError, match="not held: nope"):
        engine.resume([holds[0].id, "nope"])
    assert len(engine.holds) == 3                        # nothing was resumed
    with pytest.raises(OTraceError):
        engine.holds.resume("nope")
    engine.resume_quietly("nope", Outcome())             # harmless
    assert len(engine.resume(None, Outcome("value", value="all"))) == 3
    assert sorted(f.result(WAIT) for f in futs) == [("done", n, "all") for n in range(3)]
    assert engine.resume(None) == []


def test_cancelled_hold_leaves_the_registry(engine, app_loop):
    fut = submit(app_loop, held_handler(engine, 1))
    (hold,) = wait_for_holds(engine)
    fut.cancel()                                         # e.g. the client went away
    wait_for(lambda: not len(engine.holds), WAIT, what="the hold to leave the registry")
    assert hold.outcome.kind == "cancelled" and not hold.context.is_held


def test_not_awaited_hold_warns_and_resumes(engine, app_loop, caplog):
    async def forgetful():
        engine.start_hold(hold_ctx())                    # missing await
        return "went on"

    with caplog.at_level(logging.WARNING, logger="otrace"):
        assert submit(app_loop, forgetful()).result(WAIT) == "went on"
    assert len(engine.holds) == 0
    assert any("was not awaited" in r.getMessage() for r in caplog.records)


def test_hold_outside_a_running_loop_is_recorded_as_an_assert(engine, caplog):
    with caplog.at_level(logging.WARNING, logger="otrace"):
        result = engine.start_hold(hold_ctx())
    assert result is READY and len(engine.holds) == 0
    (ctx,) = engine.store.recent("asserts")
    assert ctx.id.startswith("GetHandler.get:as-hold_check:")
    assert any("no running asyncio loop" in r.getMessage() for r in caplog.records)


def test_hold_without_crossing_is_recorded_as_an_assert(app_loop, caplog):
    engine = Engine()                                    # otrace not started: no crossing

    async def handler():
        return await engine.start_hold(hold_ctx())

    with caplog.at_level(logging.WARNING, logger="otrace"):
        assert submit(app_loop, handler()).result(WAIT) is None
    assert [c.ctype for c in engine.store.recent()] == ["asserts"]
    assert any("not started" in r.getMessage() for r in caplog.records)


def test_enrichers_run_for_holds_and_the_hold_is_never_evicted(engine, app_loop):
    engine.settings.set("max_recent", 1)
    engine.enrichers.append(lambda ctx: ctx.extra.setdefault("request", f"GET /{ctx.ctype}"))
    fut = submit(app_loop, held_handler(engine, 1))
    (hold,) = wait_for_holds(engine)
    others = [submit(app_loop, held_handler(engine, n)) for n in (2, 3)]
    wait_for_holds(engine, 3)
    assert hold.context.extra["request"] == "GET /holds"
    assert len(engine.store.recent("holds")) == 3        # held ones stay beyond max_recent
    engine.resume(None)
    for f in [fut, *others]:
        f.result(WAIT)


def run_break(engine, box, label="brk"):
    ctx = capture(sys._getframe(), ctype="breaks", label=label, funcname="worker", event="break")
    try:
        box.append(("value", engine.start_break(ctx)))
    except Exception as exc:
        box.append(("raised", exc))


def test_break_blocks_the_thread_until_resumed_from_another(engine):
    box: list = []
    worker = threading.Thread(target=run_break, args=(engine, box), daemon=True)
    worker.start()
    (hold,) = wait_for_holds(engine)
    time.sleep(0.05)                                    # a window in which the break must keep waiting
    assert worker.is_alive() and box == []
    assert hold.context.ctype == "breaks" and hold.id.startswith("worker:br-brk:")
    engine.resume([hold.id], Outcome("value", value="go"))
    worker.join(WAIT)
    assert box == [("value", "go")]


def test_break_resumed_raising_and_by_timeout(engine):
    box: list = []
    worker = threading.Thread(target=run_break, args=(engine, box), daemon=True)
    worker.start()
    (hold,) = wait_for_holds(engine)
    engine.resume([hold.id], Outcome("raise", exception=RuntimeError("stop")))
    worker.join(WAIT)
    assert box[0][0] == "raised" and str(box[0][1]) == "stop"

    engine.settings.set("hold_timeout", 0.1)
    box.clear()
    worker = threading.Thread(target=run_break, args=(engine, box), daemon=True)
    worker.start()
    worker.join(WAIT)
    assert box == [("value", None)] and len(engine.holds) == 0


def test_a_status_no_framework_answers_is_refused_before_anything_is_resumed(engine):
    """``status_exception_for`` None (a thread break outside any HTTP framework): one-line refusal,
    for the listed ids and for all; every hold keeps waiting, and resumes normally afterwards."""
    engine.status_exception_for = lambda ctx: None
    box: list = []
    worker = threading.Thread(target=run_break, args=(engine, box), daemon=True)
    worker.start()
    (hold,) = wait_for_holds(engine)
    for ids in ([hold.id], None):
        with pytest.raises(OTraceError) as info:
            engine.resume(ids, Outcome("status", status=503, reason="later"))
        assert str(info.value) == (f"resume --status: {hold.id} is not an HTTP request handled by a known "
                                   f"framework (a thread break); use continue, --value or --raise")
    assert engine.holds.list() == [hold] and worker.is_alive()
    engine.resume([hold.id], Outcome("value", value="go"))
    worker.join(WAIT)
    assert box == [("value", "go")]


def test_many_breaks_on_many_threads(engine):
    box: list = []
    workers = [threading.Thread(target=run_break, args=(engine, box, f"b{i}"), daemon=True) for i in range(8)]
    for w in workers:
        w.start()
    wait_for_holds(engine, 8)
    assert len(engine.resume(None, Outcome("value", value=1))) == 8
    for w in workers:
        w.join(WAIT)
    assert box == [("value", 1)] * 8


def test_registry_survives_a_failing_resolver(caplog):
    resumed = []
    registry = HoldRegistry(on_resumed=resumed.append)
    ctx = hold_ctx()
    ctx.id = "f:hd-x:00-00-00"

    def broken(outcome):
        raise RuntimeError("resolver bug")

    hold = registry.create(ctx, broken)
    assert registry.get(ctx.id) is hold and ctx.hold is hold and hold.remaining is None
    with caplog.at_level(logging.ERROR, logger="otrace"):
        assert registry.resume(ctx.id) is hold
    assert resumed == [[hold]] and hold.done and registry.list() == []
    assert any("resuming" in r.getMessage() for r in caplog.records)
    assert Outcome("status", status=404).describe() == "answered with HTTP 404"


def test_hold_awaited_inside_wait_for_ends_cancelled_on_its_timeout(engine, app_loop):
    """The awaitable works under asyncio.wait_for (wrapped in a task); the inner cancellation
    ends the hold, and the caller sees TimeoutError."""
    async def impatient():
        try:
            await asyncio.wait_for(engine.start_hold(hold_ctx()), 0.2)
        except asyncio.TimeoutError:
            return "timed out"

    fut = submit(app_loop, impatient())
    (hold,) = wait_for_holds(engine)
    assert fut.result(WAIT) == "timed out"
    assert hold.done and hold.outcome.kind == "cancelled" and len(engine.holds) == 0


def test_closed_held_coroutine_ends_its_hold_and_a_resume_drops_the_timer(engine, app_loop):
    engine.settings.set("hold_timeout", 30)
    box = []

    async def start():
        coro = held_handler(engine, 7)
        coro.send(None)                                  # runs up to the hold, then never resumed
        box.append(coro)

    submit(app_loop, start()).result(WAIT)
    (hold,) = wait_for_holds(engine)
    app_loop.call_soon_threadsafe(box[0].close)          # e.g. dropped by its owner
    wait_for(lambda: hold.done, WAIT, what="the hold to end")
    assert hold.outcome.kind == "cancelled"
    fut = submit(app_loop, held_handler(engine, 8))
    (second,) = wait_for_holds(engine)
    engine.resume([second.id], Outcome("value", value=1))
    assert fut.result(WAIT) == ("done", 8, 1)
    timers = submit(app_loop, _scheduled_timers()).result(WAIT)
    assert timers == 0                                   # both 30 s timers were cancelled


async def _scheduled_timers():
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0)
    return sum(1 for t in loop._scheduled if not t.cancelled())


def test_a_hold_made_while_otrace_stops_resumes_itself(engine, app_loop):
    """Runtime.stop removes the crossing, then resumes every hold: a hold being made in between
    (it read the crossing before) must not be stranded."""
    engine.enrichers.append(lambda ctx: engine.install_crossing(None))   # otrace stops mid-hold
    result = submit(app_loop, held_handler(engine, 5)).result(WAIT)
    assert result == ("done", 5, None)
    assert engine.holds.list() == []


def test_changing_hold_timeout_retimes_waiting_breaks_and_holds(engine, app_loop):
    """A new hold_timeout applies to the holds that already wait, counted from when each began:
    0 -> 0.3 s resumes both (with outcome "timeout"); a break that waited forever wakes up."""
    box: list = []
    worker = threading.Thread(target=run_break, args=(engine, box), daemon=True)
    worker.start()
    future = submit(app_loop, held_handler(engine, 1))
    holds = wait_for_holds(engine, 2)
    time.sleep(0.1)                                     # the scenario: both have waited 0.1 s already
    assert worker.is_alive() and not future.done()
    started = time.monotonic()
    engine.settings.set("hold_timeout", 0.3)
    worker.join(WAIT)
    assert future.result(WAIT) == ("done", 1, None) and box == [("value", None)]
    assert 0.1 < time.monotonic() - started < 2.0       # ~0.2 s left of 0.3 s counted from the start
    assert [h.outcome.kind for h in holds] == ["timeout", "timeout"] and len(engine.holds) == 0


def test_hold_timeout_set_to_zero_keeps_waiting_holds_and_an_old_hold_resumes_at_once(engine, app_loop):
    engine.settings.set("hold_timeout", 0.3)
    future = submit(app_loop, held_handler(engine, 2))
    (hold,) = wait_for_holds(engine)
    engine.settings.set("hold_timeout", 0.0)
    time.sleep(0.6)                                     # past the old 0.3 s: the hold must still wait
    assert not future.done() and hold.remaining is None and engine.holds.get(hold.id) is hold
    engine.settings.set("hold_timeout", 0.2)            # already older than 0.2 s: resumed now
    assert future.result(WAIT) == ("done", 2, None) and hold.outcome.kind == "timeout"


@pytest.mark.parametrize("outcome, message", [
    (Outcome("raise", exception=SystemExit(1)), "cannot raise SystemExit in held code"),
    (Outcome("raise", exception=KeyboardInterrupt()), "cannot raise KeyboardInterrupt in held code"),
    (Outcome("raise", exception=GeneratorExit()), "cannot raise GeneratorExit in held code"),
    (Outcome("raise", exception=asyncio.CancelledError()), "cannot raise CancelledError in held code"),
    (Outcome("status", status=103), "cannot answer with HTTP 103: a final status is 200-599"),
    (Outcome("status", status=600), "cannot answer with HTTP 600"),
])
def test_outcomes_that_would_harm_the_application_are_refused_and_the_hold_waits(engine, app_loop, outcome, message):
    future = submit(app_loop, held_handler(engine, 3))
    (hold,) = wait_for_holds(engine)
    for ids in ([hold.id], None):
        with pytest.raises(OTraceError, match=message):
            engine.resume(ids, outcome)
    assert engine.holds.get(hold.id) is hold and not future.done()
    engine.resume([hold.id], Outcome("raise", exception=LookupError("fine")))
    with pytest.raises(LookupError, match="fine"):
        future.result(WAIT)


def test_resuming_many_holds_completes_them_in_one_crossing_per_loop(app_loop):
    """resume_many/resume_all hand a loop's waiters to HoldWaiter.resolve_many: one crossing per
    loop completes their Futures (so their handlers all run in the loop's next pass), in the
    order resumed; a single resume still crosses once for its hold."""
    crossings = []
    eng = Engine()
    eng.install_crossing(lambda loop, fn: (crossings.append(fn), loop.call_soon_threadsafe(fn)))
    passes = []

    async def handler(n):
        result = await eng.start_hold(hold_ctx())
        passes.append(n)
        return n, result

    futs = [submit(app_loop, handler(n)) for n in range(6)]
    holds = wait_for_holds(eng, 6)
    eng.resume([holds[0].id])
    assert futs[0].result(WAIT) == (0, None) and len(crossings) == 1
    ids = [h.id for h in holds[1:4]]
    assert [h.id for h in eng.resume(ids[::-1], Outcome("value", value="v"))] == ids[::-1]
    assert [f.result(WAIT) for f in futs[1:4]] == [(n, "v") for n in range(1, 4)]
    assert len(crossings) == 2 and passes[1:] == [3, 2, 1]
    assert len(eng.resume(None, Outcome("shutdown"))) == 2 and len(crossings) == 3
    assert [f.result(WAIT) for f in futs[4:]] == [(4, None), (5, None)]


def test_client_watch_releases_run_after_the_held_code_step_in_one_callback(app_loop):
    """The framework's ``release`` of each resumed hold runs on the app loop after the held code's
    first step (what it wrote after the hold is done by then), the releases of the holds that
    ended in one pass share one loop callback, and one that raises is reported through the
    loop's exception handler while the others still run."""
    eng = Engine()
    eng.install_crossing(lambda loop, fn: loop.call_soon_threadsafe(fn))
    order, reported = [], []

    def watch(hold, gone):
        def release():
            order.append(("release", hold.id))
            if len([o for o in order if o[0] == "release"]) == 2:
                raise RuntimeError("a framework's release failed")
        return release

    eng.client_watch = watch
    app_loop.call_soon_threadsafe(app_loop.set_exception_handler, lambda loop, info: reported.append(info))

    async def handler(n):
        await eng.start_hold(hold_ctx(label=f"h{n}"))
        order.append(("step", n))

    futs = [submit(app_loop, handler(n)) for n in range(3)]
    holds = wait_for_holds(eng, 3)
    handles = []
    real_call_soon = app_loop.call_soon

    def counting_call_soon(callback, *args, **kwargs):   # loop callbacks scheduled on the app loop
        handles.append(getattr(callback, "__name__", repr(callback)))
        return real_call_soon(callback, *args, **kwargs)

    app_loop.call_soon = counting_call_soon
    try:
        eng.resume()
        for fut in futs:
            fut.result(WAIT)
        wait_for(lambda: len([o for o in order if o[0] == "release"]) == 3, WAIT, what="the releases")
    finally:
        del app_loop.call_soon
    steps = [i for i, o in enumerate(order) if o[0] == "step"]
    releases = [i for i, o in enumerate(order) if o[0] == "release"]
    assert len(steps) == 3 and max(steps) < min(releases)       # every held step ran before any release
    assert sorted(o[1] for o in order if o[0] == "release") == sorted(h.id for h in holds)
    assert handles.count("_release_all") == 1                   # one loop callback for the three releases
    assert [str(info["exception"]) for info in reported] == ["a framework's release failed"]
    assert "releasing a held request's client watch failed" in reported[0]["message"]


def test_resolve_many_groups_by_loop_and_one_failing_hold_does_not_stop_the_others(app_loop):
    """Holds of two loops resumed together: one crossing per loop; an outcome whose application
    fails for one hold raises in that hold's code only, the others complete."""
    crossings = []
    eng = Engine()
    eng.install_crossing(lambda loop, fn: (crossings.append(loop), loop.call_soon_threadsafe(fn)))
    with LoopThread("other-loop", timeout=WAIT) as other:
        loops = (app_loop, other.loop, app_loop, other.loop)
        futs = [submit(loop, held_handler(eng, n)) for n, loop in enumerate(loops)]
        wait_for_holds(eng, 4)
        real, failed = eng.apply_outcome, []

        def apply_outcome(outcome, context=None):
            if not failed:
                failed.append(context.id)
                raise RuntimeError("cannot apply")
            return real(outcome, context)

        eng.apply_outcome = apply_outcome
        assert len(eng.resume(None, Outcome("value", value=7))) == 4
        results = []
        for fut in futs:
            try:
                results.append(fut.result(WAIT))
            except RuntimeError as exc:
                results.append(str(exc))
    assert sorted(crossings, key=id) == sorted([app_loop, other.loop], key=id)
    assert results.count("cannot apply") == 1
    assert sorted(r for r in results if r != "cannot apply") == sorted(
        ("done", n, 7) for n in range(4) if results[n] != "cannot apply")


def test_breaks_and_asyncio_holds_resumed_together(engine, app_loop):
    """resume_all of a thread break and asyncio holds: the break's resolver is called for it alone,
    the holds' through resolve_many; all continue with the one outcome."""
    box: list = []
    worker = threading.Thread(target=run_break, args=(engine, box), daemon=True)
    worker.start()
    futs = [submit(app_loop, held_handler(engine, n)) for n in range(2)]
    wait_for_holds(engine, 3)
    assert len(engine.resume(None, Outcome("value", value="both"))) == 3
    worker.join(WAIT)
    assert box == [("value", "both")]
    assert [f.result(WAIT) for f in futs] == [("done", 0, "both"), ("done", 1, "both")]


def test_registry_survives_a_failing_resolve_many(caplog):
    """A resolver class whose resolve_many raises: logged, every hold still ends (done, outcome),
    the listener is told, the caller of resume_many gets its holds."""
    class Broken:
        @staticmethod
        def resolve_many(resolvers, outcome):
            raise RuntimeError("batch bug")

        def __call__(self, outcome):
            raise AssertionError("resolve_many is called instead")

    resumed = []
    registry = HoldRegistry(on_resumed=resumed.append)
    holds = []
    for n in range(3):
        ctx = hold_ctx()
        ctx.id = f"f:hd-x:00-00-0{n}"
        holds.append(registry.create(ctx, Broken()))
    with caplog.at_level(logging.ERROR, logger="otrace"):
        assert registry.resume_many([h.id for h in holds[:2]]) == holds[:2]
        assert registry.resume_all(Outcome("shutdown")) == holds[2:]
    assert resumed == [holds[:2], holds[2:]] and all(h.done for h in holds) and registry.list() == []
    assert [h.outcome.kind for h in holds] == ["continue", "continue", "shutdown"]
    assert sum("resuming" in r.getMessage() for r in caplog.records) == 2
