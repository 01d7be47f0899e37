"""Engine events reach the control thread only while an editor is connected: the language server
and the DAP endpoint subscribe at a client's accept and unsubscribe when the last one leaves, so
with nobody connected a hold, a resume or a traced call costs the control thread nothing; and a
chatty trace is told to editors at most CONTEXTS_PER_SECOND contexts at a time, the rest summed up.
Real demo app on 127.0.0.1, otrace started in this process, real LSP and DAP TCP connections."""

from __future__ import annotations


import asyncio
import collections
import sys
import threading
import time
import types

import pytest

import otrace_server
from otrace_server.control.framing import encode
from otrace_server.control.throttle import CONTEXTS_PER_SECOND, Throttle, context_line
from otrace_server.core import quickrecord
from otrace_server.lsp.server import trace_event
from tests.dap.dapclient import DapClient
from tests.lsp.rpc import Client
from tests.support.waiting import wait_for
from tests.tornado_holds.demo_server import DEMO_PATH, DemoServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def started():
    server = DemoServer()
    app = otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=True,
                              trace_active=True)
    try:
        yield server, app
    finally:
        app.stop()
        server.stop()
        app.engine.tracer.untrace_all()
        app.engine.settings.set("trace_active", False)


def hold_line() -> int:
    """0-based line of the demo's hold."""
    return next(i for i, text in enumerate(DEMO_PATH.read_text().splitlines()) if 'label="hold_check"' in text)


def test_events_are_subscribed_only_while_an_editor_is_connected(started):
    server, app = started
    engine = app.engine
    assert app.lsp_port and app.dap_port
    assert not engine.events.has_subscribers        # both endpoints listen; nobody is connected
    site = (str(DEMO_PATH), hold_line() + 1)
    before = engine.site_counts().get(site, {}).get("holds", 0)   # the process's engine: earlier tests count

    first = server.get_in_thread("?number=77")      # held with no editor connected
    wait_for(lambda: len(engine.holds) == 1, what="the first hold")
    assert not engine.events.has_subscribers
    assert engine.site_counts()[site] == {"holds": before + 1}

    lsp = Client(app.lsp_port)
    lsp.initialize(app.token)
    assert engine.events.has_subscribers
    uri = DEMO_PATH.as_uri()
    lsp.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": DEMO_PATH.read_text()}})
    lenses = lsp.request("textDocument/codeLens", {"textDocument": {"uri": uri}})
    [count] = [lens["command"]["title"] for lens in lenses
               if lens["range"]["start"]["line"] == hold_line() and lens["command"]["command"] == "otrace.showTraces"]
    held = before + 1                                 # counted before the editor connected
    assert count == f"traceassert: 0 violations, {held} hold{'s' * (held != 1)}"

    second = server.get_in_thread("?number=77")     # now the editor hears of it
    started_hold = lsp.wait_notification("otrace/holdStarted")
    assert started_hold["id"] != engine.holds.list()[0].id

    dap = DapClient(app.dap_port)
    dap.attach(app.token)
    lsp.close()
    wait_for(lambda: not app._lsp.endpoint.clients, what="the language server to see its client leave")
    assert engine.events.has_subscribers            # the DAP client still listens
    dap.close()
    wait_for(lambda: not engine.events.has_subscribers, what="the last editor's subscription to end")

    engine.resume()                                 # no editor: nothing published, both answered
    for pending in (first, second):
        wait_for(lambda: pending.result is not None or pending.error is not None, what="the held response")
        assert pending.result[0] == 200 and "The reciprocal of 77.0 is 0.0129" in pending.result[2]
    assert engine.site_counts()[site] == {"holds": before + 2}


def test_a_chatty_trace_reaches_editors_as_a_few_notifications_and_one_summary(started):
    server, app = started
    lsp = Client(app.lsp_port)
    lsp.initialize(app.token)
    dap = DapClient(app.dap_port)
    dap.attach(app.token)
    assert lsp.request("otrace/command", {"line": "trace -c call GetHandler.respond"})["error"] is False
    n = 3 * CONTEXTS_PER_SECOND
    for _ in range(n):                                # 150 recorded contexts in a burst
        assert server.demo.GetHandler.respond(None, "4").startswith("The reciprocal of 4.0")
    summary = lsp.wait_notification("otrace/traceEvent", lambda p: "more in the last second" in p["message"])
    events = [m["params"] for m in lsp.notifications if m.get("method") == "otrace/traceEvent"]
    assert len(events) == CONTEXTS_PER_SECOND          # one by one; the summary was taken out above
    assert all(e["kind"] == "traces" and e["traceId"].startswith("GetHandler.respond:") for e in events)
    assert summary["kind"] == "traces" and summary["line"] > 0
    assert f"(and {n - CONTEXTS_PER_SECOND - 1:,} more in the last second" in summary["message"]
    newest = app.engine.store.recent("traces")[-1]
    assert summary["traceId"] == newest.id             # the summary names the newest context

    def outputs():
        return [e["body"]["output"] for e in dap.events
                if e.get("event") == "output" and "GetHandler.respond:" in e["body"]["output"]]

    wait_for(lambda: any("more in the last second" in o for o in outputs()), what="the DAP summary")
    assert len(outputs()) == CONTEXTS_PER_SECOND + 1
    lsp.close()
    dap.close()


def test_with_an_editor_connected_traced_calls_are_recorded_from_c_and_told_through_the_throttle(started):
    """An editor is a feed of the engine's bus, not a subscriber that wants every context: a traced
    call is queued by the C recorder as with no editor (``Engine.record`` is never called, no
    Python frame but the throttle's own path for the first call of a window; without the
    accelerator, the tracer's Python path queues it too), and the editor is
    told the first CONTEXTS_PER_SECOND of each window one by one and the rest in one summary
    whose count is exact."""
    server, app = started
    engine = app.engine
    lsp = Client(app.lsp_port)
    lsp.initialize(app.token)
    assert engine.events.feeds and not engine.events.wants_contexts
    assert lsp.request("otrace/command", {"line": "trace -c call GetHandler.respond"})["error"] is False
    recorded = []
    engine.record = lambda ctx, record=engine.record: record(recorded.append(ctx) or ctx)
    frames = collections.Counter()

    def profile(frame, event, arg):
        if event == "call":
            frames[frame.f_code.co_name] += 1

    def burst(n):
        sys.setprofile(profile)
        try:
            for _ in range(n):
                server.demo.GetHandler.respond(None, "4")
        finally:
            sys.setprofile(None)

    def summaries():
        return [m["params"] for m in lsp.notifications
                if m.get("method") == "otrace/traceEvent" and "more in the last second" in m["params"]["message"]]

    burst(120)
    wait_for(lambda: len(summaries()) == 1, what="the first window's summary")
    burst(80)                                           # a new window: the first one has closed
    wait_for(lambda: len(summaries()) == 2, what="the second window's summary")
    try:
        assert recorded == []                           # never Engine.record: queued, as with no editor
        assert frames["respond"] == 200
        if quickrecord.Tally is not quickrecord._Tally:   # the C accelerator: no Python frame of otrace's
            assert frames["on_call"] == 0 and frames["record_later"] == 0
            # the throttle woken by the C recorder once for the first window; the second opened at
            # the first's end (a full one: the stream went on), armed: woken again only if this
            # thread was slower than a delivery interval to start the second burst
            assert 1 <= frames["admit"] <= 2
        events = [m["params"] for m in lsp.notifications if m.get("method") == "otrace/traceEvent"]
        assert len(events) == 2 * CONTEXTS_PER_SECOND + 2
        one_by_one = [e for e in events if "more in the last second" not in e["message"]]
        assert len({e["traceId"] for e in events}) == len(events)      # each its own context, each with its id
        assert all(e["traceId"].startswith("GetHandler.respond:tr-call:") for e in events)
        assert [s["message"].split("(and ")[1].split(" more")[0] for s in summaries()] == [
            str(120 - CONTEXTS_PER_SECOND - 1), str(80 - CONTEXTS_PER_SECOND - 1)]
        assert len(one_by_one) == 2 * CONTEXTS_PER_SECOND
        assert summaries()[-1]["traceId"] == engine.store.recent("traces")[-1].id   # read: the same id
    finally:
        del engine.record
        lsp.close()


def test_at_100_calls_a_second_an_editor_is_told_the_first_at_once_50_one_by_one_and_a_summary(started):
    """The holds bench's contexts case (a traced function called 100 times a second): a window
    tells its first context at once, then CONTEXTS_PER_SECOND one by one in deliveries every
    FLUSH_INTERVAL, then one summary counting the rest exactly; each notification names its own
    context (id, kind, file and line in the source, message), in the order recorded."""
    server, app = started
    lsp = Client(app.lsp_port)
    lsp.initialize(app.token)
    assert lsp.request("otrace/command", {"line": "trace -c call GetHandler.respond"})["error"] is False
    respond = server.demo.GetHandler.respond

    def call():                                         # where the contexts say they were recorded
        respond(None, "4")

    def told():
        return [m["params"] for m in lsp.notifications if m.get("method") == "otrace/traceEvent"]

    def more(event):                                    # how many others a notification sums up
        return int(event["message"].split("(and ")[1].split(" more")[0]) if "(and " in event["message"] else 0

    call()                                              # the first of a window: told at once
    wait_for(lambda: told(), what="the first context's notification")
    start, n = time.monotonic(), 1
    while n < 150:                                      # then 100 a second: a window and a half
        call()
        n += 1
        time.sleep(max(0.0, start + n / 100 - time.monotonic()))
    wait_for(lambda: sum(1 + more(e) for e in told()) == n, what="every call told or counted")
    try:
        events = told()
        summary = next(i for i, e in enumerate(events) if more(e))
        assert summary == CONTEXTS_PER_SECOND                 # the first window: 50 one by one, then its sum
        assert "more in the last second, not sent one by one: ls /osh/recent)" in events[summary]["message"]
        assert len({e["traceId"] for e in events}) == len(events)
        for e in events:
            assert e["kind"] == "traces" and e["traceId"].startswith("GetHandler.respond:tr-call:")
            assert (e["file"], e["line"]) == (__file__, call.__code__.co_firstlineno + 1)
            assert e["message"].split("  (and ")[0] == e["traceId"]
        stamps = [e["traceId"].rsplit(":", 1)[1].split(".") for e in events]     # HH-MM-SS[.n]
        order = [(s[0], int(s[1]) if len(s) > 1 else 0) for s in stamps]
        assert order[:summary + 1] == sorted(order[:summary + 1])               # in the order recorded
    finally:
        lsp.close()


def test_a_trace_event_is_the_bytes_framing_encode_makes_of_its_notification():
    ctx = types.SimpleNamespace(id='f\u00e9:tr-call:12-00-00.3 "x"', ctype="exceptions", exc_type="KeyError",
                                exc_message="\x1b[2J\n\u202e\U0001f600 \\ '")
    for position, more in ((('/tmp/a "b"/\u00e9\u2028.py', 12), 0), (("", 0), 1234), (("/x.py", None), 0)):
        params = {"traceId": ctx.id, "kind": ctx.ctype, "file": position[0], "line": position[1],
                  "message": context_line(ctx, more)}
        assert trace_event(ctx, position, more) == encode({"jsonrpc": "2.0", "method": "otrace/traceEvent",
                                                           "params": params})


class LoopThread:
    """An event loop on its own thread (the control loop's stand-in); ``crossings`` counts the
    wake-ups the throttle asked for."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.crossings = 0

    def schedule(self, fn) -> None:
        self.crossings += 1
        self.loop.call_soon_threadsafe(fn)

    def call(self, fn):
        return asyncio.run_coroutine_threadsafe(asyncio.sleep(0, fn()), self.loop).result(5)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_throttle_admits_a_burst_then_sums_up_the_rest_once_per_window():
    control = LoopThread()
    delivered, summaries = [], []
    throttle = Throttle(3, 0.3, lambda item: delivered.append((item, threading.current_thread())),
                        lambda count, last: summaries.append((count, last, time.monotonic())),
                        control.schedule, interval=0.05)
    try:
        start = time.monotonic()
        assert [throttle.admit(i) for i in range(10)] == [True] * 3 + [False] * 7   # on this thread
        wait_for(lambda: summaries, 5, what="the summary")
        assert [item for item, _ in delivered] == [0, 1, 2]
        assert {thread for _, thread in delivered} == {control.thread}            # on the control loop
        assert [(count, last) for count, last, _ in summaries] == [(7, 9)]
        assert summaries[0][2] - start >= 0.3
        assert control.crossings == 1                                             # one wake-up asked for
        assert [throttle.admit(i) for i in range(3)] == [True] * 3                # a new window
        time.sleep(0.5)                                                           # a whole window passes ...
        assert len(summaries) == 1                                                # nothing held back: no summary
        assert [throttle.admit(i) for i in range(5)] == [True] * 3 + [False] * 2
        control.call(throttle.cancel)                                             # e.g. the endpoint stops
        time.sleep(0.5)                                                           # a whole window passes ...
        assert len(summaries) == 1 and throttle.admit("x") is True                # ... with no summary
        failing = Throttle(0, 0.01, delivered.append, lambda count, last: 1 / 0, control.schedule)   # logged
        assert failing.admit(1) is False
        time.sleep(0.1)
        assert failing.admit(2) is False                                          # and the throttle goes on
    finally:
        control.close()


def test_throttle_wakes_the_control_loop_a_few_times_a_window_not_once_per_item():
    control = LoopThread()
    delivered = []
    throttle = Throttle(50, 1.0, delivered.append, lambda count, last: delivered.append(("summary", count)),
                        control.schedule, interval=0.2)
    flushes = 0
    flush = throttle._flush

    def counted(generation):
        nonlocal flushes
        flushes += 1
        flush(generation)

    throttle._flush = counted
    try:
        start, n = time.monotonic(), 0
        while time.monotonic() < start + 0.9:         # ~100 items a second, within one window
            throttle.admit(n)
            n += 1
            time.sleep(0.01)
        assert n > 55
        wait_for(lambda: delivered and delivered[-1] == ("summary", n - 50), 5, what="the summary")
        assert delivered[:-1] == list(range(50))      # in order, the first 50 of the window
        assert flushes <= 8, flushes                  # ~5 (one every 0.2 s), not 50 or 100
        before = flushes
        throttle.admit("lone")                        # a lone item after a full window: in its next delivery
        wait_for(lambda: "lone" in delivered, 0.5, what="the lone item")
        time.sleep(0.4)
        assert flushes - before == 2                  # its delivery, and one finding nothing more
    finally:
        control.close()


def test_a_full_window_opens_the_next_at_its_end_without_a_crossing_a_quiet_one_does_not():
    control = LoopThread()
    delivered, summaries = [], []
    throttle = Throttle(3, 0.3, delivered.append, lambda count, last: summaries.append((count, last)),
                        control.schedule, interval=0.05)
    try:
        assert [throttle.admit(i) for i in range(5)] == [True] * 3 + [False] * 2   # a full window
        wait_for(lambda: summaries, 5, what="the summary")
        assert summaries == [(2, 4)] and control.crossings == 1
        assert [throttle.admit(i) for i in (5, 6, 7, 8)] == [True] * 3 + [False]  # the next window, open
        wait_for(lambda: delivered == [0, 1, 2, 5, 6, 7], 5, what="the next window's items")
        assert control.crossings == 1                  # delivered by the throttle's own timer
        wait_for(lambda: len(summaries) == 2, 5, what="the second summary")
        time.sleep(0.5)                                # a quiet window: nothing held, it closes
        assert summaries == [(2, 4), (1, 8)]
        assert throttle.admit(9) is True               # after a quiet spell: at once, one crossing
        wait_for(lambda: delivered[-1] == 9, 5, what="the lone item")
        assert control.crossings == 2
    finally:
        control.close()


def test_throttle_ends_each_delivery_with_done_once_after_its_items_and_summary():
    control = LoopThread()
    seen = []
    throttle = Throttle(3, 0.3, seen.append, lambda count, last: seen.append(("summary", count, last)),
                        control.schedule, interval=0.05, done=lambda: seen.append("done"))
    try:
        assert throttle.admit(0) is True
        wait_for(lambda: "done" in seen, 5, what="the first delivery")
        assert seen == [0, "done"]                       # the first at once, then its end
        assert [throttle.admit(i) for i in (1, 2, 3, 4)] == [True, True, False, False]
        wait_for(lambda: ("summary", 2, 4) in seen, 5, what="the summary")
        time.sleep(0.1)
        assert seen == [0, "done", 1, 2, "done", ("summary", 2, 4), "done"]   # nothing delivered: no done
    finally:
        control.close()


def test_a_context_line_shows_an_application_exception_message_escaped_on_one_line():
    ctx = types.SimpleNamespace(id="get:ex-x:12-00-00", exc_type="ValueError", exc_message="\x1b[2J\nFAKE\u202e")
    assert context_line(ctx) == "get:ex-x:12-00-00  ValueError: \\x1b[2J\\nFAKE\\u202e"


def test_a_burst_of_hold_changes_is_told_in_few_notifications_and_one_lens_refresh(started):
    server, app = started
    lsp = Client(app.lsp_port)
    lsp.initialize(app.token, capabilities={"workspace": {"codeLens": {"refreshSupport": True}}})
    pending = [server.get_in_thread("?number=77") for _ in range(20)]
    wait_for(lambda: len(app.engine.holds) == 20, what="20 holds")
    wait_for(lambda: len([n for n in lsp.notifications if n["method"] == "otrace/holdStarted"]) == 20,
             what="20 holdStarted notifications")

    def lenses_refreshed_after_the_last_start():        # the refresh that covers every start is in
        starts = 0
        for message in lsp.messages:
            if message.get("method") == "otrace/holdStarted":
                starts += 1
            elif message.get("method") == "workspace/codeLens/refresh" and starts == 20:
                return True
        return False

    wait_for(lenses_refreshed_after_the_last_start, what="the code lens refresh of the 20 starts")
    lsp.requests_from_server.clear()
    ids = {h.id for h in app.engine.holds.list()}
    app.engine.resume()                                # 20 hold_resumed events at once

    def told():                                        # every resumed id, whichever form told it
        out = []
        for n in lsp.notifications:
            if n["method"] == "otrace/holdResumed":
                out.append(n["params"]["id"])
            elif n["method"] == "otrace/holdsResumed":
                out += [h["id"] for h in n["params"]["holds"]]
        return out

    wait_for(lambda: sorted(told()) == sorted(ids), what="the 20 resumed holds told")
    time.sleep(0.3)                                    # a window in which no hold may be told twice
    assert len(told()) == 20                           # each once
    batches = [n for n in lsp.notifications if n["method"] in ("otrace/holdResumed", "otrace/holdsResumed")]
    assert len(batches) < 20                           # in a few notifications, not one per hold
    assert all(h["outcome"] == {"kind": "continue", "description": "resumed"}
               for n in batches if n["method"] == "otrace/holdsResumed" for h in n["params"]["holds"])
    refreshes = [r for r in lsp.requests_from_server if r["method"] == "workspace/codeLens/refresh"]
    assert len(refreshes) == 1
    for p in pending:
        wait_for(lambda: p.result is not None, what="the held response")
        assert p.result[0] == 200
    lsp.close()


def test_resuming_many_holds_is_one_engine_event_and_every_front_end_sees_each(started):
    """One ``holds_resumed`` event for a resume of 30 holds: the language server tells all their ids
    in one ``otrace/holdsResumed``, the DAP client gets continued + exited for each thread, and a
    console prints a line for each."""
    from otrace_server.console.render import format_event

    server, app = started
    engine = app.engine
    lsp = Client(app.lsp_port)
    lsp.initialize(app.token)
    dap = DapClient(app.dap_port)
    dap.attach(app.token)
    events = []
    unsubscribe = engine.events.subscribe(lambda e: e.kind.startswith("hold") and events.append(e))
    try:
        pending = [server.get_in_thread("?number=77") for _ in range(30)]
        wait_for(lambda: len(engine.holds) == 30, what="30 holds")
        holds = engine.holds.list()
        ids = {h.id for h in holds}
        del events[:]
        assert len(engine.resume()) == 30
        assert [e.kind for e in events] == ["holds_resumed"]
        assert {h.id for h in events[0].data["holds"]} == ids
        assert sorted(format_event(events[0]).splitlines()) == sorted(f"{i} resumed" for i in ids)
        wait_for(lambda: [n for n in lsp.notifications if n["method"] == "otrace/holdsResumed"],
                 what="otrace/holdsResumed")
        told = [n for n in lsp.notifications if n["method"] in ("otrace/holdResumed", "otrace/holdsResumed")]
        assert len(told) == 1 and {h["id"] for h in told[0]["params"]["holds"]} == ids
        for hold in holds:
            dap.wait_event("thread", lambda b, n=hold.number: b["reason"] == "exited" and b["threadId"] == n)
        continued = {e["body"]["threadId"] for e in dap.events if e.get("event") == "continued"}
        assert {h.number for h in holds} <= continued
        for p in pending:
            wait_for(lambda: p.result is not None, what="the held response")
    finally:
        unsubscribe()
        lsp.close()
        dap.close()
