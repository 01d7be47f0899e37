"""dap.variables and dap.client against the real torna_trace demo: what VS Code / dap-mode show
while a request is held at a gutter breakpoint -- sets whose elements' ``__repr__`` raises, a big
list expanded by a client that does not page (dap-mode), paged chunks (VS Code), a breakpoint on
an ``except`` line of the sync ``respond``."""

from __future__ import annotations

import concurrent.futures

import pytest

from tests.dap.test_dap_demo import DEMO, HOLD_LINE, get, line_of, set_bps, unsafe
from tests.dap.test_dap_demo import dap  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(60)

BAD_SET = 'set(type("Bad", (), {"__repr__": lambda s: 1 / 0})() for _ in range(3))'


def _held_frame(demo, dap, number: str):
    """(pool future of the held GET, thread id, top frame id) for a request held at HOLD_LINE."""
    [bp] = set_bps(dap, {"line": HOLD_LINE})
    assert bp["verified"]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    held = pool.submit(get, demo, f"?number={number}", 30)
    pool.shutdown(wait=False)
    thread_id = dap.wait_event("stopped", lambda b: b["reason"] == "breakpoint")["threadId"]
    frame = dap.request("stackTrace", {"threadId": thread_id})["stackFrames"][0]["id"]
    return held, thread_id, frame


def test_unrepresentable_set_elements_and_big_unpaged_lists(demo, dap):
    held, thread_id, frame = _held_frame(demo, dap, "31")
    try:
        with unsafe(demo):
            bad = dap.request("evaluate", {"expression": BAD_SET, "frameId": frame, "context": "repl"})
            assert bad["type"] == "set" and bad["variablesReference"] > 0
            kids = dap.request("variables", {"variablesReference": bad["variablesReference"]})["variables"]
            assert [k["name"] for k in kids] == ["0", "1", "2"]
            assert all(k["value"] == "<unrepresentable Bad: division by zero>" for k in kids)

            big = dap.request("evaluate", {"expression": "list(range(5000))", "frameId": frame, "context": "watch"})
        assert big["variablesReference"] > 0
        unpaged = dap.request("variables", {"variablesReference": big["variablesReference"]})["variables"]
        assert len(unpaged) == 1001 and unpaged[999]["name"] == "999" and unpaged[999]["value"] == "999"
        assert unpaged[-1]["variablesReference"] == 0 and unpaged[-1]["value"].startswith("4000 more: ")
        chunk = dap.request("variables", {"variablesReference": big["variablesReference"], "filter": "indexed",
                                          "start": 4990, "count": 100})["variables"]
        assert [(v["name"], v["value"]) for v in chunk] == [(str(i), str(i)) for i in range(4990, 5000)]
    finally:
        dap.request("continue", {"threadId": thread_id})
    assert "reciprocal of 31.0" in held.result(10)


def test_breakpoint_on_an_except_line_fires_in_its_handler(demo, dap):
    except_line = line_of("except ValueError:")
    [bp] = set_bps(dap, {"line": except_line})
    assert bp["verified"] and bp["line"] == except_line + 1 and bp["message"].startswith("snapshot")
    mark = len(dap.events)
    assert "'abc' is not a number" in get(demo, "?number=abc")
    out = dap.wait_event("output", lambda b: f"snapshot_respond_{except_line + 1}" in b["output"], after=mark)
    assert out["line"] == except_line + 1 and out["source"]["path"] == DEMO
    [first] = set_bps(dap, {"line": line_of("def respond")})      # the def line: past the docstring
    assert first["line"] == line_of("value = float(number)") - 1   # the `try:` statement


def test_debug_console_runs_statements_and_watch_does_not(demo, dap):
    held, thread_id, frame = _held_frame(demo, dap, "32")
    try:
        refused = dap.request_raw("evaluate", {"expression": "doubled = number * 2", "frameId": frame, "context": "repl"})
        assert not refused["success"] and "safe mode" in refused["message"]       # safe_mode True: refused
        with unsafe(demo):
            done = dap.request("evaluate", {"expression": "doubled = number * 2; print('set', doubled)",
                                            "frameId": frame, "context": "repl"})
            assert done == {"result": "set 3232", "variablesReference": 0}
            assert dap.request("evaluate", {"expression": "doubled", "frameId": frame, "context": "repl"})["result"] == "'3232'"
            watch = dap.request_raw("evaluate", {"expression": "other = 1", "frameId": frame, "context": "watch"})
            assert not watch["success"] and "statements" in watch["message"]      # a watch never assigns
    finally:
        dap.request("continue", {"threadId": thread_id})
    assert "reciprocal of 32.0" in held.result(10)


def test_two_clients_each_see_only_their_own_breakpoint_ids(demo, dap):
    other = demo.dap_client()
    try:
        [mine] = set_bps(dap, {"line": HOLD_LINE})
        [theirs] = set_bps(other, {"line": line_of('Request_stats["path"] = self.request.uri')})
        mark_a, mark_b = len(dap.events), len(other.events)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            held = pool.submit(get, demo, "?number=33", 30)
            first_a = dap.wait_event("stopped", after=mark_a)
            first_b = other.wait_event("stopped", after=mark_b)
            assert first_a["threadId"] == first_b["threadId"]
            assert first_b["hitBreakpointIds"] == [theirs["id"]] and "hitBreakpointIds" not in first_a
            other.request("continue", {"threadId": first_b["threadId"]})          # on to the next breakpoint
            second = dap.wait_event("stopped", lambda b: b["threadId"] != first_a["threadId"], after=mark_a)
            assert second["hitBreakpointIds"] == [mine["id"]]
            other.request("disconnect", {})                                     # its breakpoint goes, the hold stays
            assert other.wait_closed()
            assert [t["id"] for t in dap.request("threads")["threads"]] == [second["threadId"]]
            dap.request("continue", {"threadId": second["threadId"]})
            assert "reciprocal of 33.0" in held.result(10)
    finally:
        other.close()


def test_a_frame_of_a_resumed_request_says_so(demo, dap):
    reply = dap.request_raw("evaluate", {"expression": "1", "frameId": 424242, "context": "hover"})
    assert not reply["success"] and reply["message"] == "no frame 424242: no held request has it (it was resumed?)"
    reply = dap.request_raw("scopes", {"frameId": 424242})
    assert not reply["success"] and reply["message"] == "no frame 424242: no held request has it (it was resumed?)"
