"""Issue 19 over a real LSP connection to the torna_trace demo: /osh as files (otrace/fs/*), saving a
function's file patches the running server, a patch as a diff against its file and its promotion,
and a test generated from a recorded exception that passes in a real pytest run."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from otrace_server.core import audit
from tests.lsp.conftest import ROOT, fetch_async

pytestmark = pytest.mark.timeout(120)

RESPOND = "/osh/globals/GetHandler/respond.py"


def page(app, query: str) -> str:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{app.http}/?{query}", timeout=30).read().decode()
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"


def error(c, method: str, params: dict) -> dict:
    answer = c.request_raw(method, params)
    assert "error" in answer, answer
    return answer["error"]


@pytest.fixture
def c(demo):
    client = demo.client("fs-test")
    yield client
    client.request("otrace/command", {"line": "set safe_mode True"})
    client.request("otrace/unpatch", {"name": "*"})
    client.request("otrace/untrace", {"name": "*"})


def test_the_tree_lists_folders_functions_as_py_files_and_values_read_only(c):
    top = {e["name"]: e for e in c.request("otrace/fs/readDirectory", {"path": "/osh"})["entries"]}
    assert {"globals", "recent", "saved", "patches", "web"} <= set(top) and top["globals"]["type"] == "directory"
    handler = {e["name"]: e for e in c.request("otrace/fs/readDirectory", {"path": "/osh/globals/GetHandler"})["entries"]}
    assert handler["respond.py"] == {"name": "respond.py", "type": "file", "readonly": False, "patched": False}
    assert handler["get.py"]["type"] == "file" and "__module__" not in handler      # no __x__ values
    text = c.request("otrace/fs/readFile", {"path": RESPOND})
    assert text["text"].startswith("def respond(self, number):\n") and text["language"] == "python"
    assert (text["name"], text["readonly"], text["patched"]) == ("GetHandler.respond", False, False)
    stat = c.request("otrace/fs/stat", {"path": RESPOND})
    assert stat["size"] == len(text["text"].encode()) and stat["readonly"] is False
    count = c.request("otrace/fs/readFile", {"path": "/osh/globals/Request_stats/count"})
    assert count["readonly"] is True and count["language"] == "plaintext" and count["text"].isdigit()
    assert c.request("otrace/fs/stat", {"path": "/osh/globals/Request_stats"})["type"] == "directory"


def test_errors_are_clear(c):
    assert "no such file or directory" in error(c, "otrace/fs/stat", {"path": "/osh/globals/nope"})["message"]
    assert "not a path below /osh" in error(c, "otrace/fs/readFile", {"path": "/etc/passwd"})["message"]
    assert "is a directory" in error(c, "otrace/fs/readFile", {"path": "/osh/globals"})["message"]
    assert "not a directory" in error(c, "otrace/fs/readDirectory", {"path": RESPOND})["message"]
    assert error(c, "otrace/fs/stat", {})["code"] == -32602
    c.request("otrace/command", {"line": "set safe_mode False"})
    refused = error(c, "otrace/fs/writeFile", {"path": "/osh/globals/Request_stats/count", "text": "1"})
    assert refused["code"] == -32001 and refused["message"].startswith("read-only:")
    assert "no trace context" in error(c, "otrace/testgen", {"traceId": "nope"})["message"]
    assert "not patched" in error(c, "otrace/patchDiff", {"name": "GetHandler.respond"})["message"]


def test_saving_a_function_patches_the_server_refused_in_safe_mode_and_diagnosed(c, demo):
    source = c.request("otrace/fs/readFile", {"path": RESPOND})["text"]
    changed = source.replace("The reciprocal of", "Live: the reciprocal of")
    refused = error(c, "otrace/fs/writeFile", {"path": RESPOND, "text": changed})
    assert refused["code"] == -32001 and "safe mode" in refused["message"]
    c.request("otrace/command", {"line": "set safe_mode False"})
    bad = error(c, "otrace/fs/writeFile", {"path": RESPOND, "text": source.replace("try:", "try")})
    assert bad["data"]["diagnostics"][0]["line"] == 3 and "syntax error" in bad["message"]
    wrong = error(c, "otrace/fs/writeFile", {"path": RESPOND, "text": "x = 1\n"})
    assert wrong["data"]["diagnostics"] == [{"line": 1, "column": 1,
                                              "message": "the file must be exactly one 'def respond(...)'"}]
    assert c.request("otrace/patches")["patches"] == []                      # nothing patched by either
    assert c.request("otrace/fs/writeFile", {"path": RESPOND, "text": changed}) == {"patched": ["GetHandler.respond"]}
    assert "Live: the reciprocal of 4.0 is 0.25" in page(demo, "number=4")
    after = c.request("otrace/fs/readFile", {"path": RESPOND})
    assert after["text"] == changed and after["patched"] is True
    assert c.request("otrace/fs/readDirectory", {"path": "/osh/patches"})["entries"] == [
        {"name": "GetHandler.respond.py", "type": "file", "readonly": False, "patched": True}]
    again = changed.replace("Live: the", "Live again: the")           # through the patch's own file
    c.request("otrace/fs/writeFile", {"path": "/osh/patches/GetHandler.respond.py", "text": again})
    assert "Live again: the reciprocal of 4.0" in page(demo, "number=4")
    assert c.request("otrace/unpatch", {"name": "GetHandler.respond"}) == {"patched": []}   # Discard
    assert "The reciprocal of 4.0 is 0.25" in page(demo, "number=4")
    assert c.request("otrace/fs/readFile", {"path": RESPOND})["text"] == source


def test_the_write_is_audited_as_a_patch(c, demo):
    c.request("otrace/command", {"line": "set safe_mode False"})
    source = c.request("otrace/fs/readFile", {"path": RESPOND})["text"]
    c.request("otrace/fs/writeFile", {"path": RESPOND, "text": source.replace("is not a number", "is no number")})
    lines = (demo.dir / f"otrace-{demo.proc.pid}.audit.log").read_text().splitlines()
    record = audit.parse(next(line for line in reversed(lines) if "action=patch" in line))
    assert (record["front"], record["client"], record["name"]) == ("lsp", "fs-test", "GetHandler.respond")


def test_a_patch_as_a_diff_and_its_promotion_to_the_source_file(c):
    c.request("otrace/command", {"line": "set safe_mode False"})
    source = c.request("otrace/fs/readFile", {"path": RESPOND})["text"]
    c.request("otrace/fs/writeFile", {"path": RESPOND, "text": source.replace("1.0 / value", "1 / value")})
    diff = c.request("otrace/patchDiff", {"name": "GetHandler.respond"})
    demo_file = ROOT / "demos" / "torna_trace.py"
    lines = demo_file.read_text().splitlines(keepends=True)
    assert diff["file"] == str(demo_file)
    assert "".join(lines[diff["startLine"] - 1:diff["endLine"]]) == diff["original"]
    assert lines[diff["startLine"] - 1] == "    def respond(self, number):\n"
    assert diff["live"] == diff["original"].replace("1.0 / value", "1 / value")
    assert '-        return f"The reciprocal of {value} is {1.0 / value}"' in diff["diff"].splitlines()
    assert '+        return f"The reciprocal of {value} is {1 / value}"' in diff["diff"].splitlines()
    promote = c.request("otrace/promotePatch", {"name": "GetHandler.respond"})
    assert (promote["file"], promote["startLine"], promote["endLine"], promote["newText"]) == (
        diff["file"], diff["startLine"], diff["endLine"], diff["live"])


def run_pytest(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=100,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_a_test_generated_from_the_zero_division_passes_in_pytest_as_written(c, demo, tmp_path):
    c.request("otrace/trace", {"name": "GetHandler.respond"})
    assert page(demo, "number=0") == "HTTP 500"
    [ctx] = c.request("otrace/traces", {"ctype": "exceptions", "limit": 1})["traces"]
    test = c.request("otrace/testgen", {"traceId": ctx["traceId"]})
    assert test["suggestedName"] == "test_gethandler_respond_raises_zerodivisionerror.py"
    assert (test["literal"], test["rebuilt"], test["todo"]) == (["number"], ["self"], [])
    assert "pins the behaviour" in test["text"].lower() and "from demos.torna_trace import GetHandler" in test["text"]
    path = tmp_path / test["suggestedName"]
    path.write_text(test["text"])
    done = run_pytest(path)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr


def test_a_traced_return_value_passes_and_a_hold_fails_with_its_todo(c, demo, tmp_path):
    c.request("otrace/trace", {"name": "GetHandler.respond", "condition": "return"})
    assert "The reciprocal of 4.0 is 0.25" in page(demo, "number=4")
    [ctx] = c.request("otrace/traces", {"ctype": "traces", "limit": 1})["traces"]
    returned = c.request("otrace/testgen", {"traceId": ctx["traceId"]})
    assert "assert result == 'The reciprocal of 4.0 is 0.25'" in returned["text"]
    (tmp_path / "test_returned.py").write_text(returned["text"])
    done = run_pytest(tmp_path / "test_returned.py")
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr

    box = fetch_async(demo, "/?number=77")
    hold = c.wait_notification("otrace/holdStarted")
    try:
        held = c.request("otrace/testgen", {"traceId": hold["id"]})
    finally:
        c.request("otrace/resume", {"all": True})
        box["thread"].join(10)
    assert held["literal"] == [] and held["rebuilt"] == [] and len(held["todo"]) == 2
    assert "def recorded_self():" in held["text"] and "asyncio.run(GetHandler.get(self))" in held["text"]
    (tmp_path / "test_held.py").write_text(held["text"])
    done = run_pytest(tmp_path / "test_held.py")
    assert done.returncode != 0 and "TODO: build `self`" in done.stdout, done.stdout + done.stderr

