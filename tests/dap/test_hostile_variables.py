"""dap.variables against a real app holding a request whose locals are hostile objects
(tests/support/hostile_app.py): scopes, variables (expanded two levels, paged) and evaluate of
each local answer, none fails the request."""

from __future__ import annotations

import json

import pytest

from tests.dap.dapclient import DapClient
from tests.lsp.conftest import ROOT, AppProcess, _sample_ready, fetch_async
from tests.lsp.test_hostile_payloads import LOCALS

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    app = AppProcess([str(ROOT / "tests" / "support" / "hostile_app.py")], tmp_path_factory.mktemp("xdg"),
                     _sample_ready)
    yield app
    app.stop()


def _expand(dap: DapClient, ref: int, depth: int) -> int:
    """List the children of ``ref`` (all, then one page) ``depth`` levels down; how many were seen."""
    seen = 0
    for args in ({}, {"start": 1, "count": 3}):
        kids = dap.request("variables", {"variablesReference": ref, **args})["variables"]
        json.dumps(kids)
        for kid in kids:
            assert isinstance(kid["value"], str) and len(kid["value"]) <= 500 and isinstance(kid["type"], str) \
                or kid["name"] == "...", kid
            seen += 1
            if depth > 1 and kid["variablesReference"] and not args:
                seen += _expand(dap, kid["variablesReference"], depth - 1)
    return seen


def test_hostile_locals_in_scopes_variables_and_evaluate(hostile):
    dap = DapClient(hostile.info["dap_port"])
    box = fetch_async(hostile, "/hostile")
    thread = None
    try:
        dap.attach(hostile.token)
        thread = dap.wait_event("stopped", lambda b: b["reason"] == "hold", timeout=30)["threadId"]
        frame = dap.request("stackTrace", {"threadId": thread})["stackFrames"][0]["id"]
        scopes = {s["name"]: s for s in dap.request("scopes", {"frameId": frame})["scopes"]}
        locals_ = dap.request("variables", {"variablesReference": scopes["Locals"]["variablesReference"]})["variables"]
        shown = {v["name"]: v for v in locals_}
        assert set(LOCALS) <= set(shown)
        assert shown["getattribute_raises"]["type"] == "GetattributeRaises"
        assert shown["hostile_keys"]["type"] == "HostileKeysDict" and shown["hostile_keys"]["namedVariables"] == 1
        assert shown["huge_int"]["value"].startswith("<unrepresentable int: ")
        for scope in scopes.values():
            assert _expand(dap, scope["variablesReference"], 3) > 0
        for name in LOCALS:
            for context in ("watch", "hover", "repl"):
                reply = dap.request_raw("evaluate", {"expression": name, "frameId": frame, "context": context})
                assert reply["success"] and len(reply["body"]["result"]) <= 500, (name, context, reply)
            reply = dap.request_raw("evaluate", {"expression": f"{name}.x", "frameId": frame, "context": "watch"})
            assert reply["success"] or "\n" not in reply["message"], (name, reply)
    finally:
        if thread is not None:
            dap.request_raw("continue", {"threadId": thread})
        dap.close()
    box["thread"].join(30)
    assert box["body"].startswith("resumed with ")
