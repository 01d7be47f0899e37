"""otrace/webClients, otrace/webClientsChanged and otrace/webEval over a real LSP connection to the
chat demo process, with a real headless Chromium user logged in."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json

import aiohttp
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


def test_a_storm_of_browser_sockets_is_a_few_webClientsChanged(chat):
    """A logged-in user opens 300 sockets at once (each a tab, ``mallory#N``), then closes them: the
    editor gets a few lists, not one per socket (each lists every browser: 1,000 sockets were
    1,000 notifications, 58 MB to every editor, which a slow reader is dropped for)."""
    client = chat.client("storm-watch")
    count = 300

    def storming(params) -> int:
        return sum(c["name"].startswith("mallory") for c in params["clients"])

    async def storm():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.post(f"http://127.0.0.1:{chat.http}/login", data={"name": "mallory"},
                                    allow_redirects=False):
                pass
            sockets = await asyncio.gather(*(session.ws_connect(f"http://127.0.0.1:{chat.http}/otrace/ws")
                                             for _ in range(count)))
            client.wait_notification("otrace/webClientsChanged", lambda p: storming(p) == count, timeout=30)
            await asyncio.gather(*(ws.close() for ws in sockets))

    with concurrent.futures.ThreadPoolExecutor(1) as thread:   # a loop of its own (playwright runs one here)
        thread.submit(lambda: asyncio.run(storm())).result()
    client.wait_notification("otrace/webClientsChanged", lambda p: storming(p) == 0, timeout=30)
    sent = [n for n in client.messages if n.get("method") == "otrace/webClientsChanged"]
    assert len(sent) < count / 5, f"{len(sent)} notifications, {sum(len(json.dumps(n)) for n in sent):,} bytes"
