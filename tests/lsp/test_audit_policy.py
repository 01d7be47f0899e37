"""The audit log and the safe-mode policy through the language server, against a REAL app process
(tests/lsp/sample_app.py) over real connections: one audit line per effect whatever the path (an
``otrace/command`` line -- compound, alias, ``repeat``, ``source`` --, an ``otrace/*`` request, an
editor command), naming ``front=lsp`` and the client; safe mode's one refusal shape; undoing a live
hold allowed in safe mode."""

from __future__ import annotations

import pytest

from otrace_server.core.policy import refused
from tests.lsp.conftest import fetch_async
from tests.lsp.rpc import RpcError
from tests.lsp.test_server import URI, line_of, open_doc
from tests.support.auditfile import AuditFile

pytestmark = pytest.mark.timeout(90)


def _held(sample, client) -> tuple[str, dict]:
    box = fetch_async(sample, "/hold?n=77")
    return client.wait_notification("otrace/holdStarted")["id"], box


def _summary(records: list[dict]) -> list[tuple]:
    return [(r["front"], r.get("client"), r["action"], r.get("ids") or r.get("names") or r.get("name"))
            for r in records]


def test_one_audit_line_per_effect_whatever_the_path(sample, tmp_path):
    audit = AuditFile(sample.dir, sample.proc.pid)
    c = sample.client("Emacs 29")
    command = lambda line: c.request("otrace/command", {"line": line})   # noqa: E731
    assert not command("cd /osh/globals; trace compute")["error"]                   # compound line
    assert not command("alias un untrace \\1")["error"]
    assert not command("un compute")["error"]                                        # alias
    first, box1 = _held(sample, c)
    assert command(f"repeat resume {first}")["repeat"] == f"resume {first}"          # repeat
    script = tmp_path / "saved.osh"
    script.write_text("trace compute\n# a comment\nuntrace compute\n")
    assert not command(f"source {script}")["error"]                                  # saved script
    second, box2 = _held(sample, c)
    assert c.request("otrace/resume", {"ids": [second]}) == {"resumed": [second]}     # LSP request
    third, box3 = _held(sample, c)
    assert c.request("workspace/executeCommand", {"command": "otrace.resume", "arguments": [third]}) == \
        {"resumed": [third]}                                                          # editor command
    for box in (box1, box2, box3):
        box["thread"].join(10)
        assert box["body"] == "n=77 replacement=None"
    assert command("pr 1 + 1")["output"] == "2" and command("ls")["error"] is False   # reads: no line
    assert _summary(audit.new()) == [
        ("lsp", "Emacs 29", "trace", "compute"), ("lsp", "Emacs 29", "untrace", ["compute"]),
        ("lsp", "Emacs 29", "resume", [first]),
        ("lsp", "Emacs 29", "trace", "compute"), ("lsp", "Emacs 29", "untrace", ["compute"]),
        ("lsp", "Emacs 29", "resume", [second]), ("lsp", "Emacs 29", "resume", [third])]


def test_safe_mode_refuses_with_one_message_shape(sample, tmp_path):
    audit = AuditFile(sample.dir, sample.proc.pid)
    c = sample.client("vscode")
    with pytest.raises(RpcError) as err:
        c.request("otrace/patch", {"name": "compute", "source": "def compute(n):\n    return 0\n"})
    assert (err.value.code, err.value.message) == (-32001, refused("patch"))
    with pytest.raises(RpcError) as err:
        c.request("otrace/debugpy")
    assert (err.value.code, err.value.message) == (-32001, refused("debugpy", "its port has no token"))
    for line, what in (("exec import os", "exec"), ("!x = 1", "exec"), ("run compute 1", "run"),
                       ("edit compute", "edit"), ("debug", "debug")):
        result = c.request("otrace/command", {"line": line})
        assert result["error"] and result["output"] == refused(what), line
    result = c.request("otrace/command", {"line": f"cd {tmp_path}; touch made"})   # the Unix pass-through
    assert result["error"] and result["output"] == refused("Unix command", "outside /osh a line runs in /bin/sh")
    assert not (tmp_path / "made").exists()
    assert audit.new() == []


def test_a_live_hold_is_undone_in_safe_mode_and_both_are_audited(sample):
    audit = AuditFile(sample.dir, sample.proc.pid)
    c = sample.client("vscode")
    open_doc(c)
    line = line_of('self.write("live:" + value)')
    for undo in ({"line": "unpatch LiveHandler.get"}, {"name": "LiveHandler.get"}):
        made = c.request("workspace/executeCommand", {"command": "otrace.holdHere", "arguments": [URI, line]})
        assert made["name"] == "LiveHandler.get"
        if "line" in undo:     # the shell's unpatch, in safe mode
            result = c.request("otrace/command", undo)
            assert not result["error"] and result["output"] == "Unpatching LiveHandler.get"
        else:                  # otrace/unpatch, in safe mode
            assert c.request("otrace/unpatch", undo) == {"patched": []}
    records = audit.new()
    assert _summary(records) == [("lsp", "vscode", "patch", "LiveHandler.get"),
                                 ("lsp", "vscode", "unpatch", ["LiveHandler.get"])] * 2
    assert records[0]["hold"] == f"live_get_{line + 1}" and records[0]["line"] == line + 1
