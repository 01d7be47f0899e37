"""core.quickrecord: a `trace -c call` recorded by the C Recorder makes the very context the Python
path makes, pushes no Python frame, and gives way to the Python path whenever that path would do
more than queue the context."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from otrace_server.core import quickrecord


class Handler:
    def get(self, number, flag=False):
        return number


def call_site(traced, *args, **kwargs):
    return traced(*args, **kwargs)      # every recording of these tests is made from this line


def recorder_of(engine, name, ns):  # noqa: ARG001
    (trace, _), = engine.tracer._traces.values()   # noqa: SLF001 - the trace the test installed
    return trace.on_call


needs_accelerator = pytest.mark.skipif(quickrecord._recorder is None, reason="the C accelerator is not built")


def fields(ctx):
    return (ctx.ctype, ctx.label, ctx.funcname, ctx.event, ctx.argvalues, ctx.locals, ctx.file, ctx.line,
            ctx.frame_index, ctx.thread, list(ctx.stack), ctx.return_value, ctx.globals is Handler.get.__globals__,
            ctx.exc_type, ctx.exc_message, ctx.traceback, ctx.related, ctx.extra, ctx.saved, ctx.hold,
            ctx.first_argument)


@needs_accelerator
def test_a_call_trace_is_served_by_the_recorder_and_other_traces_are_not(engine):
    ns = {"Handler": Handler}
    engine.tracer.trace("Handler.get", ns, condition="call")
    assert type(recorder_of(engine, "Handler.get", ns)).__name__ == "Recorder"
    for kwargs in ({"condition": "call", "count": 3}, {"condition": "call", "action": "break"},
                   {"condition": "tagged"}):
        engine.tracer.untrace_all()
        engine.tracer.trace("Handler.get", ns, **kwargs)
        assert type(recorder_of(engine, "Handler.get", ns)).__name__ == "method", kwargs
    engine.tracer.untrace_all()
    engine.tracer.trace("Handler.get", ns, condition="number == 5")    # an argument condition's matches too
    assert type(recorder_of(engine, "Handler.get", ns)).__name__ == "Recorder"
    call_site(Handler().get, 4)
    call_site(Handler().get, 5)
    assert [c.argvalues["number"] for c in engine.store.recent("traces")] == [5]


def _record_both_ways(engine, run):
    """One context from the Recorder, then one from the Python path (a subscriber closes the gate:
    the Python path records it at once), both made by ``run()`` from the same line."""
    got = []
    unsubscribe = None
    for python_path in (False, True):
        if python_path:
            unsubscribe = engine.events.subscribe(lambda event: None)
        run()
        got.append(engine.store.latest())
    unsubscribe()
    return got


@needs_accelerator
def test_the_recorder_makes_the_context_the_python_path_makes(engine):
    ns = {"Handler": Handler}
    engine.tracer.trace("Handler.get", ns, condition="call")
    handler = Handler()
    fast, slow = _record_both_ways(engine, lambda: call_site(handler.get, 5, flag=True))
    assert fast is not slow and fast.id and slow.id
    assert fields(fast) == fields(slow)
    assert fast.argvalues == {"self": handler, "number": 5, "flag": True}
    assert [f.function for f in fast.stack][-3:] == ["_record_both_ways", "<lambda>", "call_site"]
    assert fast.timestamp <= slow.timestamp
    assert engine.tracer.traced()[0].matches == 2

    async def request():                   # async code: the stack ends with the coroutine chain
        await asyncio.sleep(0)
        return call_site(handler.get, 7)

    fast, slow = _record_both_ways(engine, lambda: asyncio.run(request()))
    assert fields(fast) == fields(slow)
    assert [f.function for f in fast.stack][-3:] == ["_run", "request", "call_site"]


@needs_accelerator
def test_the_recorder_pushes_no_python_frame(engine):
    ns = {"Handler": Handler}
    engine.tracer.trace("Handler.get", ns, condition="call")
    handler = Handler()
    call_site(handler.get, 1)                   # this thread's Thread object and these files are known now
    calls = []

    def profile(frame, event, arg):
        if event == "call":
            calls.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        call_site(handler.get, 2)
    finally:
        sys.setprofile(None)
    assert calls == ["call_site", "otrace_wrapper", "get"]     # the call site, the traced method, its copy
    assert engine.store.latest().argvalues["number"] == 2


@needs_accelerator
@pytest.mark.parametrize("change, python_path", [
    (lambda e: e.settings.set("trace_active", False), "nothing recorded"),
    (lambda e: e.events.subscribe(lambda event: None), "recorded at once"),
    (lambda e: e.enrichers.append(lambda ctx: ctx.extra.update(seen=True)), "recorded at once"),
    (lambda e: e.settings.set("log_level", "INFO"), "recorded at once"),
    (lambda e: e.settings.set("deep_copy", True), "queued"),
    (lambda e: e.settings.set("stack_locals", 2), "queued"),
    (lambda e: e.settings.set("trace_related", True), "recorded at once"),
    (lambda e: setattr(e, "record_later", e.record), "recorded at once"),
])
def test_the_python_path_records_whatever_needs_more_than_a_queued_context(engine, change, python_path, caplog):
    ns = {"Handler": Handler}
    engine.tracer.trace("Handler.get", ns, condition="call")
    handler = Handler()
    call_site(handler.get, 1)          # recorded from C: what the gate read is remembered...
    engine.store.clear()
    change(engine)                     # ...and read again once it changes
    with caplog.at_level(logging.CRITICAL, logger="otrace"):
        call_site(handler.get, 3)
    queued = sum(map(len, engine.store.queues.values()))
    if python_path == "nothing recorded":
        assert queued == 0 and engine.store.latest() is None
        return
    assert queued == (1 if python_path == "queued" else 0)
    ctx = engine.store.latest()
    assert ctx.argvalues["number"] == 3
    if engine.settings.stack_locals == 2:    # the locals of the caller's caller: only the Python path keeps them
        assert ctx.stack[-2].locals["handler"] is handler
    if engine.enrichers:
        assert ctx.extra == {"seen": True}


@needs_accelerator
def test_a_trace_database_closes_the_gate(engine, tmp_path):
    ns = {"Handler": Handler}
    engine.tracer.trace("Handler.get", ns, condition="call")
    engine.settings.set("pickle_file", str(tmp_path / "t.db"))
    try:
        call_site(Handler().get, 4)
        assert not any(engine.store.queues.values()) and engine.store.latest().id
    finally:
        engine.settings.set("pickle_file", "")


TALLIES = [quickrecord._Tally] + ([quickrecord.Tally] if quickrecord._recorder is not None else [])


@pytest.mark.parametrize("make", TALLIES, ids=lambda t: t.__module__.rpartition(".")[2])
def test_a_tally_keeps_the_first_of_its_window_and_counts_the_rest(make):
    woken = []
    tally = make(woken.append)
    tally.offer("quiet")                        # not armed: to the feed's own path
    assert woken == ["quiet"] and not tally.armed
    tally.open(2)
    tally.armed = True
    assert [tally.admit(x) for x in "abcd"] == [True, True, False, False] and tally.held == 2
    assert tally.take() == (["a", "b"], 2) and tally.armed      # something held: stays armed
    assert tally.close() == ([], 2, "d") and not tally.armed
    tally.open(5)
    tally.armed = True
    assert tally.take() == ([], 0) and not tally.armed          # nothing kept nor held: disarmed
    assert tally.close() == ([], 0, None)


@needs_accelerator
def test_the_c_tally_admits_while_armed_without_waking(engine):
    woken = []
    tally = quickrecord.Tally(woken.append)
    tally.open(1)
    tally.armed = True
    tally.offer("a")
    tally.offer("b")
    assert woken == [] and tally.take() == (["a"], 1)


@needs_accelerator
def test_the_recorder_offers_what_it_queues_to_the_feeds(engine):
    ns = {"Handler": Handler}
    engine.tracer.trace("Handler.get", ns, condition="call")
    woken = []
    tally = quickrecord.Tally(woken.append)
    other = []

    class Feed:                                  # not a Tally: offered through its method
        def offer(self, ctx):
            other.append(ctx)

    engine.events.subscribe_feed(tally)
    engine.events.subscribe_feed(Feed())
    call_site(Handler().get, 1)                  # not armed: woken
    tally.open(10)
    tally.armed = True
    call_site(Handler().get, 2)                  # armed: kept in C
    assert type(recorder_of(engine, "Handler.get", ns)).__name__ == "Recorder"
    [first] = woken
    pending, held = tally.take()
    assert [c.argvalues["number"] for c in [first] + pending + other] == [1, 2, 1, 2]
    assert first.id == "" and sum(map(len, engine.store.queues.values())) == 2    # queued, no id yet
