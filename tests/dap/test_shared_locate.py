"""One mapping out of patched code for both endpoints (one demo process, an LSP and a DAP client):
positions inside functions patched by DAP breakpoints and by "Hold here live" are reported at the
source file and line by the language server and by the DAP endpoint alike."""

from __future__ import annotations

import concurrent.futures
import urllib.error
from pathlib import Path

import pytest

from tests.dap.test_dap_demo import DEMO, HOLD_LINE, RESPOND_LINE, get, line_of, set_bps

pytestmark = pytest.mark.timeout(60)

RAISE_LINE = line_of("{1.0 / value}")


@pytest.fixture
def dap(demo):
    client = demo.dap_client()
    yield client
    if not client.closed:
        set_bps(client)
        client.request_raw("setExceptionBreakpoints", {"filters": []})
        client.request_raw("disconnect", {})
    client.close()


def test_dap_breakpoint_hold_is_at_the_source_line_for_lsp(demo, dap):
    lsp = demo.client("locate-hold")
    [bp] = set_bps(dap, {"line": HOLD_LINE})
    assert bp["verified"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(get, demo, "?number=12", 20)
        started = lsp.wait_notification("otrace/holdStarted", lambda p: p["label"].startswith("bp_get_"))
        assert started["file"] == DEMO and started["line"] == HOLD_LINE
        [listed] = [h for h in lsp.request("otrace/holds")["holds"] if h["id"] == started["id"]]
        assert (listed["file"], listed["line"]) == (DEMO, HOLD_LINE)
        lsp.request("otrace/resume", {"ids": [started["id"]]})
        assert "reciprocal of 12.0" in held.result(10)


def test_exception_inside_breakpoint_patched_code_is_at_the_source_line(demo, dap):
    """A traced exception raised in a function that a DAP snapshot breakpoint patched: its context
    is captured in the patched code (pseudo file), both endpoints report the real file/line."""
    lsp = demo.client("locate-exception")
    [bp] = set_bps(dap, {"line": RESPOND_LINE})
    assert bp["verified"]
    dap.request("setExceptionBreakpoints", {"filters": ["traced"]})
    mark = len(dap.events)
    with pytest.raises(urllib.error.HTTPError):
        get(demo, "?number=0")
    event = lsp.wait_notification("otrace/traceEvent", lambda p: "ZeroDivisionError" in p["message"])
    assert event["file"] == DEMO and event["line"] == RAISE_LINE
    out = dap.wait_event("output", lambda b: "ZeroDivisionError" in b["output"], after=mark)
    assert out["source"]["path"] == DEMO and out["line"] == RAISE_LINE


def test_hold_here_live_is_at_the_source_line_for_dap(demo, dap):
    lsp = demo.client("locate-live")
    uri = Path(DEMO).as_uri()
    result = lsp.request("workspace/executeCommand", {"command": "otrace.holdHere",
                                                      "arguments": [uri, HOLD_LINE - 1]})
    assert result["line"] == HOLD_LINE
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            held = pool.submit(get, demo, "?number=13", 20)
            stopped = dap.wait_event("stopped", lambda b: b["reason"] == "hold")
            top = dap.request("stackTrace", {"threadId": stopped["threadId"]})["stackFrames"][0]
            assert top["source"]["path"] == DEMO and top["line"] == HOLD_LINE
            started = lsp.wait_notification("otrace/holdStarted", lambda p: p["label"] == result["label"])
            assert (started["file"], started["line"]) == (DEMO, HOLD_LINE)
            dap.request("continue", {"threadId": stopped["threadId"]})
            assert "reciprocal of 13.0" in held.result(10)
    finally:
        lsp.request("otrace/unpatch", {"name": result["name"]})
