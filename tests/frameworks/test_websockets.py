"""A hold in a FastAPI websocket endpoint written as FastAPI's websockets chapter writes it, served
by uvicorn for real: the hold shows its handshake's request (``GET /ws from 127.0.0.1``), refuses
``resume --status`` (the handshake answered it), is marked ``client gone`` when the browser
leaves, and resumes into the endpoint's own ``WebSocketDisconnect`` handling."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

import otrace_server
from otrace_server import traceassert
from tests.frameworks.apps import start_uvicorn
from tests.support.loops import LoopThread
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

chat = FastAPI()
#: what the endpoint did, in order
events: list = []


@chat.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_text()
            await traceassert(data != "77", label="ws_hold", action="hold")
            await websocket.send_text(f"Message text was: {data}")
    except WebSocketDisconnect:
        events.append("disconnected")


def test_a_websocket_hold_names_its_request_refuses_a_status_and_sees_the_client_leave(caplog):
    caplog.set_level(logging.WARNING)
    events.clear()
    with LoopThread("fastapi-app", timeout=10) as loop_thread:
        port, stop = loop_thread.run(start_uvicorn(chat))
        app = otrace_server.start(globals(), app_loop=loop_thread.loop, console=False, lsp=False, trace_active=True)
        session = app.shell.session("test")

        def held():
            return wait_for(lambda: app.engine.holds.list(), 10, "the hold")[0]

        async def talk():
            async with aiohttp.ClientSession() as client:
                async with client.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
                    await ws.send_str("77")
                    hold = await asyncio.to_thread(held)
                    assert str(hold.context.extra["request"]) == "GET /ws from 127.0.0.1"
                    refused = await asyncio.to_thread(session.execute, f"resume {hold.id} --status 409 x")
                    assert refused.error and "has already begun leaving" in refused.output
                    await asyncio.to_thread(session.execute, f"resume {hold.id}")
                    assert await asyncio.wait_for(ws.receive_str(), 10) == "Message text was: 77"
                    await ws.send_str("77")
                    return await asyncio.to_thread(held)

        try:
            hold = asyncio.run(talk())                          # the client has closed its socket
            wait_for(lambda: hold.client_gone, 10, what="the client gone")
            assert session.execute(f"resume {hold.id}").output == f"Resuming {hold.id}"
            wait_for(lambda: events, 10, what="the endpoint's end")
            assert events == ["disconnected"] and [r for r in caplog.records if r.exc_info] == []
        finally:
            app.stop()
            app.engine.settings.set("trace_active", False)
            loop_thread.run(stop(), timeout=10)
