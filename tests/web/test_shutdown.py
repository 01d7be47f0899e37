"""A page left open must not keep a Ctrl-C'd app alive: aiohttp's graceful shutdown waits for every
running handler (60 s under ``web.run_app``; ``aiohttp_setup`` closes otrace's sockets first), uvicorn
waits for every connection's task. Each test app runs as its own process; with an otrace socket
connected, SIGINT closes the socket (1001 going away, uvicorn's 1012 service restart) and the process
exits at once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time

import aiohttp
import pytest

from tests.web.frameworks import uvicorn_serves_websockets

pytestmark = pytest.mark.timeout(60)

#: the line each server prints once it listens
LISTENING = re.compile(r"(?:Running on|Uvicorn running on) http://127\.0\.0\.1:(\d+)")


@pytest.mark.parametrize("app", ["aiohttp_app", "starlette_app", "fastapi_app"])
def test_ctrl_c_closes_the_open_otrace_sockets_and_the_app_exits_promptly(repo_root, app):
    if app != "aiohttp_app" and not uvicorn_serves_websockets():
        pytest.skip("uvicorn has no websocket implementation here (pip install otrace-server[starlette])")
    env = dict(os.environ, PYTHONPATH=str(repo_root), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", f"tests.web.apps.{app}", "0"], cwd=repo_root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            port = LISTENING.search(line)
            if port:
                break
        assert port, "the app never listened"

        async def connect_then_interrupt():
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(f"http://127.0.0.1:{port.group(1)}/otrace/ws",
                                              headers={"Cookie": "who=ann"})
                await ws.send_json({"otrace": "hello", "url": "http://page/"})
                await asyncio.sleep(0.2)
                started = time.monotonic()
                proc.send_signal(signal.SIGINT)
                message = await asyncio.wait_for(ws.receive(), 10)
                return message, time.monotonic() - started

        message, waited = asyncio.run(connect_then_interrupt())
        assert message.type == aiohttp.WSMsgType.CLOSE and message.data in (1001, 1012)
        assert proc.wait(10) == 0
        assert waited < 5
        assert "app exited" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
