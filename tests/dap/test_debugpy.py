"""debugpy escalation in the threaded hello_trace demo: a debugpy breakpoint stops the request
thread while otrace's language server (on otrace's own, untraced threads) still answers fast."""

from __future__ import annotations

import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.dap.dapclient import DapClient
from tests.lsp.conftest import ROOT
from tests.lsp.rpc import Client, RpcError
from tests.support.auditfile import AuditFile
from tests.support.waiting import wait_for

pytest.importorskip("debugpy")
pytestmark = pytest.mark.timeout(90)

DEMO = str((ROOT / "demos" / "hello_trace.py").resolve())
RESPOND_LINE = next(i + 1 for i, line in enumerate(Path(DEMO).read_text().splitlines())
                    if 'response = "The reciprocal of %s is %s"' in line)


@pytest.fixture
def hello(tmp_path):
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "otrace_server.cli", DEMO, "--port", "0", "--exit-on-stdin-eof"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            text=True, cwd=str(ROOT))
    line = proc.stderr.readline()
    assert line.startswith("Listening on"), line
    http = int(line.split(":")[2].split("/")[0])
    discovery = tmp_path / "otrace" / f"otrace-{proc.pid}.json"
    wait_for(discovery.exists, 10, what="the discovery file")
    info = json.loads(discovery.read_text())
    lsp = Client(info["lsp_port"])
    lsp.initialize(info["token"], name="debugpy-test")
    lsp.audit = AuditFile(discovery.parent, proc.pid)
    yield proc, http, lsp
    lsp.close()
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_debugpy_refused_in_safe_mode(hello):
    _, _, lsp = hello
    with pytest.raises(RpcError) as err:
        lsp.request("otrace/debugpy", {})
    assert err.value.code == -32001 and "safe_mode" in err.value.message
    result = lsp.request("otrace/command", {"line": "debug"})
    assert result["error"] and "safe_mode" in result["output"]


def _debugpy_action(lsp) -> dict:
    uri = Path(DEMO).as_uri()
    actions = lsp.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "context": {"diagnostics": []},
        "range": {"start": {"line": RESPOND_LINE - 1, "character": 0}, "end": {"line": RESPOND_LINE - 1, "character": 0}}})
    [action] = [a for a in actions if a["title"] == "otrace: start debugpy (real stepping)"]
    return action


def test_debugpy_code_action_refused_in_safe_mode_then_starts_debugpy(hello):
    _, _, lsp = hello
    action = _debugpy_action(lsp)
    assert "command" not in action and "safe_mode" in action["disabled"]["reason"]
    with pytest.raises(RpcError) as err:                 # the command itself refuses too
        lsp.request("workspace/executeCommand", {"command": "otrace.debugpy", "arguments": []})
    assert err.value.code == -32001 and err.value.message == ("debugpy: refused in safe mode (its port has no token); "
                                                       "set safe_mode False to allow it")

    assert not lsp.request("otrace/command", {"line": "set safe_mode False"})["error"]
    action = _debugpy_action(lsp)
    assert "disabled" not in action
    info = lsp.request("workspace/executeCommand", action["command"])
    assert info["started"] and info["host"] == "127.0.0.1" and info["version"] == "1.8.22"
    assert info["attach"]["connect"] == {"host": "127.0.0.1", "port": info["port"]}
    dbg = DapClient(info["port"], timeout=10)             # a real debug adapter answers there
    try:
        caps = dbg.request("initialize", {"clientID": "test", "adapterID": "debugpy", "linesStartAt1": True})
        assert caps.get("supportsConfigurationDoneRequest")
    finally:
        dbg.close()
    again = lsp.request("otrace/debugpy", {})             # the same path: one debugpy per process
    assert again["port"] == info["port"] and not again["started"]
    assert [(r["front"], r["client"], r["action"]) for r in lsp.audit.new()] == [      # started once: one line
        ("lsp", "debugpy-test", "set"), ("lsp", "debugpy-test", "debugpy")]


def test_debugpy_breakpoint_stops_the_request_while_otrace_answers(hello):
    proc, http, lsp = hello
    assert not lsp.request("otrace/command", {"line": "set safe_mode False"})["error"]
    info = lsp.request("otrace/debugpy", {})
    assert info["started"] and info["host"] == "127.0.0.1" and info["version"] == "1.8.22"
    again = lsp.request("otrace/command", {"line": "debug"})
    assert not again["error"] and f"already listening on 127.0.0.1:{info['port']}" in again["output"]

    dbg = DapClient(info["port"], timeout=20)
    try:
        dbg.request("initialize", {"clientID": "test", "adapterID": "debugpy", "linesStartAt1": True,
                                   "pathFormat": "path"})
        attach = dbg.send_request("attach", {"justMyCode": False})
        dbg.wait_event("initialized")
        [bp] = dbg.request("setBreakpoints", {"source": {"path": DEMO}, "breakpoints": [{"line": RESPOND_LINE}]})[
            "breakpoints"]
        assert bp["verified"]
        dbg.request("configurationDone")
        assert dbg.wait_response(attach)["success"]

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            url = f"http://127.0.0.1:{http}/?number=4"
            held = pool.submit(lambda: urllib.request.urlopen(url, timeout=30).read().decode())
            stopped = dbg.wait_event("stopped", lambda b: b.get("reason") == "breakpoint")
            times = []
            for _ in range(20):
                t0 = time.perf_counter()
                assert lsp.request("otrace/command", {"line": "pwd"}, timeout=2)["cwd"] == "/osh/globals"
                times.append(time.perf_counter() - t0)
            assert not held.done()                          # the request thread is still stopped
            print(f"\nLSP round trip while debugpy stops the app: median {statistics.median(times) * 1000:.1f} ms, "
                  f"max {max(times) * 1000:.1f} ms")
            assert max(times) < 0.050
            frames = dbg.request("stackTrace", {"threadId": stopped["threadId"]})["stackFrames"]
            assert frames[0]["name"] == "respond" and frames[0]["line"] == RESPOND_LINE
            dbg.request("continue", {"threadId": stopped["threadId"]})
            assert "The reciprocal of 4.0 is 0.25" in held.result(20)
        dbg.request_raw("disconnect", {})
    finally:
        dbg.close()
