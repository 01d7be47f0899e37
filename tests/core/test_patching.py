"""Live patching: functions, methods, classmethods, staticmethods, coroutines, closures; identity
on unpatch; traced functions stay traced; errors change nothing."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import linecache
import re
import sys
import textwrap
import traceback

import pytest

from otrace_server.core.engine import Engine
from otrace_server.core.errors import OTraceError
from otrace_server.core.patching import LineMap, patch_filename

MODULE = '''
import math

SCALE = 10
sqrt = math.sqrt


class Base:
    def greet(self):
        return "base"


class Receive(Base):
    def __init__(self):
        self.__secret = 7

    def greet(self):
        return "receive"

    def respond(self, number):
        return 1 / number

    @classmethod
    def make(cls):
        return cls()

    @staticmethod
    def twice(x):
        return 2 * x

    async def fetch(self, n):
        return n


class Child(Base):
    pass


def divide(a, b=1):
    return a / b


def counter():
    n = 0

    def inc():
        nonlocal n
        n += 1
        return n

    def get():
        return n

    return inc, get


inc, get = counter()


def _make_closure():
    secret = 1

    def inner():
        return 0

    return inner


inner = _make_closure()


def _make_unset():
    def late():
        return x
    return late
    x = 1


late = _make_unset()
'''

_names = itertools.count()


@pytest.fixture
def mod(tmp_path):
    name = f"otrace_patch_fixture_{next(_names)}"
    path = tmp_path / f"{name}.py"
    path.write_text(MODULE)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[name]


@pytest.fixture
def engine():
    return Engine()


def src(text: str) -> str:
    return textwrap.dedent(text)


def test_patch_module_function_then_unpatch_restores_the_same_object(engine, mod):
    original, code, defaults = mod.divide, mod.divide.__code__, mod.divide.__defaults__
    names = set(vars(mod))
    p = engine.patcher.patch("divide", src("""
        def divide(a, b=2):
            return SCALE * math.floor(a / b)
    """), vars(mod))
    assert mod.divide is p.patched is original and p.in_place    # the new code went into the same object
    assert p.original is not original and p.original.__code__ is code   # a copy of it as it was
    assert mod.divide(7) == 30                        # module globals (SCALE, math) and the new default
    assert mod.divide.__qualname__ == "divide" and mod.divide.__module__ == mod.__name__
    assert set(vars(mod)) == names                    # nothing added to the module's globals
    engine.patcher.unpatch("divide")
    assert mod.divide is original and mod.divide(7) == 7
    assert mod.divide.__code__ is code and mod.divide.__defaults__ is defaults and mod.divide.__dict__ == {}
    assert engine.patcher.patches() == []


def test_method_keeps_super_private_names_and_qualname(engine, mod):
    original = mod.Receive.__dict__["greet"]
    engine.patcher.patch("Receive.greet", src("""
        def greet(self):
            return "new " + super().greet() + str(self.__secret)
    """), vars(mod))
    assert mod.Receive().greet() == "new base7"
    assert mod.Receive.greet.__qualname__ == "Receive.greet"
    engine.patcher.unpatch("Receive.greet")
    assert mod.Receive.__dict__["greet"] is original


def test_indented_method_source_as_copied_from_the_class(engine, mod):
    engine.patcher.patch("Receive.respond",
                         "    def respond(self, number):\n        return number * 2\n", vars(mod))
    assert mod.Receive().respond(4) == 8


def test_classmethod_is_rewrapped_and_restored(engine, mod):
    original = mod.Receive.__dict__["make"]
    engine.patcher.patch("Receive.make", "def make(cls):\n    return ('made', cls)\n", vars(mod))
    assert isinstance(mod.Receive.__dict__["make"], classmethod)
    assert mod.Receive.make() == ("made", mod.Receive)
    engine.patcher.unpatch("Receive.make")
    assert mod.Receive.__dict__["make"] is original


def test_staticmethod_with_or_without_decorator(engine, mod):
    original = mod.Receive.__dict__["twice"]
    engine.patcher.patch("Receive.twice", "@staticmethod\ndef twice(x):\n    return 3 * x\n", vars(mod))
    assert mod.Receive.twice(2) == 6 and mod.Receive().twice(2) == 6
    engine.patcher.patch("Receive.twice", "def twice(x):\n    return 4 * x\n", vars(mod))
    assert isinstance(mod.Receive.__dict__["twice"], staticmethod) and mod.Receive().twice(2) == 8
    engine.patcher.unpatch("Receive.twice")          # back to the FIRST original
    assert mod.Receive.__dict__["twice"] is original


def test_async_method(engine, mod):
    engine.patcher.patch("Receive.fetch", src("""
        async def fetch(self, n):
            await asyncio.sleep(0)
            return n * 100
    """).replace("asyncio.sleep(0)", "__import__('asyncio').sleep(0)"), vars(mod))
    assert asyncio.run(mod.Receive().fetch(2)) == 200


def test_closure_shares_the_original_cells(engine, mod):
    mod.inc()
    engine.patcher.patch("inc", src("""
        def inc():
            nonlocal n
            n += 10
            return n
    """), vars(mod))
    assert mod.inc() == 11 and mod.get() == 11        # get() sees the patched inc's update
    engine.patcher.unpatch("inc")
    assert mod.inc() == 12


def test_inherited_method_is_set_on_the_class_and_removed_again(engine, mod):
    engine.patcher.patch("Child.greet", "def greet(self):\n    return 'child ' + super().greet()\n", vars(mod))
    assert mod.Child().greet() == "child base" and mod.Base().greet() == "base"
    engine.patcher.unpatch("Child.greet")
    assert "greet" not in mod.Child.__dict__ and mod.Child().greet() == "base"


def test_patched_source_shows_in_tracebacks_and_linecache(engine, mod):
    p = engine.patcher.patch("divide", src("""
        def divide(a, b=1):
            scaled = a * SCALE
            return scaled / (b - 1)
    """), vars(mod))
    assert p.filename == patch_filename("divide") == "<otrace-patch divide>"
    with pytest.raises(ZeroDivisionError):
        try:
            mod.divide(1)
        except ZeroDivisionError:
            text = traceback.format_exc()
            raise
    # lines are numbered as in the source given (here line 1 is the blank one after the quotes)
    assert 'File "<otrace-patch divide>", line 4, in divide' in text
    assert "return scaled / (b - 1)" in text
    assert linecache.getline("<otrace-patch divide>", 3).strip() == "scaled = a * SCALE"
    assert p.source.strip().startswith("def divide(a, b=1):")


def test_events_and_listing(engine, mod):
    seen = []
    engine.events.subscribe(lambda ev: seen.append((ev.kind, dict(ev.data))))
    p = engine.patcher.patch("divide", "def divide(a, b=1):\n    return 0\n", vars(mod))
    assert seen[-1] == ("patch", {"name": "divide", "patch": p})
    (listed,) = engine.patcher.patches()
    assert (listed.name, listed.original, listed.patched) == ("divide", p.original, mod.divide)
    assert listed.time > 0 and listed.target.attr == "divide"
    engine.patcher.unpatch_all()
    assert seen[-1] == ("unpatch", {"name": "divide"})
    with pytest.raises(OTraceError, match="not patched"):
        engine.patcher.unpatch("divide")


@pytest.mark.parametrize("name, source, message", [
    ("nosuch", "def nosuch():\n    pass\n", "unknown name"),
    ("sqrt", "def sqrt(x):\n    return x\n", "not a Python function"),
    ("Receive", "def Receive():\n    pass\n", "class"),
    ("divide", "def other(a, b=1):\n    return 0\n", "defines 'other', expected 'divide'"),
    ("divide", "def divide(a, b=1):\n    x = 1\n    return (\n", "syntax error in the new source, line 3"),
    ("divide", "x = 1\ndef divide(a, b=1):\n    return 0\n", "exactly one 'def divide"),
    ("divide", "@undefined_decorator\ndef divide(a):\n    return 0\n", "failed to build: NameError"),
    ("divide", "   \n", "edit: the new source is empty"),
    ("inner", "def inner():\n    return secret\n", "cannot rebuild free variable(s) secret"),
    ("late", "def late():\n    return x\n", "cannot rebuild free variable(s) x"),
])
def test_errors_change_nothing(engine, mod, name, source, message):
    before = dict(vars(mod))
    with pytest.raises(OTraceError, match=re.escape(message)) as info:
        engine.patcher.patch(name, source, vars(mod))
    assert "\n" not in str(info.value)
    assert all(vars(mod)[k] is v for k, v in before.items())
    assert engine.patcher.patches() == []


def test_builtin_function_in_a_class_is_refused(engine):
    class Holder:
        length = len

    with pytest.raises(OTraceError, match="builtin"):
        engine.patcher.patch("Holder.length", "def len(x):\n    return 0\n", {"Holder": Holder})


def test_patched_function_stays_traced(engine, mod):
    original = mod.Receive.__dict__["respond"]
    engine.tracer.trace("Receive.respond", vars(mod), condition="number==3", count=5)
    engine.patcher.patch("Receive.respond", "def respond(self, number):\n    return 2 / (number - 3)\n", vars(mod))
    (spec,) = engine.tracer.traced()
    assert (spec.name, spec.condition, spec.count) == ("Receive.respond", "number==3", 5)
    with pytest.raises(ZeroDivisionError):
        mod.Receive().respond(3)
    kinds = {c.ctype for c in engine.store.recent()}
    assert kinds == {"traces", "exceptions"}             # the new code runs under the trace
    exc = engine.store.recent("exceptions")[-1]
    assert exc.file == "<otrace-patch Receive.respond>" and exc.line == 2
    engine.patcher.unpatch("Receive.respond")
    assert [s.name for s in engine.tracer.traced()] == ["Receive.respond"]   # still traced
    with pytest.raises(ZeroDivisionError):
        mod.Receive().respond(0)                         # the original code, traced
    assert engine.store.recent("exceptions")[-1].file == mod.__file__
    engine.tracer.untrace("Receive.respond", vars(mod))
    assert mod.Receive.__dict__["respond"] is original


def test_traced_classmethod_patch_keeps_kind(engine, mod):
    engine.tracer.trace("Receive.make", vars(mod))
    engine.patcher.patch("Receive.make", "def make(cls):\n    return cls.__name__\n", vars(mod))
    assert mod.Receive.make() == "Receive"
    engine.patcher.unpatch_all()
    engine.tracer.untrace_all()
    assert isinstance(mod.Receive.make(), mod.Receive)


def test_code_names_are_the_originals(engine, mod):
    """Trace ids use ``co_qualname``: patched code must not report ``__otrace_patch__.<locals>...``."""
    engine.patcher.patch("Receive.respond", src("""
        def respond(self, number):
            def helper():
                return number
            return helper
    """), vars(mod))
    assert mod.Receive.respond.__code__.co_qualname == "Receive.respond"
    assert mod.Receive().respond(1).__code__.co_qualname == "Receive.respond.<locals>.helper"
    engine.patcher.patch("Receive.make", "@classmethod\ndef make(cls):\n    return cls\n", vars(mod))
    assert mod.Receive.__dict__["make"].__func__.__code__.co_qualname == "Receive.make"
    engine.patcher.patch("divide", "def divide(a, b=1):\n    return a\n", vars(mod))
    assert mod.divide.__code__.co_qualname == "divide"


def test_a_patch_carries_its_line_map_and_is_found_by_its_file_after_unpatch(engine, mod):
    line_map = LineMap("/src/mod.py", (4, 4, 5))
    p = engine.patcher.patch("divide", "def divide(a, b=1):\n    return 0\n", vars(mod), line_map=line_map)
    assert p.line_map is line_map and engine.patcher.by_filename(p.filename) is p
    assert engine.patcher.by_filename("<otrace-patch inc>") is None and engine.patcher.by_filename("mod.py") is None
    engine.patcher.unpatch("divide")
    assert engine.patcher.by_filename(p.filename) is p            # held requests may still run its code
    q = engine.patcher.patch("divide", "def divide(a, b=1):\n    return 1\n", vars(mod))
    assert q.line_map is None and engine.patcher.by_filename(p.filename) is q
    engine.patcher.unpatch("divide")
    assert engine.patcher.by_filename(p.filename) is None          # undone without a map: nothing kept


def test_holders_of_the_function_object_run_the_patched_code(engine, mod):
    import functools

    registry = {"/divide": mod.divide}
    half = functools.partial(mod.divide, b=2)
    greet = mod.Receive().greet                         # a bound method stored before the patch
    engine.patcher.patch("divide", "def divide(a, b=1):\n    return ('patched', a, b)\n", vars(mod))
    engine.patcher.patch("Receive.greet", "def greet(self):\n    return 'patched'\n", vars(mod))
    assert registry["/divide"](6) == ("patched", 6, 1) and half(6) == ("patched", 6, 2) and greet() == "patched"
    engine.patcher.unpatch_all()
    assert registry["/divide"](6) == 6 and half(6) == 3 and greet() == "receive"


def test_patching_a_name_twice_in_place_then_unpatch_restores_the_first_original(engine, mod):
    code, doc = mod.divide.__code__, mod.divide.__doc__
    first = engine.patcher.patch("divide", "def divide(a, b=5):\n    'one'\n    return 1\n", vars(mod))
    second = engine.patcher.patch("divide", "def divide(a, b=6):\n    return 2\n", vars(mod))
    assert second.original is first.original and mod.divide(0) == 2
    assert mod.divide.__defaults__ == (6,)
    engine.patcher.unpatch("divide")
    assert mod.divide.__code__ is code and mod.divide.__defaults__ == (1,) and mod.divide.__doc__ is doc


def test_free_variables_that_differ_fall_back_to_rebinding_and_say_so(engine, mod, caplog):
    import logging

    seen = []
    engine.events.subscribe(lambda ev: seen.append(ev.data.get("text")) if ev.kind == "output" else None)
    original, registry = mod.Receive.__dict__["greet"], [mod.Receive().greet]
    with caplog.at_level(logging.WARNING, logger="otrace"):
        p = engine.patcher.patch("Receive.greet", "def greet(self):\n    return 'new ' + super().greet()\n",
                                 vars(mod))
    assert not p.in_place and mod.Receive.__dict__["greet"] is p.patched is not original
    assert mod.Receive().greet() == "new base" and registry[0]() == "receive"   # a holder keeps the old code
    [text] = [t for t in seen if t]
    assert text.startswith("Receive.greet: patched by rebinding its name, not in place (its free variables "
                           "(__class__) are not the original's (none))")
    assert "keep running its old code" in caplog.text
    engine.patcher.unpatch("Receive.greet")
    assert mod.Receive.__dict__["greet"] is original


def test_in_place_then_rebinding_then_unpatch_restores_object_and_code(engine, mod):
    original, code = mod.Receive.__dict__["greet"], mod.Receive.__dict__["greet"].__code__
    engine.patcher.patch("Receive.greet", "def greet(self):\n    return 'one'\n", vars(mod))
    p = engine.patcher.patch("Receive.greet", "def greet(self):\n    return 'two ' + super().greet()\n", vars(mod))
    assert not p.in_place and p.original is original and original.__code__ is code
    assert mod.Receive().greet() == "two base"
    engine.patcher.unpatch("Receive.greet")
    assert mod.Receive.__dict__["greet"] is original and original.__code__ is code


@pytest.mark.parametrize("order", ["trace first", "patch first"])
def test_trace_and_patch_in_either_order_reach_holders_and_undo_exactly(engine, mod, order):
    registry = {"respond": mod.Receive().respond}
    func = mod.Receive.__dict__["respond"]
    code = func.__code__
    steps = [lambda: engine.tracer.trace("Receive.respond", vars(mod), condition="number==3"),
             lambda: engine.patcher.patch("Receive.respond", "def respond(self, number):\n    return number * 10\n",
                                          vars(mod))]
    for step in steps if order == "trace first" else reversed(steps):
        step()
    assert registry["respond"](3) == 30 and mod.Receive.__dict__["respond"] is func
    assert [c.argvalues["number"] for c in engine.store.recent("traces")] == [3]
    engine.patcher.unpatch("Receive.respond")
    assert registry["respond"](3) == 1 / 3 and len(engine.store.recent("traces")) == 2   # original code, traced
    engine.tracer.untrace("Receive.respond", vars(mod))
    assert func.__code__ is code and func.__dict__ == {} and registry["respond"](3) == 1 / 3
    assert len(engine.store.recent("traces")) == 2


def test_patching_an_alias_of_a_traced_function_keeps_it_traced(engine, mod):
    space = {"divide": mod.divide, "alias": mod.divide}
    engine.tracer.trace("divide", space, condition="a==4")
    engine.patcher.patch("alias", "def divide(a, b=1):\n    return -a\n", space)
    assert mod.divide(4) == -4 and [s.name for s in engine.tracer.traced()] == ["divide"]
    assert [c.argvalues["a"] for c in engine.store.recent("traces")] == [4]
