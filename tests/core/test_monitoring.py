"""core.monitoring: on Python 3.12+ exceptions-only traces watch the function's code object
through ``sys.monitoring`` (the function untouched, seen wherever it is referenced), record the
same contexts as the wrapper backend, and leave no event enabled after untrace; the traces that
need a wrapper (holds, conditions recording calls) get one.
Run under 3.12/3.13 by scripts/newer-pythons.sh (``make test``); skipped on 3.11."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys

import pytest

from otrace_server.core import monitoring
from otrace_server.core.engine import Engine

pytestmark = pytest.mark.skipif(not monitoring.AVAILABLE, reason=(
    "sys.monitoring needs Python 3.12+ (this is %d.%d): scripts/newer-pythons.sh runs these tests "
    "under 3.12/3.13" % sys.version_info[:2]))

REGISTRY: dict[str, object] = {}


def inner(x):
    y = x * 2
    raise ValueError(f"bad {y}")


def outer(a, b=3, *rest, k=1, **kw):
    z = a + b
    return inner(z)


def quiet(a, b=2):
    return a + b


async def fetch(n, delay=0):
    await asyncio.sleep(delay)
    if n:
        raise KeyError(n)
    return n


def numbers(n):
    for i in range(n):
        yield i
    raise LookupError(n)


class Handler:
    def respond(self, number):
        if number == 77:
            raise RuntimeError("seventy-seven")
        return number


class Sub(Handler):
    pass


HANDLER = Handler()


def ns():
    return {"outer": outer, "inner": inner, "quiet": quiet, "fetch": fetch, "numbers": numbers,
            "Handler": Handler, "Sub": Sub}


def events_left():
    """Every event any otrace tool id has enabled, globally and on the functions above."""
    codes = [f.__code__ for f in (outer, inner, quiet, fetch, numbers, Handler.respond)]
    mon = sys.monitoring
    return [(tool, mon.get_events(tool), [mon.get_local_events(tool, c) for c in codes])
            for tool in monitoring.TOOL_IDS
            if mon.get_events(tool) or any(mon.get_local_events(tool, c) for c in codes)]


def exercise(engine):
    """Call every function of ns() through objects stored before tracing; the contexts recorded."""
    REGISTRY.update(outer=outer, partial=functools.partial(fetch, 3), respond=HANDLER.respond)
    with pytest.raises(ValueError):
        REGISTRY["outer"](1, 2, 5, k=2, q=4)
    with pytest.raises(KeyError):
        asyncio.run(REGISTRY["partial"]())
    asyncio.run(fetch(0))
    with pytest.raises(LookupError):
        list(numbers(2))
    assert quiet(1) == 3
    with pytest.raises(RuntimeError):
        REGISTRY["respond"](77)
    assert REGISTRY["respond"](5) == 5
    return engine.store.recent()


def summary(ctx):
    """What a context shows (its id's time aside): kind, arguments, locals, stack, exception."""
    stack = [(f.file, f.line, f.function, f.locals) for f in ctx.stack]
    start = max((i for i, f in enumerate(stack) if f[2] == "record_all"), default=-1)   # above: lines differ
    return (ctx.ctype, ctx.label, ctx.funcname, ctx.event, ctx.argvalues, ctx.locals, ctx.file, ctx.line,
            stack[start + 1:], ctx.exc_type, ctx.exc_message, ctx.return_value, ctx.traceback)


TRACES = [("outer", None), ("fetch", None), ("numbers", None), ("quiet", "call"), ("Handler.respond", None)]


def record_all(monkeypatch, backend: str):
    engine = Engine()
    engine.settings.set("max_recent", 1000)
    if backend == "wrapper":
        monkeypatch.setattr(monitoring, "AVAILABLE", False)
    space = ns()
    codes = {name: space[name].__code__ for name in ("outer", "numbers", "fetch", "quiet")}
    for name, condition in TRACES:
        engine.tracer.trace(name, space, condition=condition)
    served = [monitoring.watched(code) for code in codes.values()]
    contexts = [summary(c) for c in exercise(engine)]
    engine.tracer.untrace_all()
    monkeypatch.setattr(monitoring, "AVAILABLE", True)
    return contexts, served


def test_exceptions_and_calls_are_recorded_as_the_wrapper_records_them(monkeypatch):
    watched, served = record_all(monkeypatch, "monitoring")
    assert served == [True, True, True, False]          # exceptions only: watched; "call": a wrapper
    wrapped, served = record_all(monkeypatch, "wrapper")
    assert served == [False] * 4
    assert [c[:4] for c in watched] == [
        ("exceptions", "ValueError", "outer", "exception"), ("exceptions", "KeyError", "fetch", "exception"),
        ("exceptions", "LookupError", "numbers", "exception"), ("traces", "call", "quiet", "call"),
        ("exceptions", "RuntimeError", "Handler.respond", "exception")]
    assert watched == wrapped
    exc = [c for c in watched if c[1] == "ValueError"][0]
    assert exc[4] == {"a": 1, "b": 2, "rest": (5,), "k": 2, "kw": {"q": 4}}       # the arguments
    assert [f[2] for f in exc[8]][-2:] == ["outer", "inner"]                      # down to the raise


def test_the_function_is_untouched_and_untrace_leaves_no_event(engine):
    before = {name: (f.__code__, dict(f.__dict__)) for name, f in ns().items() if not isinstance(f, type)}
    for name, condition in TRACES:
        engine.tracer.trace(name, ns(), condition=condition)
    assert monitoring.tool_id() in monitoring.TOOL_IDS
    assert sys.monitoring.get_tool(monitoring.tool_id()) == monitoring.TOOL_NAME
    assert sys.monitoring.get_events(monitoring.tool_id()) == sys.monitoring.events.PY_UNWIND
    for name, (code, attrs) in before.items():
        f = ns()[name]
        if name == "quiet":                                              # -c call: a wrapper
            assert f.__code__ is not code and not monitoring.watched(code)
        else:
            assert f.__code__ is code and dict(f.__dict__) == attrs     # nothing set, nothing swapped
    engine.tracer.untrace("outer", ns())
    assert monitoring.tool_id() is not None and not monitoring.watched(outer.__code__)
    assert sys.monitoring.get_local_events(monitoring.tool_id(), outer.__code__) == 0
    engine.tracer.untrace_all()
    assert events_left() == [] and monitoring.tool_id() is None
    assert all(sys.monitoring.get_tool(tool) != monitoring.TOOL_NAME for tool in monitoring.TOOL_IDS)


def test_a_count_used_up_inside_the_callback_unwatches(engine):
    engine.tracer.trace("inner", ns(), count=1)
    for _ in range(3):
        with pytest.raises(ValueError):
            inner(1)
    assert len(engine.store.recent("exceptions")) == 1 and engine.tracer.traced() == []
    assert events_left() == [] and monitoring.tool_id() is None


def test_an_exception_is_recorded_once_by_the_innermost_trace(engine):
    engine.tracer.trace("outer", ns())
    engine.tracer.trace("inner", ns())
    with pytest.raises(ValueError):
        outer(1)
    assert [c.funcname for c in engine.store.recent()] == ["inner"]


def test_what_needs_a_wrapper_gets_one(engine):
    code = fetch.__code__
    engine.tracer.trace("fetch", ns(), action="hold")           # a hold suspends the coroutine
    assert fetch.__code__ is not code and not monitoring.watched(code)
    engine.tracer.trace("fetch", ns())                          # replaced by an exceptions-only trace
    assert fetch.__code__ is code and monitoring.watched(code)
    engine.tracer.trace("fetch", ns(), condition="n==3")        # an argument condition: a wrapper again
    assert fetch.__code__ is not code and not monitoring.watched(code)
    with pytest.raises(KeyError):
        asyncio.run(fetch(3))
    engine.tracer.untrace_all()
    assert fetch.__code__ is code and events_left() == []
    assert [c.label for c in engine.store.recent()] == ["n==3", "KeyError"]


def test_a_subclass_trace_of_a_watched_base_method_is_its_own(engine):
    engine.tracer.trace("Handler.respond", ns())
    engine.tracer.trace("Sub.respond", ns(), condition="number==77")
    assert monitoring.watched(Handler.respond.__code__) and "respond" in Sub.__dict__
    with pytest.raises(RuntimeError):
        Sub().respond(77)            # Sub's wrapper calls a copy no watch sees: Sub's trace records
    matches = {spec.name: spec.matches for spec in engine.tracer.traced()}
    assert matches == {"Handler.respond": 0, "Sub.respond": 1}
    with pytest.raises(RuntimeError):
        Handler().respond(77)
    assert engine.tracer.traced()[0].matches == 1
    assert [(c.label, c.argvalues["number"]) for c in engine.store.recent()] == [
        ("number==77", 77), ("RuntimeError", 77), ("RuntimeError", 77)]


def test_closures_and_nested_functions_are_wrapped(engine):
    def nested(a):        # a code object shared by every function this def makes: not watched
        return a
    space = {"nested": nested}
    engine.tracer.trace("nested", space)
    assert not monitoring.watched(nested.__code__) and nested.__code__.co_filename.startswith("<otrace")


def test_every_tool_id_in_use_falls_back_to_wrappers(engine, monkeypatch, caplog):
    mon = sys.monitoring
    taken = [tool for tool in monitoring.TOOL_IDS if mon.get_tool(tool) is None]
    for tool in taken:
        mon.use_tool_id(tool, "someone else")
    monkeypatch.setattr(monitoring, "_refused", False)
    try:
        with caplog.at_level(logging.WARNING, logger="otrace"):
            engine.tracer.trace("quiet", ns())
        assert "all in use" in caplog.text
        assert quiet.__code__.co_filename.startswith("<otrace") and monitoring.tool_id() is None
        engine.tracer.untrace_all()
    finally:
        for tool in taken:
            mon.free_tool_id(tool)
    engine.tracer.trace("quiet", ns())
    assert monitoring.watched(quiet.__code__)



def test_a_call_whose_arguments_do_not_bind_is_not_the_watched_functions_exception(engine, monkeypatch):
    # the TypeError is raised by the caller's CALL, before the function's frame exists: a watch never
    # sees it (a wrapper, taking *args/**kwargs, raised it inside its own try and recorded it)
    engine.tracer.trace("quiet", ns())
    with pytest.raises(TypeError):
        quiet()
    assert engine.store.recent() == []
    engine.tracer.untrace_all()
    monkeypatch.setattr(monitoring, "AVAILABLE", False)
    engine.tracer.trace("quiet", ns())
    with pytest.raises(TypeError):
        quiet()
    assert [c.label for c in engine.store.recent()] == ["TypeError"]
