"""otrace/webClients, otrace/webClientsChanged and otrace/webEval over a real LSP connection to the
chat demo process, with a real headless Chromium user logged in."""

from __future__ import annotations

import pytest

from tests.support.auditfile import AuditFile

pytestmark = pytest.mark.timeout(90)


def test_browser_appears_and_evaluates_over_lsp(chat, page):
    client = chat.client("web-test")
    audit = AuditFile(chat.dir, chat.proc.pid)
    assert client.request("otrace/webClients", {}) == {"clients": []}
    page.goto(f"http://127.0.0.1:{chat.http}/login")
    page.fill("#name", "alice")
    page.click("#login")
    page.wait_for_selector("#message")
    changed = client.wait_notification("otrace/webClientsChanged", lambda p: p["clients"], timeout=15)
    assert [c["name"] for c in changed["clients"]] == ["alice"]
    assert [c["name"] for c in client.request("otrace/webClients", {})["clients"]] == ["alice"]

    refused = client.request_raw("otrace/webEval", {"client": "alice", "expression": "1+1"})
    assert refused["error"] == {"code": -32001, "message": "JavaScript evaluation: refused in safe mode; "
                                                           "set safe_mode False to allow it"}

    assert client.request("otrace/command", {"line": "set safe_mode False"})["error"] is False
    page.fill("#message", "typed by alice")
    result = client.request("otrace/webEval", {"client": "alice",
                                               "expression": 'document.querySelector("#message").value'})
    assert result == {"value": '"typed by alice"'}  # plain data comes back as JSON
    failed = client.request("otrace/webEval", {"client": "alice", "expression": "nosuchname.x"})
    assert "nosuchname" in failed["error"]
    assert [(r["front"], r["client"], r["action"], r.get("browser"), r.get("expression")) for r in audit.new()] == [
        ("lsp", "web-test", "set", None, None),            # one line per evaluation sent, none refused
        ("lsp", "web-test", "javascript", "alice", 'document.querySelector("#message").value'),
        ("lsp", "web-test", "javascript", "alice", "nosuchname.x")]
