"""Nothing raw on a screen: a logged-in user of the chat demo (real headless Chromium) sends
terminal escapes in its hello message and in JavaScript results; `otrace/command` over a real LSP
connection shows them escaped (core.reprs.visible), on one line per browser."""

from __future__ import annotations

import re

import pytest

from otrace_server.core.reprs import HIDDEN
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(90)

RAW = re.compile(f"[{HIDDEN}]")
#: JavaScript text of the escapes a hostile page sends: clear screen, set the title, RTL override
HOSTILE_JS = r'"\u001b[2J\u001b]0;owned\u0007" + "\r\nFAKE> \u202eevil"'


def command(client, line):
    result = client.request("otrace/command", {"line": line})
    assert not RAW.search(result["output"]), repr(result["output"])
    assert not RAW.search(result["prompt"]), repr(result["prompt"])
    return result


def test_browser_text_reaches_otrace_command_escaped(chat, page):
    client = chat.client("screen-test")
    page.goto(f"http://127.0.0.1:{chat.http}/login")
    page.fill("#name", "mallory")
    page.click("#login")
    page.wait_for_selector("#message")
    client.wait_notification("otrace/webClientsChanged", lambda p: p["clients"], timeout=15)
    # the page opens a socket of its own to otrace and says hello with escapes in its URL
    page.evaluate("""(evil) => new Promise((done) => {
        const ws = new WebSocket(`ws://${location.host}/otrace/ws`);
        window.__evil = ws;
        ws.onopen = () => { ws.send(JSON.stringify({otrace: "hello", url: evil})); done(); };
        // and it answers every evaluation with the same text, not as the otrace script would
        ws.onmessage = (m) => ws.send(JSON.stringify({otrace: "result", id: JSON.parse(m.data).id, value: evil}));
    })""", "http://x/\x1b[2J\x1b]0;owned\x07\r\nFAKE> \u202eevil")
    evil = wait_for(lambda: next((c for c in client.request("otrace/webClients", {})["clients"]
                                  if "FAKE" in c.get("url", "")), None), what="the hostile hello")
    assert evil["name"] == "mallory#2"

    listing = command(client, "ls -l /osh/web")["output"].splitlines()
    assert len(listing) == 2, listing                      # one line per browser: no forged lines
    assert "http://x/\\x1b[2J\\x1b]0;owned\\x07\\r\\nFAKE> \\u202eevil since" in listing[1]

    assert command(client, "set safe_mode False")["error"] is False
    try:
        command(client, "cd /osh/web/mallory")
        # not plain data: String(x) of a page's object, and a thrown error's message
        value = command(client, f"new (class {{ toString() {{ return {HOSTILE_JS}; }} }})()")
        assert value["output"] == "\\x1b[2J\\x1b]0;owned\\x07\\r\\nFAKE> \\u202eevil"
        error = command(client, f"(() => {{ throw new Error({HOSTILE_JS}); }})()")
        assert error["error"] and error["output"] == "error: Error: \\x1b[2J\\x1b]0;owned\\x07\\r\\nFAKE> \\u202eevil"
        command(client, "cd /osh/web")
        every = command(client, f"cd *; new String({HOSTILE_JS})")["output"].splitlines()
        assert every == ["mallory: \\x1b[2J\\x1b]0;owned\\x07\\r\\nFAKE> \\u202eevil",
                         "mallory#2: http://x/\\x1b[2J\\x1b]0;owned\\x07\\r\\nFAKE> \\u202eevil"], every
    finally:
        command(client, "cd /osh/globals")
        command(client, "set safe_mode True")
