"""core.tracer + core.targets: wrappers installed on request, what they record, and clean removal."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from otrace_server.core import monitoring, targets
from otrace_server.core.errors import OTraceError
from tests.support.waiting import wait_for




def recip(number):
    return 1 / int(number)


class Base:
    def __init__(self, value=1):
        self.value = value

    def respond(self, number):
        return recip(number) * self.value

    @classmethod
    def make(cls, value):
        if value < 0:
            raise ValueError("negative")
        return cls(value)

    @staticmethod
    def half(x):
        return 1 / x


class Sub(Base):
    pass


async def fetch(x):
    await asyncio.sleep(0)
    if x == 0:
        raise KeyError("zero")
    return x * 2


def countdown(n):
    while n > 0:
        got = yield n
        n -= 1 if got is None else got
    if n < 0:
        raise ValueError("overshoot")
    return "done"


async def acount(n):
    for i in range(n):
        await asyncio.sleep(0)
        if i == 2 and n == 5:
            raise RuntimeError("at two")
        yield i


def namespace():
    return {"recip": recip, "Base": Base, "Sub": Sub, "fetch": fetch, "countdown": countdown, "acount": acount}


def only(engine, ctype):
    ctxs = engine.store.recent(ctype)
    assert len(ctxs) == 1, [c.id for c in ctxs]
    return ctxs[0]


# ---- targets ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kind, owner_is_class, inherited", [
    ("recip", "function", False, False), ("Base.respond", "method", True, False),
    ("Base.make", "classmethod", True, False), ("Base.half", "staticmethod", True, False),
    ("Sub.respond", "method", True, True), ("fetch", "coroutine", False, False),
    ("countdown", "generator", False, False), ("acount", "asyncgen", False, False),
])
def test_resolve_kinds(name, kind, owner_is_class, inherited):
    t = targets.resolve(name, namespace())
    assert (t.kind, isinstance(t.owner, type), t.inherited, t.qualname) == (kind, owner_is_class, inherited, name)


@pytest.mark.parametrize("name", ["nope", "Base.nope", "Base.value.x", "", "Base.", "1x", "Base.__init__.x"])
def test_resolve_unknown_names(name):
    with pytest.raises(OTraceError):
        targets.resolve(name, namespace())


def test_resolve_rejects_non_functions():
    ns = {"n": 3, "Base": Base, "obj": Base(), "length": len}
    for name in ("n", "Base", "obj.respond", "length"):
        with pytest.raises(OTraceError) as info:
            targets.resolve(name, ns)
        assert "\n" not in str(info.value)


def test_a_method_reached_through_an_instance_is_named_on_its_class():
    """The message serves trace and edit alike (both resolve names here)."""
    with pytest.raises(OTraceError, match=r"'obj.respond' is reached through a Base instance: name it on its "
                                          r"class \(Base.respond\)"):
        targets.resolve("obj.respond", {"obj": Base()})


def test_a_name_the_namespace_does_not_resolve_is_an_imported_modules_dotted_name():
    """``uvicorn main:app``: the namespace (uvicorn's script) has its own ``main``; the app module
    is reached by its name in sys.modules, the longest prefix first; the namespace's error stays."""
    import json.decoder

    command = object()
    target = targets.resolve("json.decoder.JSONDecoder.decode", {"json": command})
    assert (target.owner, target.attr) == (json.decoder.JSONDecoder, "decode")
    assert targets.resolve("json.dumps", {}).original is json.dumps
    with pytest.raises(OTraceError, match="'json.nope': 'json' is a object"):
        targets.resolve("json.nope", {"json": command})
    with pytest.raises(OTraceError, match="unknown name 'nomodule'"):
        targets.resolve("nomodule.f", {})


def test_hold_of_a_sync_function_says_what_a_break_would_stop(engine):
    """A sync handler of Tornado or aiohttp runs on the event loop's thread: the refusal must not
    send the user to a break there without saying that it would stop every request."""
    with pytest.raises(OTraceError, match=r"async def function \(a break stops its thread: on the event loop's, "
                                          r"every request\)"):
        engine.tracer.trace("recip", namespace(), action="hold")


# ---- exceptions ---------------------------------------------------------------------------------
def test_exception_in_plain_function(engine):
    ns = namespace()
    first_line = recip.__code__.co_firstlineno      # while traced, recip runs the wrapper's code
    engine.tracer.trace("recip", ns)
    with pytest.raises(ZeroDivisionError):
        ns["recip"]("0")
    ctx = only(engine, "exceptions")
    assert (ctx.label, ctx.funcname, ctx.event, ctx.exc_type) == ("ZeroDivisionError", "recip", "exception",
                                                                   "ZeroDivisionError")
    assert ctx.id.startswith("recip:ex-ZeroDivisionError:")
    assert ctx.argvalues == {"number": "0"}
    assert ctx.stack[ctx.frame_index].function == "recip"
    assert ctx.stack[ctx.frame_index - 1].function == "test_exception_in_plain_function"
    assert ctx.line == first_line + 1
    assert not any("otrace_server" in f.file or f.file.startswith("<otrace") for f in ctx.stack)


def test_exception_records_inner_frames_and_traceback_text(engine):
    ns = namespace()
    engine.settings.set("append_traceback", True)
    engine.tracer.trace("Base.respond", ns)
    with pytest.raises(ZeroDivisionError):
        Base().respond(0)
    ctx = only(engine, "exceptions")
    assert ctx.funcname == "Base.respond"
    names = [f.function for f in ctx.stack]
    assert names[ctx.frame_index:] == ["respond", "recip"]
    assert ctx.locals["number"] == 0
    assert "ZeroDivisionError" in ctx.traceback


def test_classmethod_and_staticmethod_called_on_class_and_instance(engine):
    ns = namespace()
    engine.tracer.trace("Base.make", ns)
    engine.tracer.trace("Base.half", ns)
    assert isinstance(Base.make(2), Base) and Base().make(3).value == 3   # behaviour unchanged
    for call in (lambda: Base.make(-1), lambda: Base().make(-1)):
        with pytest.raises(ValueError):
            call()
    for call in (lambda: Base.half(0), lambda: Base().half(0)):
        with pytest.raises(ZeroDivisionError):
            call()
    labels = sorted((c.funcname, c.label) for c in engine.store.recent("exceptions"))
    assert labels == [("Base.half", "ZeroDivisionError")] * 2 + [("Base.make", "ValueError")] * 2
    assert all(c.argvalues.get("cls") is Base for c in engine.store.recent("exceptions") if c.funcname == "Base.make")


def test_inherited_method_traced_on_subclass_only(engine):
    ns = namespace()
    original = Base.__dict__["respond"]
    engine.tracer.trace("Sub.respond", ns)
    assert "respond" in Sub.__dict__ and Base.__dict__["respond"] is original
    with pytest.raises(ZeroDivisionError):
        Base().respond(0)
    assert engine.store.recent("exceptions") == []
    with pytest.raises(ZeroDivisionError):
        Sub().respond(0)
    assert only(engine, "exceptions").funcname == "Base.respond"
    engine.tracer.untrace("Sub.respond", ns)
    assert "respond" not in Sub.__dict__ and Sub.respond is original


def test_coroutine_exception_and_awaited_return_value(engine):
    ns = namespace()
    engine.tracer.trace("fetch", ns, condition="return>=6")
    assert asyncio.iscoroutinefunction(ns["fetch"])
    assert asyncio.run(ns["fetch"](3)) == 6
    assert asyncio.run(ns["fetch"](1)) == 2
    ctx = only(engine, "traces")
    assert (ctx.event, ctx.return_value, ctx.label, ctx.argvalues) == ("return", 6, "return>=6", {"x": 3})
    with pytest.raises(KeyError):
        asyncio.run(ns["fetch"](0))
    exc = only(engine, "exceptions")
    assert exc.label == "KeyError" and exc.stack[exc.frame_index].function == "fetch"


def test_generator_keeps_send_semantics_and_records(engine):
    ns = namespace()
    engine.tracer.trace("countdown", ns, condition="return")
    gen = ns["countdown"](5)
    assert next(gen) == 5 and gen.send(2) == 3 and next(gen) == 2
    with pytest.raises(StopIteration) as stop:
        gen.send(None), next(gen)
    assert stop.value.value == "done"
    assert only(engine, "traces").return_value == "done"
    gen = ns["countdown"](2)
    next(gen)
    with pytest.raises(ValueError):
        gen.send(5)
    assert only(engine, "exceptions").stack[-1].function == "countdown"


def test_async_generator_values_and_exception(engine):
    ns = namespace()
    engine.tracer.trace("acount", ns, condition="call")

    async def collect(n):
        return [i async for i in ns["acount"](n)]

    assert asyncio.run(collect(3)) == [0, 1, 2]
    assert only(engine, "traces").argvalues == {"n": 3}
    with pytest.raises(RuntimeError):
        asyncio.run(collect(5))
    assert only(engine, "exceptions").label == "RuntimeError"

    async def close_early():
        agen = ns["acount"](4)
        first = await agen.__anext__()
        await agen.aclose()
        return first
    assert asyncio.run(close_early()) == 0
    assert len(engine.store.recent("exceptions")) == 1   # GeneratorExit is not an error


def test_recursion_records_one_context_per_raise(engine):
    def fact(n):
        if n == 0:
            raise ArithmeticError("bottom")
        return n * ns["fact"](n - 1)
    ns = {"fact": fact}
    engine.tracer.trace("fact", ns)
    for _ in range(2):
        with pytest.raises(ArithmeticError):
            ns["fact"](5)
    ctxs = engine.store.recent("exceptions")
    assert len(ctxs) == 2
    assert all(c.argvalues == {"n": 0} for c in ctxs)


def test_nested_traced_calls_record_once(engine):
    def inner(x):
        return 1 / x

    def outer(x):
        return ns["inner"](x)
    ns = {"inner": inner, "outer": outer}
    engine.tracer.trace("inner", ns)
    engine.tracer.trace("outer", ns)
    with pytest.raises(ZeroDivisionError):
        ns["outer"](0)
    assert only(engine, "exceptions").funcname.endswith("inner")


# ---- conditions, counts, actions ----------------------------------------------------------------
def test_call_condition_with_nested_attributes_instance_and_class_calls(engine):
    ns = namespace()
    engine.tracer.trace("Base.respond", ns, condition="self.value!=1,number==4")
    assert Base(2).respond(4) == 0.5 and Base(1).respond(4) == 0.25 and Base(2).respond(5) == 0.4
    assert Base.respond(Base(3), "4") == 0.75          # via the class, string argument
    ctxs = engine.store.recent("traces")
    assert [(c.argvalues["self"].value, c.argvalues["number"]) for c in ctxs] == [(2, 4), (3, "4")]
    assert all(c.event == "call" and c.label == "self.value!=1,number==4" for c in ctxs)
    assert ctxs[0].id.startswith("Base.respond:tr-self.value!=1,number==4:")


def test_missing_attribute_never_breaks_the_program(engine):
    ns = namespace()
    engine.tracer.trace("Base.respond", ns, condition="self.missing.deeper==1")
    assert Base().respond(2) == 0.5
    assert engine.store.recent("traces") == []


def test_all_records_call_and_return(engine):
    ns = namespace()
    engine.tracer.trace("recip", ns, condition="all")
    ns["recip"](4)
    assert [c.event for c in engine.store.recent("traces")] == ["call", "return"]


def test_count_stops_after_n_and_removes_the_trace(engine):
    ns = namespace()
    events = []
    engine.events.subscribe(lambda ev: events.append((ev.kind, ev.data.get("name"))))
    engine.tracer.trace("recip", ns, condition="call", count=2)
    for i in range(1, 5):
        ns["recip"](i)
    assert [c.argvalues["number"] for c in engine.store.recent("traces")] == [1, 2]
    assert ns["recip"] is recip and engine.tracer.traced() == []
    assert ("untrace", "recip") in events


def test_negative_count_starts_after_n(engine):
    ns = namespace()
    engine.tracer.trace("recip", ns, condition="call", count="-2")
    for i in range(1, 6):
        ns["recip"](i)
    assert [c.argvalues["number"] for c in engine.store.recent("traces")] == [3, 4, 5]
    assert engine.tracer.traced()[0].matches == 5


def test_count_applies_to_exceptions_by_default(engine):
    ns = namespace()
    engine.tracer.trace("recip", ns, count=1)
    for _ in range(3):
        with pytest.raises(ZeroDivisionError):
            ns["recip"](0)
    assert len(engine.store.recent("exceptions")) == 1 and ns["recip"] is recip


def test_untrace_restores_identity_for_every_kind(engine):
    ns = namespace()
    before = {k: (v.__dict__.copy() if isinstance(v, type) else v) for k, v in ns.items()}
    functions = [recip, Base.__dict__["respond"], Base.make.__func__, Base.half, fetch, countdown, acount]
    state = [(f.__code__, f.__defaults__, dict(f.__dict__)) for f in functions]
    names = ["recip", "Base.respond", "Base.make", "Base.half", "Sub.respond", "fetch", "countdown", "acount"]
    for name in names:
        engine.tracer.trace(name, ns)
    # traced in place: the same objects (Sub's inherited method: a wrapper set on Sub)
    assert ns["recip"] is recip and Base.__dict__["make"] is before["Base"]["make"] and "respond" in Sub.__dict__
    # each function runs a wrapper's code, or (Python 3.12+) its own code object is watched
    assert all(f.__code__ is not code or monitoring.watched(code) for f, (code, _, _) in zip(functions, state))
    for name in names:
        engine.tracer.untrace(name, ns)
    for k, v in ns.items():
        if isinstance(v, type):
            assert v.__dict__.keys() == before[k].keys()
            assert all(v.__dict__[a] is before[k][a] for a in before[k])
        else:
            assert v is before[k]
    for f, (code, defaults, attrs) in zip(functions, state):   # the very same code object, nothing left behind
        assert f.__code__ is code and f.__defaults__ is defaults and f.__dict__ == attrs
    assert engine.tracer.traced() == []


def test_retrace_replaces_options_and_untrace_still_restores(engine):
    ns = namespace()
    original = ns["recip"]
    engine.tracer.trace("recip", ns, condition="call")
    engine.tracer.trace("recip", ns, condition="number==3", count=5)
    [spec] = engine.tracer.traced()
    assert (spec.condition, spec.count, spec.target.original) == ("number==3", 5, original)
    ns["recip"](1), ns["recip"](3)
    assert [c.argvalues["number"] for c in engine.store.recent("traces")] == [3]
    engine.tracer.untrace("recip", ns)
    assert ns["recip"] is original


def test_trace_by_object_and_by_target(engine):
    engine.tracer.trace(Base.respond, condition="call")
    engine.tracer.trace(Base().make)        # bound classmethod
    assert {s.name for s in engine.tracer.traced()} == {"Base.respond", "Base.make"}
    Base().respond(2)
    assert only(engine, "traces").funcname == "Base.respond"
    engine.tracer.untrace(Base.respond)     # the wrapper object resolves to the same slot
    engine.tracer.untrace(Base.make)
    target = targets.resolve("recip", namespace())
    engine.tracer.trace(target)
    engine.tracer.untrace(target)
    assert Base.__dict__["respond"].__name__ == "respond" and not hasattr(Base.respond, "__otrace_trace__")


def test_trace_sets_trace_active_and_publishes_events(engine):
    ns = namespace()
    events = []
    engine.events.subscribe(lambda ev: events.append((ev.kind, ev.data.get("name"))))
    assert engine.settings.trace_active is False
    engine.tracer.trace("recip", ns)
    assert engine.settings.trace_active is True
    engine.tracer.untrace("recip", ns)
    assert events == [("setting", "trace_active"), ("trace", "recip"), ("untrace", "recip")]


def test_trace_active_false_suppresses_recording(engine):
    ns = namespace()
    engine.tracer.trace("recip", ns, condition="call")
    engine.settings.set("trace_active", False)
    ns["recip"](1)
    with pytest.raises(ZeroDivisionError):
        ns["recip"](0)
    assert engine.store.recent() == []


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "nope"}, "unknown name"),
    ({"name": "recip", "condition": "number=1"}, "bad condition"),
    ({"name": "recip", "condition": "other==1"}, "no argument"),
    ({"name": "recip", "count": "many"}, "bad count"),
    ({"name": "recip", "action": "explode"}, "unknown action"),
    ({"name": "recip", "action": "hold"}, "async def"),
    ({"name": "fetch", "action": "hold", "condition": "return"}, "before the body"),
    ({"name": "recip", "action": "tag"}, "needs a method"),
    ({"name": "Base.make", "action": "tag"}, "needs a method"),
])
def test_bad_input_raises_and_changes_nothing(engine, kwargs, message):
    ns = namespace()
    before = dict(ns)
    base_dict = dict(Base.__dict__)
    name = kwargs.pop("name")
    with pytest.raises(OTraceError, match=message) as info:
        engine.tracer.trace(name, ns, **kwargs)
    assert "\n" not in str(info.value)
    assert ns == before and dict(Base.__dict__) == base_dict
    assert engine.tracer.traced() == [] and engine.settings.trace_active is False


def test_untrace_of_untraced_name_raises(engine):
    with pytest.raises(OTraceError, match="not traced"):
        engine.tracer.untrace("recip", namespace())


# ---- robustness ---------------------------------------------------------------------------------
def test_failing_handler_never_changes_program_behaviour(engine, caplog):
    ns = namespace()

    def broken_record(ctx):
        raise RuntimeError("record is broken")
    engine.record = engine.record_later = broken_record   # fault injection: the engine's record step fails
    engine.tracer.trace("recip", ns, condition="return")
    with caplog.at_level(logging.ERROR, logger="otrace"):
        assert ns["recip"](4) == 0.25
        assert ns["recip"](2) == 0.5
        error = ZeroDivisionError("mine")

        def raising(number):
            raise error
        ns2 = {"raising": raising}
        engine.tracer.trace("raising", ns2)
        with pytest.raises(ZeroDivisionError) as info:
            ns2["raising"](1)
        with pytest.raises(ZeroDivisionError):
            ns2["raising"](1)
    assert info.value is error
    failures = [r for r in caplog.records if "tracing" in r.getMessage() and "failed" in r.getMessage()]
    assert len(failures) == 2            # once per trace, not once per call


def test_failing_subscriber_is_harmless(engine):
    ns = namespace()
    engine.events.subscribe(lambda ev: 1 / 0)
    engine.tracer.trace("recip", ns, condition="call")
    assert ns["recip"](2) == 0.5
    assert len(engine.store.recent("traces")) == 1


def test_concurrent_threads(engine):
    ns = namespace()
    engine.settings.set("max_recent", 100000)
    engine.tracer.trace("Base.respond", ns, condition="number>=0")
    errors, n_threads, n_calls = [], 8, 200
    barrier = threading.Barrier(n_threads)

    def worker(k):
        try:
            barrier.wait(5)
            obj = Base(k)
            for i in range(n_calls):
                assert obj.respond(i + 1) == (1 / (i + 1)) * k
                if i % 50 == 0:
                    with pytest.raises(ZeroDivisionError):
                        Base.respond(obj, 0)
        except BaseException as exc:
            errors.append(exc)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    traces = engine.store.recent("traces")
    assert len(traces) == n_threads * (n_calls + 4)
    assert len({c.id for c in traces}) == len(traces)
    assert len(engine.store.recent("exceptions")) == n_threads * 4
    assert engine.tracer.traced()[0].matches == len(traces)


def test_break_blocks_the_calling_thread_until_resumed(engine):
    ns = namespace()
    engine.tracer.trace("recip", ns, condition="number==2", action="break")
    result = []
    worker = threading.Thread(target=lambda: result.append(ns["recip"](2)))
    worker.start()
    wait_for(lambda: engine.holds.list(), 5, what="the break to start")
    [hold] = engine.holds.list()
    assert result == [] and hold.context.ctype == "breaks" and hold.context.argvalues == {"number": 2}
    assert ns["recip"](4) == 0.25              # other calls are not held
    engine.resume([hold.context.id])
    worker.join(5)
    assert result == [0.5]


def test_hold_suspends_only_the_traced_coroutine(engine):
    ns = namespace()
    engine.tracer.trace("fetch", ns, condition="x==7", action="hold")
    order = []

    async def main():
        loop = asyncio.get_running_loop()
        engine.install_crossing(lambda lp, fn: lp.call_soon_threadsafe(fn))
        held = asyncio.ensure_future(ns["fetch"](7))
        for _ in range(50):
            await asyncio.sleep(0.001)
            if engine.holds.list():
                break
        [hold] = engine.holds.list()
        order.append(("held", held.done(), hold.context.ctype, hold.context.event))
        order.append(("other", await ns["fetch"](3)))
        threading.Thread(target=engine.resume, args=([hold.context.id],)).start()
        order.append(("resumed", await asyncio.wait_for(held, 5)))
        del loop

    asyncio.run(main())
    assert order == [("held", False, "holds", "call"), ("other", 6), ("resumed", 14)]


class Service:
    async def handle(self, number, scale=1):
        await asyncio.sleep(0)
        return number * scale


@pytest.mark.parametrize("condition", [None, "number==7"])
def test_hold_action_on_a_method_with_arguments_holds_before_the_body(engine, condition):
    engine.tracer.trace(Service.handle, condition=condition, action="hold")
    svc = Service()

    async def main():
        engine.install_crossing(lambda lp, fn: lp.call_soon_threadsafe(fn))
        held = asyncio.ensure_future(svc.handle(7, scale=3))
        for _ in range(500):
            await asyncio.sleep(0.001)
            if engine.holds.list():
                break
        [hold] = engine.holds.list()
        ctx = hold.context
        seen = (held.done(), ctx.ctype, ctx.event, ctx.label, ctx.argvalues)
        # with a condition, a non-matching call runs through while the other one is held
        other = await asyncio.wait_for(svc.handle(2), 5) if condition else None
        threading.Thread(target=engine.resume, args=([ctx.id],)).start()
        return seen, other, await asyncio.wait_for(held, 5)

    try:
        seen, other, value = asyncio.run(main())
    finally:
        engine.tracer.untrace(Service.handle)
    assert seen[:4] == (False, "holds", "call", condition or "hold")
    assert seen[4]["number"] == 7 and seen[4]["scale"] == 3 and isinstance(seen[4]["self"], Service)
    assert value == 21 and other == (2 if condition else None)
    assert not hasattr(Service.handle, "__otrace_trace__")


def test_deferred_enrichers_run_when_a_queued_context_gets_its_id_and_never_for_one_dropped(engine, caplog):
    engine.settings.set("max_recent", 2)
    runs = []

    def summary(ctx):
        runs.append((ctx.argvalues["number"], threading.current_thread().name))
        ctx.extra["request"] = f"n={ctx.argvalues['number']}"

    def broken(ctx):
        raise RuntimeError("enricher bug")

    engine.deferred_enrichers += [summary, broken]
    ns = namespace()
    engine.tracer.trace("recip", ns)
    for n in range(5):
        with pytest.raises(ZeroDivisionError):
            ns["recip"]("0" * (n + 1))                      # "0", "00", ...: all divide by zero
    assert runs == [] and len(engine.store.queues["exceptions"]) == 2    # queued (the newest max_recent)
    reader = threading.Thread(target=lambda: engine.store.recent("exceptions"), name="reader")
    reader.start()
    reader.join(5)
    # the 3 oldest were dropped unseen (max_recent 2): never enriched; the 2 kept, on the reading thread
    assert runs == [("0000", "reader"), ("00000", "reader")]
    assert [c.extra["request"] for c in engine.store.recent("exceptions")] == ["n=0000", "n=00000"]
    assert "context enricher failed" in caplog.text               # logged; the contexts are stored anyway

    engine.enrichers.append(lambda ctx: None)                      # an immediate enricher: recorded at once
    with pytest.raises(ZeroDivisionError):
        ns["recip"]("-0")
    assert not any(engine.store.queues.values()) and runs[-1] == ("-0", threading.current_thread().name)
