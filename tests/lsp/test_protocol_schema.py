"""docs/protocol.schema.json against the real server: the schema names exactly the requests,
notifications and commands the server has, and what the running demos answer and notify over a
real LSP connection (every ``otrace/*`` request with a successful answer, a few errors, every
notification, every ``otrace.*`` command, the initialize result) is valid against it."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from otrace_server.lsp import fleet, methods
from tests.lsp.rpc import Client

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "protocol.schema.json").read_text())
REQUESTS = {**methods.REQUESTS, **fleet.REQUESTS}   # every otrace/* request of the server
DEMO = ROOT / "demos" / "torna_trace.py"


def check(schema: dict, instance, what: str) -> None:
    """AssertionError listing where ``instance`` breaks ``schema`` (a part of SCHEMA whose $refs
    point into its $defs)."""
    validator = Draft202012Validator({"$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"], **schema})
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, f"{what} breaks the schema: " + "; ".join(
        f"at {list(e.absolute_path)}: {e.message}" for e in errors[:5]) + f"\n{json.dumps(instance)[:2000]}"


def sources() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "otrace_server").rglob("*.py")))


# ---- the schema itself ---------------------------------------------------------------------------
def test_the_schema_is_valid_json_schema_with_every_ref_in_its_defs():
    Draft202012Validator.check_schema(SCHEMA)
    refs = re.findall(r'"\$ref":\s*"([^"]*)"', json.dumps(SCHEMA))
    assert refs and all(r.startswith("#/$defs/") and r.split("/")[-1] in SCHEMA["$defs"] for r in refs), refs
    unused = set(SCHEMA["$defs"]) - {r.split("/")[-1] for r in refs}
    assert unused == set(), f"$defs no message uses: {unused}"


def test_the_schema_names_exactly_what_the_server_has():
    from otrace_server.lsp.client import PROTOCOL_VERSION

    text = sources()
    sent = set(re.findall(r'(?:broadcast\w*|notify)\(\s*"(otrace/\w+)"', text))
    sent |= set(re.findall(r'\{"jsonrpc": "2.0", "method": "(otrace/\w+)"', text))   # JSON written as text
    commands = set(re.findall(r'@ls\.command\(\s*"(otrace\.\w+)"\)', text))
    for part, server in (("requests", set(REQUESTS)), ("notifications", sent), ("commands", commands)):
        assert set(SCHEMA[part]) - server == set(), f"docs/protocol.schema.json '{part}' has more than the server"
        assert server - set(SCHEMA[part]) == set(), (
            f"the server has {part} that docs/protocol.schema.json '{part}' lacks: describe them there (and "
            "call them in test_what_the_demos_answer_and_notify_is_valid_against_the_schema)")
    assert SCHEMA["protocolVersion"] == PROTOCOL_VERSION
    doc = (ROOT / "docs" / "PROTOCOL.md").read_text()
    for name in [*REQUESTS, *sent, *commands]:
        assert f"`{name}`" in doc, f"docs/PROTOCOL.md does not describe {name}"


# ---- the real server -----------------------------------------------------------------------------
class Checked:
    """A client whose requests (params as sent, results as answered) are checked against the schema;
    ``seen`` collects the requests answered with a result and the commands run."""

    def __init__(self, client: Client, seen: set) -> None:
        self.client = client
        self.seen = seen

    def request(self, method: str, params: dict | None = None, timeout: float | None = None):
        spec = SCHEMA["requests"][method]
        check(spec["params"], params or {}, f"{method} params")
        result = self.client.request(method, params if params is not None else {}, timeout=timeout)
        check(spec["result"], result, f"{method} result")
        self.seen.add(method)
        return result

    def command(self, name: str, *args, timeout: float | None = None):
        spec = SCHEMA["commands"][name]
        check(spec["arguments"], list(args), f"{name} arguments")
        result = self.client.request("workspace/executeCommand", {"command": name, "arguments": list(args)},
                                     timeout=timeout)
        check(spec["result"], result, f"{name} result")
        self.seen.add(name)
        return result

    def error(self, method: str, params, code: int) -> str:
        """The error of a request that must fail with ``code`` (checked as a ResponseError)."""
        answer = self.client.request_raw(method, params)
        assert "error" in answer, answer
        check(SCHEMA["error"], answer["error"], f"{method} error")
        assert answer["error"]["code"] == code, answer
        return answer["error"]["message"]

    def wait(self, method: str, pred=lambda p: True, timeout: float = 10.0) -> dict:
        return self.client.wait_notification(method, pred, timeout=timeout)

    def notifications(self) -> list[dict]:
        """Every otrace/* notification received so far, each checked against the schema."""
        found = [m for m in list(self.client.messages)
                 if "id" not in m and str(m.get("method")).startswith("otrace/")]
        for m in found:
            assert m["method"] in SCHEMA["notifications"], f"notification {m['method']} is not in the schema"
            check(SCHEMA["notifications"][m["method"]]["params"], m["params"], m["method"])
        return found


def connect(app, seen: set) -> Checked:
    client = Client(app.lsp)
    app.clients.append(client)
    check(SCHEMA["initialize"]["result"], client.initialize(app.token, name="schema-test"), "initialize result")
    return Checked(client, seen)


def get(app, path: str) -> None:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{app.http}{path}", timeout=30).read()
    except urllib.error.HTTPError:
        pass   # a 500 of a traced exception, a 503 asked for by a resume: what the test wanted


def getting(app, path: str) -> threading.Thread:
    """``get`` on a thread of its own (a request that will be held), started."""
    thread = threading.Thread(target=get, args=(app, path), daemon=True)
    thread.start()
    return thread


def line_of(text: str) -> int:
    """The 0-based line of the demo that contains ``text``."""
    return next(i for i, line in enumerate(DEMO.read_text().splitlines()) if text in line)


def test_what_the_demos_answer_and_notify_is_valid_against_the_schema(demo, chat):
    seen: set = set()
    c = connect(demo, seen)
    at = c.request("otrace/command", {"line": "pwd"})
    assert at["error"] is False and "repeat" not in at
    c.request("otrace/command", {"line": "set safe_mode False"})
    assert c.wait("otrace/settingChanged", lambda p: p["name"] == "safe_mode")["value"] is False
    assert c.request("otrace/command", {"line": "repeat Request_stats"})["repeat"] == "Request_stats"
    assert c.request("otrace/command", {"line": "nosuchcommand x y"})["error"] is True
    c.request("otrace/complete", {"line": "ls /osh/gl"})
    assert c.request("otrace/complete", {"line": "cd /osh", "cursor": 3})["items"]

    # an exception of a traced function: traceEvent, traces, context, showTraces
    assert "GetHandler.respond" in c.request("otrace/trace", {"name": "GetHandler.respond"})["traced"]
    get(demo, "/?number=0")
    event = c.wait("otrace/traceEvent", lambda p: p["kind"] == "exceptions")
    c.request("otrace/traces", {})
    [summary] = c.request("otrace/traces", {"ctype": "exceptions", "limit": 1})["traces"]
    assert c.request("otrace/traces", {"limit": 0}) == {"traces": []}        # was every context
    assert summary["exception"].startswith("ZeroDivisionError")
    assert c.request("otrace/context", {"traceId": event["traceId"]})["exception"]["type"] == "ZeroDivisionError"
    assert event["traceId"] in c.command("otrace.showTraces", event["file"], event["line"])["traceIds"]
    assert c.request("otrace/untrace", {"name": "*"})["traced"] == []
    assert c.command("otrace.traceFunction", str(DEMO), "GetHandler.respond") == {
        "name": "GetHandler.respond", "module": "__main__"}
    assert c.command("otrace.untrace", "GetHandler.respond") == {"traced": []}   # the "traced · Untrace" lens

    # fleet orders given to a process alone: applied here, recorded nowhere (tests/test_fleet_orders.py: a fleet)
    alone = c.request("otrace/trace", {"name": "GetHandler.respond", "fleetOrder": "schema-1"})
    assert alone["fleet"] == {"id": None, "recorded": False, "why": "this process is not in a fleet"}
    assert c.request("otrace/untrace", {"name": "*", "fleetOrder": "schema-2"})["fleet"]["recorded"] is False
    assert c.command("otrace.traceFunction", str(DEMO), "GetHandler.respond", {"fleetOrder": "schema-3"})["fleet"]["id"] is None
    assert c.request("otrace/unpatch", {"name": "*", "fleetOrder": "schema-4"})["patched"] == []
    assert c.command("otrace.untrace", "*", {"fleetOrder": "schema-6"})["fleet"]["recorded"] is False
    assert c.command("otrace.unpatch", "*", {"fleetOrder": "schema-7"})["fleet"]["recorded"] is False
    assert c.request("otrace/command", {"line": "untrace *", "fleetOrder": "schema-5"})["fleet"]["recorded"] is False
    assert c.request("otrace/fleet") == {"fleet": None, "workers": [], "orders": []}

    # holds: started, listed, their context, resumed one by one and all at once
    box = getting(demo, "/?number=77")
    hold = c.wait("otrace/holdStarted")
    assert [h["id"] for h in c.request("otrace/holds")["holds"]] == [hold["id"]]
    page = c.request("otrace/holds", {"limit": 10, "after": 0})
    assert [h["id"] for h in page["holds"]] == [hold["id"]] and page["total"] == 1 and page["next"] is None
    assert c.request("otrace/context", {"traceId": hold["id"]})["variables"]
    assert c.request("otrace/resume", {"ids": [hold["id"]], "value": 5}) == {"resumed": [hold["id"]]}
    assert c.wait("otrace/holdResumed", lambda p: p["id"] == hold["id"])["outcome"]["kind"] == "value"
    box.join(10)
    for _ in range(5):   # resumed in one pass of the server's loop: one holdsResumed (almost always)
        boxes = [getting(demo, f"/?number=77&n={i}") for i in range(3)]
        ids = [c.wait("otrace/holdStarted")["id"] for _ in boxes]
        assert sorted(c.request("otrace/resume", {"all": True, "status": 503, "reason": "busy"})["resumed"]) == sorted(ids)
        for b in boxes:
            b.join(10)
        if any(n.get("method") == "otrace/holdsResumed" for n in list(c.client.messages)):
            break
    c.wait("otrace/holdsResumed")
    box = getting(demo, "/?number=77")
    hold = c.wait("otrace/holdStarted")
    assert c.command("otrace.resumeAll") == {"resumed": [hold["id"]]}
    box.join(10)

    # a held request whose client leaves, resumed by the command
    sock = socket.create_connection(("127.0.0.1", demo.http), timeout=10)
    sock.sendall(b"GET /?number=77 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    hold = c.wait("otrace/holdStarted")
    sock.close()
    assert c.wait("otrace/holdClientGone") == {"id": hold["id"]}
    assert c.request("otrace/holds")["holds"][0]["clientGone"] is True
    assert c.command("otrace.resume", hold["id"]) == {"resumed": [hold["id"]]}

    # Hold here live: patches, patchesChanged, the live hold, removed by the command
    line = line_of("self.write(PAGE % html.escape(self.respond(number)")
    live = c.command("otrace.holdHere", DEMO.as_uri(), line)
    assert c.wait("otrace/patchesChanged", lambda p: p["patches"])["patches"][0]["liveHold"]["line"] == live["line"]
    [patch] = c.request("otrace/patches")["patches"]
    assert patch["name"] == live["name"] == "GetHandler.get"
    box = getting(demo, "/?number=5")
    hold = c.wait("otrace/holdStarted")
    assert hold["label"] == live["label"] and hold["line"] == live["line"]
    c.command("otrace.resume", hold["id"])
    box.join(10)
    assert c.command("otrace.unpatch", live["name"]) == {"patched": []}

    # edit (the command line's round trip) and otrace/patch, one of them rebinding (otrace/output)
    edit = c.request("otrace/command", {"line": "edit GetHandler.respond"})["edit"]
    assert edit["name"] == "GetHandler.respond" and "def respond" in edit["source"]
    assert c.request("otrace/command", {"line": "edit GetHandler.respond", "stdin": edit["source"]})["error"] is False
    assert c.request("otrace/unpatch", {"name": "GetHandler.respond"}) == {"patched": []}
    wrapped = "@(lambda f: (lambda *a, **k: f(*a, **k)))\n" + edit["source"].lstrip()
    assert c.request("otrace/patch", {"name": "GetHandler.respond", "source": wrapped}) == {
        "patched": ["GetHandler.respond"]}
    assert "not in place" in c.wait("otrace/output", lambda p: p["stream"] == "stderr")["text"]
    assert c.request("otrace/unpatch", {"name": "*"}) == {"patched": []}

    # /osh as files, a patch as a diff and its promotion, a test from the exception context above
    assert {"name": "globals", "type": "directory", "readonly": True} in c.request(
        "otrace/fs/readDirectory", {"path": "/osh"})["entries"]
    respond = "/osh/globals/GetHandler/respond.py"
    assert c.request("otrace/fs/stat", {"path": respond})["patched"] is False
    text = c.request("otrace/fs/readFile", {"path": respond})
    assert text["name"] == "GetHandler.respond" and text["language"] == "python"
    diagnosed = c.client.request_raw("otrace/fs/writeFile", {"path": respond, "text": "def respond(self:\n"})["error"]
    check(SCHEMA["error"], diagnosed, "otrace/fs/writeFile error")
    assert diagnosed["data"]["diagnostics"][0]["line"] == 1
    assert c.request("otrace/fs/writeFile", {"path": respond, "text": text["text"].replace("The reciprocal", "1/x")}) == {
        "patched": ["GetHandler.respond"]}
    assert "+" in c.request("otrace/patchDiff", {"name": "GetHandler.respond"})["diff"]
    assert "1/x" in c.request("otrace/promotePatch", {"name": "GetHandler.respond"})["newText"]
    assert c.request("otrace/unpatch", {"name": "*"}) == {"patched": []}
    assert "pytest.raises(ZeroDivisionError" in c.request("otrace/testgen", {"traceId": event["traceId"]})["text"]

    # debugpy: started by the request, already listening for the command
    assert c.request("otrace/debugpy", timeout=60)["started"] is True   # imports debugpy: slow under load
    assert c.command("otrace.debugpy", timeout=60)["started"] is False

    # errors
    assert "nope" in c.error("otrace/context", {"traceId": "nope"}, -32001)
    assert "cursor" in c.error("otrace/complete", {"line": "x", "cursor": 9}, -32602)
    c.error("otrace/nosuch", {}, -32601)
    c.error("otrace/webClients", {}, -32003)
    c.error("workspace/executeCommand", {"command": "otrace.resume", "arguments": []}, -32602)
    c.request("otrace/command", {"line": "set safe_mode True"})
    c.wait("otrace/settingChanged", lambda p: p["name"] == "safe_mode" and p["value"] is True)
    assert "safe mode" in c.error("otrace/patch", {"name": "GetHandler.respond", "source": wrapped}, -32001)
    received = {n["method"] for n in c.notifications()}

    # /osh/web (the chat demo, no browser: the browser's own notification is the next test's)
    w = connect(chat, seen)
    assert w.request("otrace/webClients") == {"clients": []}
    w.request("otrace/command", {"line": "set safe_mode False"})
    try:
        assert "nobody" in w.request("otrace/webEval", {"client": "nobody", "expression": "1", "timeoutMs": 2000})["error"]
    finally:
        w.request("otrace/command", {"line": "set safe_mode True"})
    received |= {n["method"] for n in w.notifications()}

    assert set(REQUESTS) - seen == set(), "requests this test never had answered"
    assert set(SCHEMA["commands"]) - seen == set(), "commands this test never ran"
    assert set(SCHEMA["notifications"]) - received == {"otrace/webClientsChanged"}, "notifications never received"


def test_a_browser_is_notified_and_evaluates_as_the_schema_says(chat, page):
    seen: set = set()
    c = connect(chat, seen)
    page.goto(f"http://127.0.0.1:{chat.http}/login")
    page.fill("#name", "schema")
    page.click("#login")
    page.wait_for_selector("#message")
    c.wait("otrace/webClientsChanged", lambda p: p["clients"], timeout=15)
    [browser] = c.request("otrace/webClients")["clients"]
    c.request("otrace/command", {"line": "set safe_mode False"})
    try:
        assert c.request("otrace/webEval", {"client": browser["name"], "expression": "1 + 1"}) == {"value": "2"}
    finally:
        c.request("otrace/command", {"line": "set safe_mode True"})
    assert "otrace/webClientsChanged" in {n["method"] for n in c.notifications()}


# ---- the VS Code extension's types ---------------------------------------------------------------
CHECKER = ROOT / "vscode-extension" / "scripts" / "check-protocol.js"


def check_protocol_ts(path: Path) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None or not (ROOT / "vscode-extension" / "node_modules" / "typescript").is_dir():
        pytest.skip("node and the extension's node_modules (scripts/vscode-build.sh) are needed")
    return subprocess.run([node, str(CHECKER), str(path)], capture_output=True, text=True, timeout=60)


def test_the_vscode_types_agree_with_the_schema_and_a_wrong_one_is_named(tmp_path):
    ours = ROOT / "vscode-extension" / "src" / "protocol.ts"
    done = check_protocol_ts(ours)
    assert done.returncode == 0, done.stdout + done.stderr
    wrong = tmp_path / "protocol.ts"
    wrong.write_text(ours.read_text().replace("repeat?: string;", "repeat?: boolean;")
                     + "\nexport interface Patch { name: string; since: number; liveHold: null; extra?: string }\n")
    done = check_protocol_ts(wrong)
    assert done.returncode == 1
    assert "CommandResult.repeat: declared boolean, the server sends string" in done.stderr
    assert "Patch.liveHold: declared null, the server sends object | null" in done.stderr
    assert "Patch.extra: not in the schema" in done.stderr
