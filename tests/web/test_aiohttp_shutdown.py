"""aiohttp's graceful shutdown waits for every running handler (60 s under ``web.run_app``): a page
left open must not keep its otrace socket's handler running. The test app (``aiohttp_setup``) runs as
its own process; with an otrace socket connected, Ctrl-C (SIGINT) closes the socket (1001, going
away) and the process exits at once."""

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

pytestmark = pytest.mark.timeout(60)


def test_ctrl_c_closes_the_open_otrace_sockets_and_the_app_exits_promptly(repo_root):
    env = dict(os.environ, PYTHONPATH=str(repo_root), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "tests.web.apps.aiohttp_app", "0"], cwd=repo_root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        port = re.search(r"Running on http://127\.0\.0\.1:(\d+)", line)
        assert port, line

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
        assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 1001)
        assert proc.wait(10) == 0
        assert waited < 5
        assert "app exited" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
