"""core.tracer on real class hierarchies, as otrace behaves: traced methods that subclasses inherit,
decorated handlers, traceassert's action checking (defects found by QA, one contract each)."""

from __future__ import annotations

import functools

import pytest

from otrace_server.core.assertions import traceassert
from otrace_server.core.engine import get_engine
from otrace_server.core.errors import OTraceError

SCALE = 5




class Base:
    def respond(self, number):
        return SCALE / int(number)


class Sub(Base):
    pass


def passthrough(method):
    """A decorator like Tornado's ``@authenticated``: ``wrapper(self, *args, **kwargs)``."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return method(self, *args, **kwargs)
    return wrapper


class Handler:
    @passthrough
    def get(self, number, extra=5):
        return number


def ns():
    return {"Base": Base, "Sub": Sub, "Handler": Handler}


def ids(engine, ctype=None):
    return [c.id for c in engine.store.recent(ctype)]


def test_subclass_trace_of_traced_base_method_matches_its_arguments(engine):
    engine.tracer.trace("Base.respond", ns(), condition="call")
    engine.tracer.trace("Sub.respond", ns(), condition="number==77")
    Sub().respond(77)
    Sub().respond(5)
    assert ids(engine) == [f"Base.respond:tr-number==77:{engine.store.recent()[0].time_label}"]
    assert engine.store.recent()[0].argvalues["number"] == 77


def test_untraced_base_method_records_nothing_through_a_traced_subclass(engine):
    engine.tracer.trace("Base.respond", ns(), condition="call")
    engine.tracer.trace("Sub.respond", ns(), condition="number==77")
    engine.tracer.untrace("Base.respond", ns())
    Sub().respond(5)
    Base().respond(5)
    assert ids(engine) == []
    engine.tracer.untrace("Sub.respond", ns())
    assert "respond" not in Sub.__dict__ and not hasattr(Base.__dict__["respond"], "__otrace_trace__")


def test_patching_a_subclass_method_while_the_base_is_traced_keeps_module_globals(engine):
    original = Base.__dict__["respond"]
    engine.tracer.trace("Base.respond", ns())
    engine.patcher.patch("Sub.respond", "def respond(self, number):\n    return SCALE * 2 / int(number)\n", ns())
    assert Sub().respond(1) == 10.0            # SCALE found: the module's globals, not the wrapper's
    engine.patcher.unpatch("Sub.respond")
    engine.tracer.untrace("Base.respond", ns())
    assert Base.__dict__["respond"] is original and "respond" not in Sub.__dict__


def test_condition_on_a_decorated_method_sees_positional_arguments(engine):
    engine.tracer.trace("Handler.get", ns(), condition="number==77")
    Handler().get("77")
    Handler().get(number=77)
    Handler().get(3)
    recorded = engine.store.recent("traces")
    assert [c.argvalues["number"] for c in recorded] == ["77", 77]
    assert set(recorded[0].argvalues) == {"self", "number", "extra"}


def test_traceassert_misspelt_action_is_an_error_even_when_the_condition_holds():
    eng = get_engine()
    was = eng.settings.trace_active
    eng.settings.set("trace_active", True)
    try:
        for condition in (True, False):
            with pytest.raises(OTraceError, match="unknown action 'hodl'"):
                traceassert(condition, label="typo", action="hodl")
        assert traceassert(True, action="break") is None and traceassert(True) is None
    finally:
        eng.settings.set("trace_active", was)


def grow(items):
    items.append("in")
    return items


def test_deep_copy_keeps_the_return_value_as_returned(engine):
    engine.settings.set("deep_copy", True)
    engine.tracer.trace("grow", globals(), condition="return")
    items = [1]
    grow(items)
    items.append("after")
    ctx = engine.store.recent("traces")[0]
    assert ctx.return_value == [1, "in"] and ctx.argvalues["items"] == [1, "in"]


def spread(first, *rest):
    return first


def options(first, **extra):
    return first


def test_condition_on_star_args_compares_the_extra_positional_arguments(engine):
    engine.tracer.trace("spread", globals(), condition="rest==(2, 3)")
    spread(1, 2, 3)
    spread(1, 2)
    spread(first=1)
    assert [c.argvalues["rest"] for c in engine.store.recent("traces")] == [(2, 3)]


def test_condition_on_star_star_kwargs_compares_the_extra_keyword_arguments(engine):
    engine.tracer.trace("options", globals(), condition="extra=={'z': 1}")
    options(1, z=1)
    options(1, z=2)
    options(first=1, z=1)
    assert [c.argvalues for c in engine.store.recent("traces")] == [{"first": 1, "extra": {"z": 1}}] * 2


def test_a_name_below_a_function_says_the_function_is_not_a_class_or_module(engine):
    with pytest.raises(OTraceError, match=r"^'spread.__code__': 'spread' is a function, not a class or module$"):
        engine.tracer.trace("spread.__code__", globals())
