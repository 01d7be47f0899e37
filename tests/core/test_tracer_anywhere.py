"""core.tracer: a trace takes effect wherever the function is referenced (issue 16, point 2): the
function object is changed in place (its code), so registries, partials and bound methods stored
before tracing see the trace, the hold and the untrace; untrace restores it exactly."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading

import pytest

from otrace_server.core import codeswap, monitoring, wrappers
from otrace_server.core.errors import OTraceError

REGISTRY: dict[str, object] = {}


def register(path):
    """A decorator filling a registry, as web frameworks' route decorators do."""
    def add(func):
        REGISTRY[path] = func
        return func
    return add


@register("/divide")
def divide(a, b=2, *, scale=1):
    """Divide."""
    return scale * a / b


def _counter():
    hits = 0

    def hit(step):
        nonlocal hits
        hits += step
        return 10 // (hits - 3)
    return hit


hit = _counter()


class Handler:
    def __init__(self, factor=1):
        self.factor = factor

    async def get(self, number: int) -> int:
        await asyncio.sleep(0)
        return 100 // (number * self.factor)

    def greet(self):
        return "hello " + super().__repr__()[:1]   # super(): a __class__ cell in the closure


async def endpoint(request):
    await asyncio.sleep(0)
    return f"answer to {request}"


def ns():
    return {"divide": divide, "hit": hit, "Handler": Handler, "endpoint": endpoint}


def test_a_registry_filled_by_a_decorator_sees_the_trace_and_the_untrace(engine):
    registered = REGISTRY["/divide"]
    engine.tracer.trace("divide", ns(), condition="a==6")
    assert REGISTRY["/divide"](6) == 3.0 and REGISTRY["/divide"](4) == 2.0
    assert [c.argvalues for c in engine.store.recent("traces")] == [{"a": 6, "b": 2, "scale": 1}]
    with pytest.raises(ZeroDivisionError):
        REGISTRY["/divide"](1, 0)
    assert engine.store.recent("exceptions")[0].funcname == "divide"
    engine.tracer.untrace("divide", ns())
    REGISTRY["/divide"](6)
    assert len(engine.store.recent("traces")) == 1 and REGISTRY["/divide"] is registered is divide


def test_a_partial_and_a_bound_method_made_before_tracing_see_it(engine):
    half = functools.partial(divide, b=2)
    handler = Handler(factor=0)
    get = handler.get                       # a bound method stored before tracing
    engine.tracer.trace("divide", ns(), condition="call")
    engine.tracer.trace("Handler.get", ns())
    assert half(8) == 4.0
    with pytest.raises(ZeroDivisionError):
        asyncio.run(get(5))
    assert [c.funcname for c in engine.store.recent()] == ["divide", "Handler.get"]
    assert engine.store.recent("exceptions")[0].argvalues["number"] == 5
    engine.tracer.untrace_all()
    half(8)
    with pytest.raises(ZeroDivisionError):
        asyncio.run(get(5))
    assert len(engine.store.recent()) == 2


def test_the_traced_function_keeps_its_identity_signature_and_flavor(engine):
    signatures = {f: inspect.signature(f) for f in (divide, Handler.get, endpoint)}
    flavors = {f: (inspect.iscoroutinefunction(f), asyncio.iscoroutinefunction(f)) for f in signatures}
    codes = {f: f.__code__ for f in signatures}
    for name in ("divide", "Handler.get", "endpoint"):
        engine.tracer.trace(name, ns())
    assert ns()["divide"] is divide and Handler.__dict__["get"] is Handler.get
    for f in signatures:
        # a wrapper's code swapped in, or (Python 3.12+, exceptions only) the code object watched
        assert (f.__code__ is not codes[f] and f.__code__.co_filename.startswith(wrappers.FILE_PREFIX)
                or monitoring.watched(codes[f]))
        assert inspect.signature(f) == signatures[f]
        assert (inspect.iscoroutinefunction(f), asyncio.iscoroutinefunction(f)) == flavors[f]
        assert f"def {f.__name__}(" in inspect.getsource(f)      # the original's source, not the wrapper's
    assert divide.__defaults__ == (2,) and divide.__kwdefaults__ == {"scale": 1} and divide.__doc__ == "Divide."
    engine.tracer.untrace_all()
    for f in signatures:
        assert f.__code__ is codes[f] and "__wrapped__" not in f.__dict__


def test_a_function_of_its_own_wrapped_keeps_its_wrapped_after_untrace(engine):
    @functools.wraps(divide)
    def decorated(*args, **kwargs):
        return divide(*args, **kwargs)
    space = {"decorated": decorated}
    decorated.__qualname__ = "decorated"
    engine.tracer.trace("decorated", space, condition="a==6")
    decorated(6)
    assert engine.store.recent("traces")[0].argvalues == {"a": 6, "b": 2, "scale": 1}
    assert inspect.unwrap(decorated).__code__ is divide.__code__
    engine.tracer.untrace("decorated", space)
    assert decorated.__wrapped__ is divide


def test_closures_keep_their_cells(engine):
    cells = hit.__closure__
    engine.tracer.trace("hit", ns(), condition="step==2")
    assert hit(1) == -5 and hit(1) == -10
    with pytest.raises(ZeroDivisionError):
        hit(1)                                   # hits == 3: the shared cell counts every call
    assert hit(2) == 5
    assert [c.ctype for c in engine.store.recent()] == ["exceptions", "traces"]
    engine.tracer.untrace("hit", ns())
    assert hit.__closure__ is cells and hit(1) == 3
    engine.tracer.trace("Handler.greet", ns())
    assert Handler().greet() == "hello <"                  # super() through the __class__ cell
    engine.tracer.untrace("Handler.greet", ns())


def test_an_alias_reaches_the_same_trace(engine):
    space = {"divide": divide, "alias": divide}
    engine.tracer.trace("alias", space, condition="call")
    engine.tracer.trace("divide", space, condition="a==1")   # the same function: its trace replaced
    assert [s.condition for s in engine.tracer.traced()] == ["a==1"]
    divide(1), divide(2)
    assert [c.argvalues["a"] for c in engine.store.recent()] == [1]
    engine.tracer.untrace("alias", space)
    assert engine.tracer.traced() == [] and "__wrapped__" not in divide.__dict__


def test_trace_untrace_trace_again_and_count_expiry(engine):
    code = divide.__code__
    for _ in range(2):
        engine.tracer.trace("divide", ns(), condition="call", count=2)
        for a in range(3):
            divide(a)
        assert engine.tracer.traced() == [] and divide.__code__ is code   # the count removed it
    assert len(engine.store.recent()) == 4


def test_hold_through_a_registry_of_endpoints(engine):
    """``trace -a hold`` of an endpoint a router already holds: the request is held, then goes on."""
    routes = {"/": endpoint}
    engine.tracer.trace("endpoint", ns(), action="hold")

    async def main():
        engine.install_crossing(lambda lp, fn: lp.call_soon_threadsafe(fn))
        held = asyncio.ensure_future(routes["/"]("req 1"))
        for _ in range(500):
            await asyncio.sleep(0.001)
            if engine.holds.list():
                break
        [hold] = engine.holds.list()
        waiting = held.done()
        threading.Thread(target=engine.resume, args=([hold.context.id],)).start()
        return waiting, hold.context.argvalues, await asyncio.wait_for(held, 5)

    assert asyncio.run(main()) == (False, {"request": "req 1"}, "answer to req 1")
    engine.tracer.untrace("endpoint", ns())
    assert asyncio.run(routes["/"]("req 2")) == "answer to req 2" and engine.holds.list() == []


def test_wrapper_frames_are_left_out_of_stacks(engine):
    engine.tracer.trace("divide", ns(), condition="call")
    divide(1)
    ctx = engine.store.recent()[0]
    assert [f.function for f in ctx.stack][-1] == "test_wrapper_frames_are_left_out_of_stacks"
    assert not any(f.file.startswith("<otrace") for f in ctx.stack)


def test_a_wrapper_that_cannot_be_swapped_in_falls_back_to_rebinding_the_name(engine, monkeypatch, caplog):
    def refuse(code, values, nfree):
        raise codeswap.CodeSwapError("refused for the test")
    monkeypatch.setattr(wrappers, "constant_code", refuse)
    space = ns()
    code, registered = divide.__code__, REGISTRY["/divide"]
    with caplog.at_level(logging.WARNING, logger="otrace"):
        engine.tracer.trace("divide", space, condition="return")     # a condition that needs a wrapper
    assert "traced by rebinding its name" in caplog.text and "refused for the test" in caplog.text
    assert space["divide"] is not divide and divide.__code__ is code
    space["divide"](1)
    registered(2)                                 # the registry holds the object: not seen, as before
    assert [c.argvalues["a"] for c in engine.store.recent()] == [1]
    engine.tracer.untrace("divide", space)
    assert space["divide"] is divide and engine.tracer.traced() == []


def test_a_name_the_wrapper_reads_is_never_looked_up_in_the_application_globals(engine):
    """The swapped-in code runs with the module's globals: its builtins are constants."""
    module_globals = divide.__globals__
    module_globals["Exception"] = "shadowed"     # an application shadowing builtins
    module_globals["func"] = None
    try:
        engine.tracer.trace("divide", ns(), condition="a==77")
        with pytest.raises(ZeroDivisionError):
            divide(77, 0)
        assert divide(77) == 38.5
        assert [c.ctype for c in engine.store.recent()] == ["traces", "exceptions", "traces"]
    finally:
        del module_globals["Exception"], module_globals["func"]


def test_tracing_a_lambda_or_nested_function_by_object_is_still_refused(engine):
    with pytest.raises(OTraceError, match="nested functions and lambdas"):
        engine.tracer.trace(hit)
