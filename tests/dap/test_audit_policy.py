"""The audit log and the safe-mode policy through the DAP endpoint, against the REAL torna_trace
demo over real connections: ``continue``, repl statements and breakpoint changes write one audit
line each as ``front=dap`` with the client's name; in safe mode repl statements, conditions and
logpoints are refused with the one message shape (``core.policy``)."""

from __future__ import annotations

import concurrent.futures

import pytest

from otrace_server.core.policy import refused
from tests.dap.test_dap_demo import DEMO, HOLD_LINE, get, set_bps, unsafe
from tests.dap.test_dap_demo import dap  # noqa: F401  (fixture)
from tests.support.auditfile import AuditFile

pytestmark = pytest.mark.timeout(60)


def _mine(records: list[dict]) -> list[tuple]:
    """(action, the effect's key detail) of the DAP client's records."""
    return [(r["action"], r.get("ids") or r.get("code") or r.get("lines"))
            for r in records if (r["front"], r.get("client")) == ("dap", "test")]


def test_continue_and_repl_statements_are_audited_and_refused_in_safe_mode(demo, dap):
    audit = AuditFile(demo.dir, demo.proc.pid)
    [bp] = set_bps(dap, {"line": HOLD_LINE})
    assert bp["verified"]                                                     # a live hold: safe
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    held = pool.submit(get, demo, "?number=32", 30)
    pool.shutdown(wait=False)
    stopped = dap.wait_event("stopped", lambda b: b["reason"] == "breakpoint")
    thread_id, hold_id = stopped["threadId"], stopped["text"]
    frame = dap.request("stackTrace", {"threadId": thread_id})["stackFrames"][0]["id"]
    statement = {"expression": "doubled = number * 2", "frameId": frame, "context": "repl"}
    try:
        answer = dap.request_raw("evaluate", statement)
        assert not answer["success"]
        assert answer["message"] == refused("statements", "the debug console runs them as the shell's exec")
        assert dap.request("evaluate", {"expression": "number", "frameId": frame, "context": "repl"})["result"] == "'32'"
        with unsafe(demo):
            assert dap.request("evaluate", statement) == {"result": "", "variablesReference": 0}
    finally:
        dap.request("continue", {"threadId": thread_id})
    assert "reciprocal of 32.0" in held.result(10)
    set_bps(dap)
    assert _mine(audit.new()) == [("breakpoints", [HOLD_LINE]), ("exec", "doubled = number * 2"),
                                  ("resume", [hold_id]), ("breakpoints", [])]


def test_conditions_and_logpoints_are_refused_in_safe_mode_with_the_one_shape(demo, dap):
    cond, log = set_bps(dap, {"line": HOLD_LINE, "condition": "number == 1"},
                        {"line": HOLD_LINE + 1, "logMessage": "{number}"})
    shape = refused("conditions and logpoints",
                    "they run code in the application; a plain breakpoint (a live hold) is allowed")
    assert [(b["verified"], b["message"]) for b in (cond, log)] == [(False, shape)] * 2
    assert demo.client("patches").request("otrace/command", {"line": "ls /osh/patches"})["output"] == ""


def test_a_client_leaving_with_breakpoints_is_audited_once(demo):
    audit = AuditFile(demo.dir, demo.proc.pid)
    leaving = demo.dap_client()
    [bp] = set_bps(leaving, {"line": HOLD_LINE})
    assert bp["verified"]
    leaving.request("disconnect", {})
    leaving.close()
    patches = demo.client("patches")
    assert patches.request("otrace/command", {"line": "ls /osh/patches"})["output"] == ""   # unpatched
    assert [(r["action"], r.get("file") or r.get("files"), r["lines"]) for r in audit.new()] == [
        ("breakpoints", DEMO, [HOLD_LINE]), ("breakpoints", [DEMO], [])]
