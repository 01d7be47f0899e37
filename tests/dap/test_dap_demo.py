"""The DAP endpoint against the real torna_trace demo process, driven by a raw DAP client."""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.dap.dapclient import DapClient
from tests.lsp.conftest import ROOT
from tests.lsp.rpc import Client
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

DEMO = str((ROOT / "demos" / "torna_trace.py").resolve())
SOURCE = Path(DEMO).read_text().splitlines()


def line_of(text: str) -> int:
    """1-based line of the first demo line containing ``text``."""
    return next(i + 1 for i, line in enumerate(SOURCE) if text in line)


HOLD_LINE = line_of('replacement = await traceassert(number != "77"')   # reached only with a number
RESPOND_LINE = line_of("value = float(number)")                             # in the sync respond()


def get(demo, query: str = "", timeout: float = 10.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{demo.http}/{query}", timeout=timeout) as r:
        return r.read().decode()


def set_bps(client: DapClient, *bps: dict) -> list[dict]:
    return client.request("setBreakpoints", {"source": {"path": DEMO}, "breakpoints": list(bps)})["breakpoints"]


@pytest.fixture
def dap(demo):
    client = demo.dap_client()
    yield client
    if not client.closed:
        set_bps(client)
        client.request_raw("disconnect", {})
    client.close()


def test_port_in_discovery_and_lsp_initialize(demo):
    assert isinstance(demo.dap, int) and demo.dap > 0
    lsp = Client(demo.lsp)
    demo.clients.append(lsp)
    result = lsp.initialize(demo.token, name="dap-port-check")
    assert result["otrace"]["dapPort"] == demo.dap


def test_attach_needs_the_token(demo):
    none = DapClient(demo.dap)
    none.request("initialize", {"adapterID": "otrace"})
    reply = none.request_raw("attach", {})
    assert not reply["success"] and "token" in reply["message"]
    assert none.wait_closed()
    wrong = DapClient(demo.dap)
    reply = wrong.request_raw("attach", {"token": "not-the-token"})
    assert not reply["success"] and "invalid token" in reply["message"]
    assert wrong.wait_closed()
    odd = DapClient(demo.dap)                                  # a lone surrogate: refused, not a crash
    reply = odd.request_raw("attach", {"token": "\ud800"})
    assert not reply["success"] and "invalid token" in reply["message"]
    assert odd.wait_closed()
    early = DapClient(demo.dap)
    reply = early.request_raw("threads")
    assert not reply["success"] and "not attached" in reply["message"]
    assert early.wait_closed()
    right = demo.dap_client()
    assert right.request("threads") == {"threads": []}
    right.request("disconnect", {})


def test_breakpoint_holds_one_request_while_others_complete(demo, dap):
    [bp] = set_bps(dap, {"line": HOLD_LINE})
    assert bp["verified"] and bp["line"] == HOLD_LINE and "live hold" in bp["message"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=9) as pool:
        held = pool.submit(get, demo, "?number=5", 20)
        stopped = dap.wait_event("stopped")
        assert stopped["reason"] == "breakpoint" and stopped["allThreadsStopped"] is False
        thread_id = stopped["threadId"]
        dap.wait_event("thread", lambda b: b["reason"] == "started" and b["threadId"] == thread_id)
        others = [pool.submit(get, demo, "", 10) for _ in range(100)]
        assert all("Find reciprocal" in f.result(15) for f in others)
        assert not held.done()
        [thread] = dap.request("threads")["threads"]
        assert thread["id"] == thread_id and thread["name"].startswith("GET /?number=5 from 127.0.0.1 · bp_get_")

        frames = dap.request("stackTrace", {"threadId": thread_id})["stackFrames"]
        top = frames[0]
        assert top["name"] == "get" and top["line"] == HOLD_LINE and top["source"]["path"] == DEMO
        scopes = dap.request("scopes", {"frameId": top["id"]})["scopes"]
        assert [s["name"] for s in scopes] == ["Locals", "Globals", "otrace"]
        local_vars = dap.request("variables", {"variablesReference": scopes[0]["variablesReference"]})["variables"]
        assert {"name": "number", "value": "'5'", "type": "str", "variablesReference": 0} in local_vars
        info = dap.request("variables", {"variablesReference": scopes[2]["variablesReference"]})["variables"]
        assert any(v["name"] == "traceId" and "GetHandler.get:hd-bp_get_" in v["value"] for v in info)
        assert {"name": "request", "value": "'GET /?number=5 from 127.0.0.1'", "type": "str",
                "variablesReference": 0} in info                     # the summary's one-line text
        result = dap.request("evaluate", {"expression": "number * 2", "frameId": top["id"], "context": "repl"})
        assert result["result"] == "'55'" and result["type"] == "str"
        hover = dap.request("evaluate", {"expression": "self.request.uri", "frameId": top["id"], "context": "hover"})
        assert hover["result"] == "'/?number=5'"

        assert dap.request("continue", {"threadId": thread_id}) == {"allThreadsContinued": False}
        assert "The reciprocal of 5.0 is 0.2" in held.result(10)
    dap.wait_event("continued", lambda b: b["threadId"] == thread_id and b["allThreadsContinued"] is False)
    dap.wait_event("thread", lambda b: b["reason"] == "exited" and b["threadId"] == thread_id)
    assert dap.request("threads") == {"threads": []}


def test_variables_are_lazy_and_paged(demo, dap):
    set_bps(dap, {"line": HOLD_LINE})
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(get, demo, "?number=6", 20)
        thread_id = dap.wait_event("stopped")["threadId"]
        top = dap.request("stackTrace", {"threadId": thread_id})["stackFrames"][0]
        glob = dap.request("scopes", {"frameId": top["id"]})["scopes"][1]
        everything = dap.request("variables", {"variablesReference": glob["variablesReference"]})["variables"]
        page = dap.request("variables", {"variablesReference": glob["variablesReference"], "start": 2, "count": 3})
        assert [(v["name"], v["value"]) for v in page["variables"]] == [(v["name"], v["value"]) for v in everything[2:5]]
        stats = next(v for v in everything if v["name"] == "Request_stats")
        assert stats["variablesReference"] > 0 and stats["namedVariables"] == 2
        kids = dap.request("variables", {"variablesReference": stats["variablesReference"]})["variables"]
        assert [k["name"] for k in kids] == ["'count'", "'path'"]
        dap.request("continue", {"threadId": thread_id})
        held.result(10)
    stale = dap.request_raw("variables", {"variablesReference": stats["variablesReference"]})
    assert not stale["success"] and "resumed" in stale["message"]


def _safe_mode(demo, on: bool) -> None:
    line = f"set safe_mode {on}"
    assert demo.client("settings").request("otrace/command", {"line": line})["error"] is False


@contextlib.contextmanager
def unsafe(demo):
    """safe_mode False in the demo for the block, True again after it (whatever happens)."""
    _safe_mode(demo, False)
    try:
        yield
    finally:
        _safe_mode(demo, True)


def test_safe_mode_refuses_breakpoints_that_run_code(demo, dap):
    plain, cond, log = set_bps(dap, {"line": HOLD_LINE}, {"line": HOLD_LINE + 1, "condition": "number == 1"},
                               {"line": HOLD_LINE + 2, "logMessage": "{number}"})
    assert plain["verified"]                                      # a live hold runs no user code
    for refused in (cond, log):
        assert not refused["verified"] and "safe_mode" in refused["message"]
    set_bps(dap)
    assert demo.client("patches").request("otrace/command", {"line": "ls /osh/patches"})["output"] == ""


def test_conditional_and_hit_count_breakpoints(demo, dap):
    with unsafe(demo):
        _conditional_and_hit_count(demo, dap)


def _conditional_and_hit_count(demo, dap):
    [bp] = set_bps(dap, {"line": HOLD_LINE, "condition": 'number == "7"'})
    assert bp["verified"] and 'when number == "7"' in bp["message"]
    assert "reciprocal of 3.0" in get(demo, "?number=3")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(get, demo, "?number=7", 20)
        thread_id = dap.wait_event("stopped")["threadId"]
        dap.request("continue", {"threadId": thread_id})
        assert "reciprocal of 7.0" in held.result(10)
    mark = len(dap.events)
    set_bps(dap, {"line": HOLD_LINE, "hitCondition": "2"})
    assert "reciprocal of 8.0" in get(demo, "?number=8")          # first hit: goes on
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(get, demo, "?number=9", 20)             # second hit: held
        thread_id = dap.wait_event("stopped", after=mark)["threadId"]
        top = dap.request("stackTrace", {"threadId": thread_id})["stackFrames"][0]
        assert dap.request("evaluate", {"expression": "number", "frameId": top["id"]})["result"] == "'9'"
        dap.request("continue", {"threadId": thread_id})
        assert "reciprocal of 9.0" in held.result(10)
    assert "reciprocal of 4.0" in get(demo, "?number=4")           # third hit: goes on


def test_logpoint_writes_to_the_console_and_never_stops(demo, dap):
    with unsafe(demo):
        _logpoint(demo, dap)


def _logpoint(demo, dap):
    [bp] = set_bps(dap, {"line": HOLD_LINE, "logMessage": "number is {number}, twice {number * 2}"})
    assert bp["verified"] and "logpoint" in bp["message"]
    mark = len(dap.events)
    assert "reciprocal of 21.0" in get(demo, "?number=21")
    out = dap.wait_event("output", lambda b: "number is" in b["output"], after=mark)
    assert out["output"] == "number is 21, twice 2121\n" and out["category"] == "console"
    assert not any(e.get("event") == "stopped" for e in dap.events[mark:])


def test_snapshot_in_a_sync_function_does_not_stop(demo, dap):
    [bp] = set_bps(dap, {"line": RESPOND_LINE})
    assert bp["verified"] and bp["message"].startswith("snapshot") and bp["line"] == RESPOND_LINE
    mark = len(dap.events)
    assert "reciprocal of 2.0" in get(demo, "?number=2")
    out = dap.wait_event("output", lambda b: "snapshot_respond" in b["output"], after=mark)
    assert re.match(r"otrace: GetHandler\.respond:tr-snapshot_respond_\d+:", out["output"])
    assert out["line"] == RESPOND_LINE and out["source"]["path"] == DEMO
    assert not any(e.get("event") == "stopped" for e in dap.events[mark:])
    lsp = demo.client("snapshot-check")
    traces = lsp.request("otrace/traces", {"ctype": "traces"})["traces"]
    snap = [t for t in traces if t["label"].startswith("snapshot_respond")][-1]
    ctx = lsp.request("otrace/context", {"traceId": snap["traceId"]})
    assert {"name": "number", "repr": "'2'", "type": "str"} in ctx["variables"]


def test_unverified_breakpoints_say_why(demo, dap):
    results = set_bps(dap, {"line": 1})
    assert not results[0]["verified"] and "not in running code" in results[0]["message"]
    reply = dap.request("setBreakpoints", {"source": {"path": str(ROOT / "tests" / "dap" / "__init__.py")},
                                           "breakpoints": [{"line": 1}]})
    assert "not loaded in the running process" in reply["breakpoints"][0]["message"]
    with unsafe(demo):
        [bad] = set_bps(dap, {"line": HOLD_LINE, "condition": "number ==="})
    assert not bad["verified"] and "SyntaxError" in bad["message"]


def test_removing_breakpoints_unpatches(demo, dap):
    set_bps(dap, {"line": HOLD_LINE}, {"line": RESPOND_LINE})
    lsp = demo.client("patches-check")
    lsp.request("otrace/command", {"line": "cd /osh/patches"})
    listing = lsp.request("otrace/command", {"line": "ls"})["output"]
    assert "GetHandler.get" in listing and "GetHandler.respond" in listing
    assert set_bps(dap) == []
    listing = lsp.request("otrace/command", {"line": "ls"})["output"]
    assert "GetHandler" not in listing
    assert "reciprocal of 5.0" in get(demo, "?number=5", timeout=5)     # the next request is not held
    assert dap.request("threads") == {"threads": []}


def test_traced_exceptions_filter(demo, dap):
    set_bps(dap)
    reply = dap.request("setExceptionBreakpoints", {"filters": ["traced"]})
    assert "GetHandler.respond" in reply["breakpoints"][0]["message"]
    mark = len(dap.events)
    with pytest.raises(urllib.error.HTTPError):
        get(demo, "?number=0")
    out = dap.wait_event("output", lambda b: "ZeroDivisionError" in b["output"], after=mark)
    assert "GetHandler.respond:ex-ZeroDivisionError" in out["output"]
    dap.request("setExceptionBreakpoints", {"filters": []})
    lsp = demo.client("trace-check")
    assert "GetHandler.respond" not in lsp.request("otrace/command", {"line": "trace"})["output"]


def test_malformed_messages_get_errors_and_the_app_keeps_serving(demo, dap):
    dap.send_raw(b"Content-Length: 9\r\n\r\n{not json")
    dap.send({"seq": 50, "type": "event", "event": "bogus"})
    reply = dap.request_raw("pause", {"threadId": 1})
    assert not reply["success"] and "does not stop a running server" in reply["message"]
    assert not dap.request_raw("stackTrace", {"threadId": 999})["success"]
    assert not dap.request_raw("evaluate", {"expression": 5})["success"]
    assert not dap.request_raw("scopes", {"frameId": "x"})["success"]
    assert not dap.request_raw("terminate", {})["success"]
    assert not dap.request_raw("noSuchCommand", [1, 2])["success"]
    bad = [r for r in dap.responses.values() if not r["success"] and r["request_seq"] in (0, 50)]
    assert any("not valid JSON" in r["message"] for r in bad) and any("not a DAP request" in r["message"] for r in bad)
    assert dap.request("threads") == {"threads": []}                    # the session is still usable
    garbage = DapClient(demo.dap)
    garbage.send_raw(b"GET / HTTP/1.0\r\n\r\n")
    assert garbage.wait_closed()
    endless = DapClient(demo.dap)                              # a header line beyond the stream's limit
    endless.send_raw(b"X" * (200 * 1024))
    assert endless.wait_closed()
    assert "Find reciprocal" in get(demo)


def test_disconnect_leaves_the_app_serving(demo):
    client = demo.dap_client()
    set_bps(client, {"line": HOLD_LINE})
    assert client.request_raw("disconnect", {"terminateDebuggee": True})["success"]
    assert client.wait_closed()
    assert "reciprocal of 5.0" in get(demo, "?number=5", timeout=5)     # its breakpoints went with it
    assert demo.client("after-disconnect").request("otrace/command", {"line": "pwd"})["cwd"] == "/osh/globals"
    assert demo.dap_client().request("threads") == {"threads": []}


def test_hold_from_traceassert_is_a_thread_too(demo, dap):
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(get, demo, "?number=77", 20)
        stopped = dap.wait_event("stopped", lambda b: "hold_check" in b["text"])
        assert stopped["reason"] == "hold"
        top = dap.request("stackTrace", {"threadId": stopped["threadId"]})["stackFrames"][0]
        assert top["line"] == HOLD_LINE and top["source"]["path"] == DEMO
        dap.request("continue", {"threadId": stopped["threadId"]})
        assert "reciprocal of 77.0" in held.result(10)


def test_terminated_when_the_app_stops(tmp_path):
    from tests.dap.conftest import DemoProcess

    app = DemoProcess(tmp_path)
    try:
        client = app.dap_client()
        app.proc.stdin.close()            # the demo stops otrace, then exits
        client.wait_event("terminated", timeout=10)
        assert client.wait_closed()
        assert app.proc.wait(10) == 0
    finally:
        if app.proc.poll() is None:
            app.stop()


def test_a_slow_repr_never_stalls_the_control_plane(demo, dap, tmp_path):
    """evaluate runs the app's code (and its __repr__) in a worker: other clients are answered."""
    sleeping = tmp_path / "sleeping"                        # the repr creates it, then sleeps
    with unsafe(demo):
        slow = ('type("Slow", (), {"__repr__": lambda s: (open(%r, "w").close(), __import__("time").sleep(2),'
                ' "slow")[2]})()' % str(sleeping))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            answer = pool.submit(dap.request, "evaluate", {"expression": slow, "context": "repl"}, 10)
            wait_for(sleeping.exists, what="the repr sleeping")
            started = time.monotonic()
            lsp = demo.client("meanwhile")                  # connect + initialize + a request
            assert lsp.request("otrace/holds") == {"holds": []}
            assert time.monotonic() - started < 1.2
            assert answer.result(10)["result"] == "slow"
