"""A page left open must not keep a Ctrl-C'd app alive: aiohttp's graceful shutdown waits for every
running handler (60 s under ``web.run_app``; ``aiohttp_setup`` closes otrace's sockets first), uvicorn
waits for every connection's task. Each test app runs as its own process; with an otrace socket
connected, SIGINT closes the socket (1001 going away, uvicorn's 1012 service restart) and the process
exits at once."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.support.waiting import wait_for
from tests.web.frameworks import AppProcess, uvicorn_serves_websockets

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("app", ["aiohttp_app", "starlette_app", "fastapi_app"])
def test_ctrl_c_closes_the_open_otrace_sockets_and_the_app_exits_promptly(tmp_path, app):
    if app != "aiohttp_app" and not uvicorn_serves_websockets():
        pytest.skip("uvicorn has no websocket implementation here (pip install otrace-server[starlette])")
    running = AppProcess(app, tmp_path)
    try:
        async def connect_then_interrupt():
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(running.url + "/otrace/ws", headers={"Cookie": "who=ann"})
                await ws.send_json({"otrace": "hello", "url": "http://page/"})
                await asyncio.sleep(0.2)
                started = time.monotonic()
                running.interrupt()
                message = await asyncio.wait_for(ws.receive(), 10)
                return message, time.monotonic() - started

        message, waited = asyncio.run(connect_then_interrupt())
        assert message.type == aiohttp.WSMsgType.CLOSE and message.data in (1001, 1012)
        assert running.proc.wait(10) == 0
        assert waited < 5
        wait_for(lambda: "app exited\n" in running.lines, what="the app's last line")
    finally:
        running.close()
