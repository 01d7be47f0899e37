"""The embedded language server against a REAL app process (tests/lsp/sample_app.py started with
otrace's app.start()), over real TCP connections with a raw JSON-RPC client."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.lsp.conftest import HERE, fetch_async
from tests.lsp.rpc import Client, RpcError

pytestmark = pytest.mark.timeout(60)

SAMPLE = HERE / "sample_app.py"
URI = SAMPLE.as_uri()


def line_of(text: str) -> int:
    """0-based line of the first line of sample_app.py containing ``text``."""
    return next(i for i, line in enumerate(SAMPLE.read_text().splitlines()) if text in line)


def open_doc(client: Client, text: str | None = None, uri: str = URI) -> None:
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": SAMPLE.read_text() if text is None else text}})


# ---- authentication and connection handling --------------------------------------------------------
def test_initialize_result_carries_protocol_version(sample):
    result = sample.client().request("otrace/command", {"line": "pwd"})
    assert result == {"output": "/osh/globals", "prompt": "globals> ", "cwd": "/osh/globals", "error": False}
    c = Client(sample.lsp)
    init = c.initialize(sample.token)
    assert init["otrace"]["protocolVersion"] == "1.4"
    assert init["otrace"]["dapPort"] == sample.info["dap_port"] and isinstance(init["otrace"]["dapPort"], int)
    assert init["otrace"]["safeMode"] is True
    assert init["otrace"]["statusRange"] == [200, 599]     # what editors offer for "Answer with Status"
    assert init["serverInfo"]["name"] == "otrace-server"
    assert init["capabilities"]["experimental"]["otrace"]["protocolVersion"] == "1.4"
    c.close()


def test_a_setting_changed_by_one_client_is_notified_to_every_client(sample):
    watcher, actor = sample.client("watcher"), sample.client("actor")
    try:
        actor.request("otrace/command", {"line": "set safe_mode False"})
        for client in (watcher, actor):
            assert client.wait_notification("otrace/settingChanged",
                                            lambda p: p["name"] == "safe_mode") == {"name": "safe_mode", "value": False}
        c = Client(sample.lsp)
        assert c.initialize(sample.token)["otrace"]["safeMode"] is False    # a new client starts from it
        c.close()
        actor.request("otrace/command", {"line": "set safe_mode True"})
        watcher.wait_notification("otrace/settingChanged", lambda p: p["name"] == "safe_mode" and p["value"] is True)
    finally:
        actor.request("otrace/command", {"line": "set safe_mode True"})


@pytest.mark.parametrize("token, code", [(None, -32004), ("wrong", -32004)])
def test_bad_token_is_refused_and_closed(sample, token, code):
    c = Client(sample.lsp)
    with pytest.raises(RpcError) as err:
        c.initialize(token)
    assert err.value.code == code
    assert c.wait_closed()


def test_request_before_initialize_is_refused_and_closed(sample):
    c = Client(sample.lsp)
    with pytest.raises(RpcError) as err:
        c.request("otrace/holds", {})
    assert err.value.code == -32002
    assert c.wait_closed()


def test_shutdown_and_exit_close_only_that_connection(sample):
    a, b = sample.client("a"), sample.client("b")
    assert a.request("shutdown") is None
    a.notify("exit")
    assert a.wait_closed()
    assert b.request("otrace/command", {"line": "pwd"})["cwd"] == "/osh/globals"
    assert sample.proc.poll() is None


def test_sessions_are_per_connection(sample):
    a, b = sample.client("a"), sample.client("b")
    assert a.request("otrace/command", {"line": "cd /osh/recent"})["cwd"] == "/osh/recent"
    assert b.request("otrace/command", {"line": "pwd"})["output"] == "/osh/globals"
    items = a.request("otrace/complete", {"line": "cd /osh/gl", "cursor": 10})["items"]
    assert any("globals" in item for item in items)


# ---- bad input ---------------------------------------------------------------------------------------
def test_bad_input_gets_errors_and_the_server_keeps_serving(sample):
    c = sample.client()
    body = b"{not json"
    c.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert c.wait_response(None)["error"]["code"] == -32700
    with pytest.raises(RpcError) as err:
        c.request("otrace/nope", {})
    assert err.value.code == -32601
    for params in ({}, {"line": 5}, [1, 2]):
        with pytest.raises(RpcError) as err:
            c.request("otrace/command", params)
        assert err.value.code == -32602
    with pytest.raises(RpcError) as err:
        c.request("otrace/resume", {"ids": ["no-such-hold"]})
    assert err.value.code == -32001 and "not held" in err.value.message
    big = json.dumps({"jsonrpc": "2.0", "id": 99, "method": "otrace/command", "params": {"line": "x" * (10 << 20)}})
    c.send_raw(b"Content-Length: %d\r\n\r\n" % len(big) + big.encode())
    assert c.wait_response(None)["error"]["code"] == -32600
    assert c.request("otrace/command", {"line": "pwd"})["cwd"] == "/osh/globals"   # same connection still works

    garbage = sample.client()
    garbage.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert garbage.wait_closed()
    assert isinstance(sample.client().request("otrace/holds")["holds"], list)   # new clients still served
    assert sample.proc.poll() is None


def test_web_methods_say_not_available(sample):
    c = sample.client()
    with pytest.raises(RpcError) as err:
        c.request("otrace/webEval", {"client": "user1", "expression": "1+1"})
    assert err.value.code == -32003 and "not available" in err.value.message


# ---- the control plane answers while the app loop is blocked -------------------------------------------
def test_answers_while_the_app_loop_sleeps(sample):
    c = sample.client()
    box = fetch_async(sample, "/sleep?s=5")
    sample.read_until("SLEEPING")   # the handler is now sleeping on the app's loop
    t0 = time.monotonic()
    assert c.request("otrace/holds") is not None
    assert c.request("otrace/command", {"line": "pwd"})["cwd"] == "/osh/globals"
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0, elapsed
    assert "body" not in box   # the app really was still blocked
    box["thread"].join(10)
    assert box["body"] == "slept"


# ---- holds: notifications, listing, context, resume, reconnect ----------------------------------------
def test_hold_seen_by_two_clients_survives_reconnect_and_resumes_with_value(sample):
    a, b = sample.client("a"), sample.client("b")
    box = fetch_async(sample, "/hold?n=77")
    started = a.wait_notification("otrace/holdStarted")
    assert b.wait_notification("otrace/holdStarted")["id"] == started["id"]
    assert started["label"] == "sample_hold" and started["function"] == "HoldHandler.get"
    assert Path(started["file"]) == SAMPLE and started["line"] == line_of("label=\"sample_hold\"") + 1
    assert started["summary"] == {"method": "GET", "uri": "/hold?n=77", "remote_ip": "127.0.0.1"}
    ctx = a.request("otrace/context", {"traceId": started["traceId"]})
    assert {"name": "n", "repr": "'77'", "type": "str"} in ctx["variables"]
    assert ctx["stack"][-1]["function"] == "get"

    a.close()                                   # a client leaving loses nothing
    time.sleep(0.2)   # a window for the server to handle a's leaving (it tells no one: nothing to wait for)
    c = sample.client("c")
    assert [h["id"] for h in c.request("otrace/holds")["holds"]] == [started["id"]]
    assert "body" not in box

    assert c.request("otrace/resume", {"ids": [started["id"]], "value": 5}) == {"resumed": [started["id"]]}
    resumed = b.wait_notification("otrace/holdResumed")
    assert resumed == {"id": started["id"], "outcome": {"kind": "value", "description": "resumed with value 5"}}
    box["thread"].join(10)
    assert box["body"] == "n=77 replacement=5"
    audit = (sample.dir / f"otrace-{sample.proc.pid}.audit.log").read_text()
    assert f'front=lsp client=c action=resume ids=["{started["id"]}"] outcome=value' in audit


def test_codelens_resume_and_hover_on_held_request(sample):
    c = sample.client(capabilities={"workspace": {"codeLens": {"refreshSupport": True}}})
    open_doc(c)
    box = fetch_async(sample, "/hold?n=77")
    started = c.wait_notification("otrace/holdStarted")
    hold_line = line_of('label="sample_hold"')
    lenses = c.request("textDocument/codeLens", {"textDocument": {"uri": URI}})
    resume = [lz for lz in lenses if lz["command"]["command"] == "otrace.resume"]
    assert [lz["range"]["start"]["line"] for lz in resume] == [hold_line]
    assert any(lz["command"]["title"] == "Resume all (1)" for lz in lenses)
    [count] = [lz for lz in lenses
               if lz["range"]["start"]["line"] == hold_line and lz["command"]["command"] == "otrace.showTraces"]
    assert re.fullmatch(r"traceassert: 0 violations, [1-9]\d* holds?", count["command"]["title"]), count
    holds = int(count["command"]["title"].split(", ")[1].split()[0])
    assert count["data"] == {"violations": 0, "holds": holds}     # the counts, for an editor summing a fleet's

    n_col = SAMPLE.read_text().splitlines()[hold_line].index("n !=")
    hover = c.request("textDocument/hover", {"textDocument": {"uri": URI},
                                             "position": {"line": hold_line, "character": n_col}})
    assert "**n** = `'77'` (str)" in hover["contents"]["value"] and started["id"] in hover["contents"]["value"]
    second = fetch_async(sample, "/hold?n=77")                 # two requests held on one line: one row
    c.wait_notification("otrace/holdStarted", lambda p: p["id"] != started["id"])
    lenses = c.request("textDocument/codeLens", {"textDocument": {"uri": URI}})
    on_line = [lz["command"] for lz in lenses if lz["range"]["start"]["line"] == hold_line
               and lz["command"]["command"] in ("otrace.resume", "otrace.resumeAll")]
    assert [cmd["title"] for cmd in on_line] == ["Resume sample_hold (the oldest of 2 here)", "Resume all (2)"]
    assert on_line[0]["arguments"] == [started["id"]]          # the oldest
    c.request("otrace/resume", {"ids": [h["id"] for h in c.request("otrace/holds", {})["holds"]
                                        if h["id"] != started["id"]]})
    second["thread"].join(10)

    cmd = resume[0]["command"]
    result = c.request("workspace/executeCommand", {"command": cmd["command"], "arguments": cmd["arguments"]})
    assert result == {"resumed": [started["id"]]}
    box["thread"].join(10)
    assert box["body"] == "n=77 replacement=None"


# ---- code actions --------------------------------------------------------------------------------------
def test_code_actions_exact_edits(sample):
    c = sample.client()
    open_doc(c)
    line = line_of('self.write("live:" + value)')
    actions = c.request("textDocument/codeAction", {
        "textDocument": {"uri": URI}, "range": {"start": {"line": line, "character": 0},
                                                "end": {"line": line, "character": 0}},
        "context": {"diagnostics": []}})
    titles = [a["title"] for a in actions]
    assert titles == ["Insert traceassert hold here", "Trace this function (LiveHandler.get)", "Hold here live",
                      "otrace: start debugpy (real stepping)"]
    assert actions[0]["edit"] == {"changes": {URI: [
        {"range": {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}},
         "newText": f'        await traceassert(True, label="get_{line + 1}", action="hold")\n'}]}}
    assert actions[1]["command"]["arguments"] == [str(SAMPLE), "LiveHandler.get"]
    assert actions[2]["command"]["arguments"] == [URI, line]

    plain = line_of("return 100 // value")
    other = "file:///tmp/not_loaded.py"
    open_doc(c, "import os\n\ndef f():\n    return 1\n", uri=other)
    actions = c.request("textDocument/codeAction", {
        "textDocument": {"uri": other}, "range": {"start": {"line": 3, "character": 0},
                                                  "end": {"line": 3, "character": 0}},
        "context": {"diagnostics": []}})
    assert actions[0]["title"] == "Insert traceassert here"
    assert actions[0]["edit"]["changes"][other] == [
        {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
         "newText": "from otrace_server import traceassert\n"},
        {"range": {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 0}},
         "newText": '    traceassert(True, label="f_4")\n'}]
    assert "not loaded" in actions[1]["disabled"]["reason"]
    assert plain > 0


def test_trace_this_function_traces_the_live_function(sample):
    c = sample.client()
    result = c.request("workspace/executeCommand", {"command": "otrace.traceFunction",
                                                    "arguments": [str(SAMPLE), "DivHandler.get"]})
    assert result == {"name": "DivHandler.get", "module": "__main__"}
    assert "DivHandler.get" not in c.request("otrace/untrace", {"name": "DivHandler.get"})["traced"]
    assert "DivHandler.get" not in c.request("otrace/command", {"line": "trace"})["output"]


def test_hold_here_live_holds_the_next_request_without_file_change(sample):
    before = SAMPLE.read_bytes()
    c = sample.client()
    open_doc(c)
    line = line_of('self.write("live:" + value)')
    result = c.request("workspace/executeCommand", {"command": "otrace.holdHere", "arguments": [URI, line]})
    assert result["name"] == "LiveHandler.get" and result["line"] == line + 1
    box = fetch_async(sample, "/live?v=1")
    started = c.wait_notification("otrace/holdStarted")
    assert started["function"] == "LiveHandler.get"
    assert Path(started["file"]) == SAMPLE and started["line"] == line + 1
    ctx = c.request("otrace/context", {"traceId": started["id"]})
    assert {"name": "value", "repr": "'1'", "type": "str"} in ctx["variables"]
    held_frame = ctx["stack"][-1]   # runs patched code, reported at its source position
    assert (Path(held_frame["file"]), held_frame["line"], held_frame["function"]) == (SAMPLE, line + 1, "get")
    assert "body" not in box
    c.request("otrace/resume", {"ids": [started["id"]]})
    box["thread"].join(10)
    assert box["body"] == "live:1"
    assert SAMPLE.read_bytes() == before
    assert c.request("otrace/unpatch", {"name": "LiveHandler.get"}) == {"patched": []}
    assert urllib.request.urlopen(f"http://127.0.0.1:{sample.http}/live?v=2", timeout=5).read() == b"live:2"


def test_changed_document_is_reported_not_pointed_at(sample):
    c = sample.client()
    open_doc(c, "# an added line\n" + SAMPLE.read_text())
    line = line_of('self.write("live:" + value)') + 1
    actions = c.request("textDocument/codeAction", {
        "textDocument": {"uri": URI}, "range": {"start": {"line": line, "character": 0},
                                                "end": {"line": line, "character": 0}},
        "context": {"diagnostics": []}})
    assert actions[2]["title"] == "Hold here live"
    assert actions[2]["disabled"]["reason"] == "file changed since the code was loaded"


# ---- diagnostics ---------------------------------------------------------------------------------------
def test_traced_exception_diagnostic_at_raising_line_cleared_on_delete(sample):
    c = sample.client()
    open_doc(c)
    assert urllib.request.urlopen(f"http://127.0.0.1:{sample.http}/div?n=0", timeout=5).read() == b"error"
    diag = c.wait_notification("textDocument/publishDiagnostics", lambda p: p["diagnostics"])
    assert diag["uri"] == URI
    [d] = [d for d in diag["diagnostics"] if "ZeroDivisionError" in d["message"]]
    assert d["range"]["start"]["line"] == line_of("return 100 // value")
    assert d["severity"] == 3 and d["code"].startswith("compute:ex-ZeroDivisionError:")
    out = c.request("otrace/command", {"line": f"del {d['code']}"})
    assert not out["error"], out
    # the deletion is noticed (by the server's periodic check) and the diagnostic withdrawn
    c.wait_notification("textDocument/publishDiagnostics",
                        lambda p: p["uri"] == URI and all(x["code"] != d["code"] for x in p["diagnostics"]), timeout=5)


def _fetch_status(app, path: str) -> dict:
    """GET ``path`` on a thread; the returned dict gets 'status' when the response arrives."""
    box: dict = {}

    def run():
        try:
            box["status"] = urllib.request.urlopen(f"http://127.0.0.1:{app.http}{path}", timeout=30).status
        except urllib.error.HTTPError as exc:
            box["status"] = exc.code

    box["thread"] = threading.Thread(target=run, daemon=True)
    box["thread"].start()
    return box


def test_resume_refuses_a_bad_outcome_with_the_shells_message_and_the_hold_waits(sample):
    c = sample.client()
    box = _fetch_status(sample, "/hold?n=77")
    started = c.wait_notification("otrace/holdStarted")
    for params, message in (({"value": 1, "status": 404}, "give only one of value, raise, status (got value, status)"),
                            ({"raise": 5}, "the exception to raise must be a non-empty string"),
                            ({"status": "abc"}, "the status must be an HTTP status code (an integer, 200-599), got 'abc'"),
                            ({"status": 103}, "cannot answer with HTTP 103: a final status is 200-599")):
        with pytest.raises(RpcError) as err:
            c.request("otrace/resume", {"ids": [started["id"]], **params})
        assert err.value.code == -32001 and err.value.message.startswith(message)
    assert [h["id"] for h in c.request("otrace/holds", {})["holds"]] == [started["id"]]
    assert c.request("otrace/resume", {"ids": [started["id"]]}) == {"resumed": [started["id"]]}
    box["thread"].join(10)
    assert box["status"] == 200


def test_resume_raises_the_applications_own_exception_class_and_refuses_unknown_names(sample):
    c = sample.client()
    box = _fetch_status(sample, "/hold?n=77")
    started = c.wait_notification("otrace/holdStarted")
    with pytest.raises(RpcError) as err:                     # was RuntimeError('NoSuchError: x') in the app
        c.request("otrace/resume", {"ids": [started["id"]], "raise": "NoSuchError: x"})
    assert err.value.code == -32001 and err.value.message.startswith("no exception class named 'NoSuchError'")
    assert [h["id"] for h in c.request("otrace/holds", {})["holds"]] == [started["id"]]   # still held
    assert c.request("otrace/resume", {"ids": [started["id"]], "raise": "SampleConflict: taken"}) == \
        {"resumed": [started["id"]]}
    box["thread"].join(10)
    assert box["status"] == 409                              # the handler caught its own class


@pytest.mark.parametrize("params, status, kind", [
    ({"raise": "ValueError: bad input"}, 500, "raise"),       # 'raise' is a Python keyword: kept as sent
    ({"status": 409, "reason": "Conflict here"}, 409, "status"),
])
def test_resume_outcomes_reach_the_held_request(sample, params, status, kind):
    c = sample.client()
    box = _fetch_status(sample, "/hold?n=77")
    started = c.wait_notification("otrace/holdStarted")
    assert c.request("otrace/resume", {"ids": [started["id"]], **params}) == {"resumed": [started["id"]]}
    assert c.wait_notification("otrace/holdResumed", lambda p: p["id"] == started["id"])["outcome"]["kind"] == kind
    box["thread"].join(10)
    assert box["status"] == status
