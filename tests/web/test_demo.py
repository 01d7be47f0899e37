"""demos/chat_websock.py as a real process: --port 0 prints where it listens, serves the login page
and the browser script, --exit-on-stdin-eof ends it when stdin closes, and its chat socket survives
any message a logged-in user sends (no traceback in its output)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Iterator

import pytest
import tornado.httpclient
import tornado.websocket

from tests.web.servers import DEMO_PATH

pytestmark = pytest.mark.timeout(60)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@contextlib.contextmanager
def demo() -> Iterator[tuple[subprocess.Popen, str]]:
    """The demo on 127.0.0.1:<free port>; yields (process, url); after the block, stdin is closed and
    the process must exit with 0 (its stderr is ``process.stderr_text``)."""
    proc = subprocess.Popen([sys.executable, str(DEMO_PATH), "--port", "0", "--no-lsp", "--exit-on-stdin-eof"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Listening on http://127.0.0.1:")
        yield proc, line.split()[-1]
        proc.stdin.close()
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr_text = proc.stderr.read()


def login(url: str, name: str) -> str:
    """Log in as ``name``; returns the Set-Cookie header of the answer."""
    try:   # the answer is a redirect, which NoRedirect turns into an HTTPError
        urllib.request.build_opener(NoRedirect).open(url + "/login", data=f"name={name}".encode(), timeout=10)
    except urllib.error.HTTPError as redirect:
        return redirect.headers["Set-Cookie"]
    raise AssertionError("login did not redirect")


def test_demo_serves_and_exits_on_stdin_eof():
    with demo() as (proc, url):
        with urllib.request.urlopen(url + "/login", timeout=10) as response:
            assert response.status == 200 and b'id="name"' in response.read()
        with urllib.request.urlopen(url + "/otrace/otrace-web.js", timeout=10) as response:
            assert b"OTraceWeb" in response.read()
        cookie = login(url, "alice")   # the login cookie is not sent with cross-site POSTs, nor readable by scripts
        assert "SameSite=Lax" in cookie and "HttpOnly" in cookie, cookie


DEEP = "[" * 100_000 + "]" * 100_000
HOSTILE = [DEEP, "[" * 100_000, '{"body": ' + DEEP + "}", '{"body": ' + "[" * 900 + "]" * 900 + "}",
           "x" * (5 * 1024 * 1024), json.dumps({"body": "y" * (3 * 1024 * 1024)}), b"\xff\xfe\x00binary",
           json.dumps({"body": "binary json"}).encode(), "[1]", '"text"', "null", "1e999", '{"body": 1}',
           '{"body": null}', '{"body": {"a": [1]}}', '{"body": ["x"]}', "{}", '{"otrace": "hello", "url": {"a": 1}}',
           '{"otrace": "result", "id": [1], "value": ' + "[" * 900 + "]" * 900 + "}", '{"otrace": "eval", "id": 1}',
           '{"otrace": ' + "[" * 900 + "]" * 900 + "}", '{"otrace": "result", "id": 1, "error": {"x": 1}}',
           '{"otrace": "' + "k" * 100_000 + '"}'] + ['{"otrace": "spam"}'] * 200


def test_the_chat_socket_survives_any_message():
    async def chat(url: str, cookie: str) -> list[dict]:
        cookie_value = cookie.split(";")[0]
        request = tornado.httpclient.HTTPRequest(url.replace("http:", "ws:") + "/chatsocket",
                                                 headers={"Cookie": cookie_value})
        ws = await tornado.websocket.websocket_connect(request, max_message_size=64 * 1024 * 1024)
        for message in HOSTILE:
            await ws.write_message(message, binary=isinstance(message, bytes))
        await ws.write_message(json.dumps({"body": "still here"}))
        received = []
        while not received or received[-1].get("body") != "still here":
            text = await asyncio.wait_for(ws.read_message(), 20)
            assert text is not None, "the chat socket closed"
            received.append(json.loads(text))
        ws.close()
        # past Tornado's own limit (10 MiB) the socket is closed: still no traceback
        ws = await tornado.websocket.websocket_connect(request)
        with contextlib.suppress(tornado.websocket.WebSocketClosedError):   # closed while it is written
            await ws.write_message("z" * (10 * 1024 * 1024 + 1))
        assert await asyncio.wait_for(ws.read_message(), 20) is None
        return received

    with demo() as (proc, url):
        received = asyncio.run(chat(url, login(url, "mallory")))
    assert [m["body"] for m in received] == ["y" * 2000, "binary json", "still here"]
    assert "Traceback" not in proc.stderr_text, proc.stderr_text[-3000:]
    assert proc.stderr_text.count("\n") < 40, proc.stderr_text[-3000:]      # rate-limited lines
