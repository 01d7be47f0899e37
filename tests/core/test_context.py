"""context.capture: detached snapshots (no live frame kept), arguments, locals, stack, exceptions."""

from __future__ import annotations

import gc
import sys
import types

from otrace_server.core.context import MISSING, TraceContext, capture
from otrace_server.core.frames import frames_from_traceback


def _snapshot(event="assert", **kw):
    return capture(sys._getframe(1), ctype="asserts", label="chk", funcname="f", event=event, **kw)


def _frames_of(code: types.CodeType) -> list:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, types.FrameType) and o.f_code is code]


def test_capture_keeps_arguments_locals_and_stack():
    def outer():
        return inner(3, y="why")

    def inner(x, *rest, y, **kw):
        total = x * 2
        return _snapshot()

    ctx = outer()
    assert ctx.argvalues == {"x": 3, "y": "why", "rest": (), "kw": {}}
    assert ctx.locals["total"] == 6 and ctx.locals["x"] == 3
    assert [f.function for f in ctx.stack[-2:]] == ["outer", "inner"]
    assert ctx.frame_index == len(ctx.stack) - 1
    assert ctx.where.endswith("outer-->inner")
    assert ctx.file == __file__ and ctx.line == inner.__code__.co_firstlineno + 2
    assert ctx.thread and ctx.timestamp > 0 and ctx.return_value is MISSING
    assert ctx.argstr == "x=3, rest=(), y='why', kw={}"


def test_only_the_nearest_frames_keep_locals():
    def a():
        return b()

    def b():
        return _snapshot(stack_locals=1)

    ctx = a()
    assert ctx.stack[-1].locals is not None
    assert all(f.locals is None for f in ctx.stack[:-1])


def test_capture_keeps_no_live_frame():
    def traced(n):
        here = sys._getframe()       # a local holding a frame is kept as its repr only
        payload = [n]
        return _snapshot(), here.f_code

    ctx, code = traced(5)
    assert _frames_of(code) == []     # the traced function's frame was collected
    assert isinstance(ctx.locals["here"], str) and ctx.locals["here"].startswith("<frame")
    assert ctx.locals["payload"] == [5]


def _capture_exception(exc: BaseException):
    """What the tracer does: snapshot the raising function's frame and the frames below it."""
    tb = exc.__traceback__.tb_next          # skip the calling test's own frame
    return capture(tb.tb_frame, ctype="exceptions", label=type(exc).__name__, funcname="fails",
                   event="exception", inner=frames_from_traceback(tb.tb_next), exc=exc, stack_locals=2)


def fails(d):
    ratio = helper(d)
    return ratio


def helper(d):
    return 1 / d


def test_exception_context_from_traceback_keeps_no_frame():
    try:
        fails(0)
    except ZeroDivisionError as exc:
        ctx = _capture_exception(exc)
        caught = exc
    assert ctx.exc_type == "ZeroDivisionError" and ctx.exc_message == "division by zero"
    assert [f.function for f in ctx.stack[-2:]] == ["fails", "helper"]
    assert ctx.stack[ctx.frame_index].function == "fails" and ctx.argvalues == {"d": 0}
    assert ctx.line == helper.__code__.co_firstlineno + 1     # the raising line, innermost frame
    # the test's own frame (in the snapshot) held the exception: kept as a copy without traceback
    mine = ctx.stack[ctx.frame_index - 1].locals
    assert isinstance(mine["exc"], ZeroDivisionError) and mine["exc"].__traceback__ is None
    del caught, mine
    sys._getframe().f_locals    # refresh this frame's cached locals dict, which capture() filled
    assert _frames_of(fails.__code__) == [] and _frames_of(helper.__code__) == []


def test_shallow_and_deep_copies():
    def f(items):
        return _snapshot(deep=False), _snapshot(deep=True)

    data = [1, 2]
    shallow, deep = f(data)
    data.append(3)
    assert shallow.locals["items"] is data
    assert deep.locals["items"] == [1, 2] and deep.argvalues["items"] == [1, 2]


def test_call_event_with_given_arguments_and_no_frame():
    ctx = capture(None, ctype="traces", label="call", funcname="g", event="call", argvalues={"a": 1})
    assert ctx.argvalues == {"a": 1} and ctx.locals == {"a": 1}
    assert ctx.stack == [] and ctx.where == "" and ctx.globals is None


def test_broken_repr_does_not_break_argstr():
    class Bad:
        def __repr__(self):
            raise RuntimeError("boom")

    ctx = TraceContext(ctype="traces", label="call", funcname="g", event="call", argvalues={"b": Bad()},
                       locals={}, stack=[], frame_index=-1)
    assert ctx.argstr.startswith("b=<unrepresentable Bad: boom>")


def test_long_argument_reprs_are_truncated():
    ctx = TraceContext(ctype="traces", label="call", funcname="g", event="call", argvalues={"s": "x" * 500},
                       locals={}, stack=[], frame_index=-1)
    assert len(ctx.argstr) <= 75 and ctx.argstr.endswith("...")


def test_stack_of_async_code_ends_with_the_coroutine_chain():
    import asyncio

    def leaf(n):
        return _snapshot(stack_locals=1)

    async def mid(n):
        await asyncio.sleep(0)
        return leaf(n)

    async def main():
        return await mid(4)

    ctx = asyncio.run(main())
    names = [f.function for f in ctx.stack]
    # the coroutines that await the event, and the loop's frame that ran the task: no more
    assert names[-3:] == ["main", "mid", "leaf"] and len(names) == 4 and names[0] == "_run"
    assert ctx.stack[0].file.endswith("events.py")
    assert [f.locals is not None for f in ctx.stack] == [False, False, False, True]


def test_stack_lines_of_outer_frames_are_the_call_lines():
    def outer():
        return middle()           # line +1

    def middle():
        return _snapshot()        # line +4

    ctx = outer()
    first = outer.__code__.co_firstlineno
    assert [(f.function, f.line) for f in ctx.stack[-2:]] == [("outer", first + 1), ("middle", first + 4)]
    assert ctx.stack == list(ctx.stack) and len(ctx.stack) == len(list(ctx.stack))
    assert ctx.stack[-1].locals is not None and ctx.stack[-2].locals is None   # default: the traced frame only


def test_lazy_fields_resolve_like_eager_ones():
    """line (from the bytecode offset), thread (name read when shown), related/extra (created on
    first use) give what the eager fields gave, and writes through them are kept."""
    import threading

    def probe():
        ctx = _snapshot()
        return ctx, sys._getframe().f_lineno - 1

    box = []
    worker = threading.Thread(target=lambda: box.append(probe()), name="probe-thread")
    worker.start()
    worker.join(5)
    ctx, line = box[0]
    assert ctx.line == line and ctx.stack[ctx.frame_index].line == line
    assert ctx.thread == "probe-thread"
    assert ctx.related == [] and ctx.extra == {}
    ctx.extra["request"] = {"uri": "/"}
    ctx.related.append("f:tr-call:01-02-03")
    assert ctx.extra == {"request": {"uri": "/"}} and ctx.related == ["f:tr-call:01-02-03"]
    ctx.line, ctx.thread = 7, "renamed"
    assert (ctx.line, ctx.thread) == (7, "renamed")
    built = TraceContext("traces", "call", "g", "call", {}, {}, [], -1, related=["a"], extra={"k": 1})
    assert built.related == ["a"] and built.extra == {"k": 1} and built.line == 0 and built.thread == ""


def test_packed_stack_keeps_traceback_lines_and_the_locals_of_inner_frames():
    def fails(n):
        local = n + 1
        raise KeyError(local)

    try:
        fails(4)
    except KeyError as exc:
        frames = frames_from_traceback(exc.__traceback__)
        ctx = capture(frames[0][0], ctype="exceptions", label="KeyError", funcname="t", event="exception",
                      inner=frames[1:], exc=exc, stack_locals=2)
        del frames
    names = [f.function for f in ctx.stack]
    assert names[-2:] == [sys._getframe().f_code.co_name, "fails"]
    assert ctx.stack[-1].line == fails.__code__.co_firstlineno + 2 == ctx.line
    assert ctx.stack[-1].locals == {"n": 4, "local": 5}
    assert ctx.stack[0].locals is None and len(ctx.stack) == len(list(ctx.stack))


def test_argvalues_of_a_frame_capture_are_taken_from_its_locals_on_first_read():
    def handler(request, *parts, flag=True):
        local = 1
        return _snapshot()

    ctx = handler("r", 2, flag=False)
    assert ctx.argvalues == {"request": "r", "parts": (2,), "flag": False}
    assert ctx.argvalues is ctx.argvalues                 # resolved once, then a plain dict
    ctx.argvalues = {"request": "other"}
    assert ctx.argvalues == {"request": "other"} and ctx.locals["local"] == 1


def test_a_captured_context_has_every_field_of_a_constructed_one():
    """snapshot fills a bare TraceContext (no class call): none of its fields may be missing."""
    ctx = capture(sys._getframe(), ctype="traces", label="x", funcname="f", event="call", argvalues={"a": 1})
    built = TraceContext("traces", "x", "f", "call", {"a": 1}, {"a": 1}, [], 0)
    for name in TraceContext.__slots__:
        assert hasattr(ctx, name) and hasattr(built, name), name
    assert ctx.locals == {"a": 1} and ctx.argvalues == {"a": 1} and ctx.id == "" and ctx.hold is None
    assert ctx.related == [] and ctx.extra == {} and ctx.saved is False and ctx.exc_type is None


def test_call_arguments_bound_on_first_read_are_those_of_the_call():
    def bind(args, kwargs):
        return {"a": args[0], **kwargs}

    ctx = capture(sys._getframe(), ctype="traces", label="x", funcname="f", event="call",
                  argvalues=(bind, (1,), {"b": 2}))
    assert ctx.argvalues == {"a": 1, "b": 2}
    assert ctx.locals == {"a": 1, "b": 2} and ctx.locals is not ctx.argvalues


def test_first_argument_of_every_argvalues_form_without_binding():
    calls = []

    def bind(args, kwargs):
        calls.append(1)
        return {"self": args[0]}

    lazy = capture(sys._getframe(), ctype="traces", label="x", funcname="f", event="call",
                   argvalues=(bind, ("me", 2), {}))
    assert lazy.first_argument == "me" and calls == []       # nothing bound
    assert capture(None, ctype="traces", label="x", funcname="f", event="call",
                   argvalues=(bind, (), {})).first_argument is None

    def method(self, n):
        return capture(sys._getframe(), ctype="asserts", label="x", funcname="m", event="assert")

    assert method("obj", 1).first_argument == "obj"           # from the frame's locals
    assert capture(sys._getframe(), ctype="traces", label="x", funcname="f", event="call",
                   argvalues={"a": 5, "b": 6}).first_argument == 5
