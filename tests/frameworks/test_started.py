"""A hold whose request's answer had begun leaving when it started, in the shapes each framework's
documentation shows: a FastAPI ``BackgroundTasks`` function (it runs after the response was
sent), an aiohttp ``StreamResponse`` written to before the hold, a Tornado websocket's
``on_message``. ``resume --status`` is
refused with one line before anything is resumed (no status can answer it: Starlette raised
"response already started" as an error of the application, aiohttp cut the streamed answer
short), the hold keeps waiting, and ``resume`` then lets it finish as written; served for real."""

from __future__ import annotations

import http.client
import logging

import pytest
import tornado.web
import tornado.websocket
from aiohttp import web
from fastapi import BackgroundTasks, FastAPI

import otrace_server
from otrace_server import traceassert
from tests.frameworks.apps import Served, start_aiohttp, start_tornado, start_uvicorn
from tests.support.loops import LoopThread
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

#: what the background tasks wrote
written: list = []

fastapi_background = FastAPI()


async def write_notification(email: str, message: str = ""):
    await traceassert(email != "held@example.com", label="background_hold", action="hold")
    written.append(f"notification for {email}: {message}")


@fastapi_background.post("/send-notification/{email}")
async def send_notification(email: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(write_notification, email, message="some notification")
    return {"message": "Notification sent in the background"}


async def streamed(request):
    response = web.StreamResponse()
    await response.prepare(request)
    await response.write(b"part1\n")
    await traceassert(False, label="stream_hold", action="hold")
    await response.write(b"part2\n")
    return response


def aiohttp_streaming():
    app = web.Application()
    app.router.add_get("/stream", streamed)
    return app


def request(served: Served, method: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture(params=["fastapi", "aiohttp"])
def case(request, caplog):
    caplog.set_level(logging.WARNING)
    start = start_uvicorn(fastapi_background) if request.param == "fastapi" else start_aiohttp(aiohttp_streaming())
    errors: list = []
    with LoopThread(f"{request.param}-app", timeout=10) as loop_thread:
        port, stop = loop_thread.run(start)
        loop_thread.loop.call_soon_threadsafe(loop_thread.loop.set_exception_handler, lambda l, c: errors.append(c))
        app = otrace_server.start(globals(), app_loop=loop_thread.loop, console=False, lsp=False, trace_active=True)
        try:
            yield request.param, Served(request.param, loop_thread, port), app, errors
        finally:
            app.stop()
            app.engine.settings.set("trace_active", False)
            loop_thread.run(stop(), timeout=10)


def test_resume_status_is_refused_once_the_answer_began_and_the_hold_finishes_as_written(case, caplog):
    framework, served, app, errors = case
    written.clear()
    box: dict = {}
    if framework == "fastapi":
        assert request(served, "POST", "/send-notification/held@example.com") == (
            200, b'{"message":"Notification sent in the background"}')
    else:
        box = served.get_later("/stream")
    wait_for(lambda: app.engine.holds.list(), 10, what="the hold")
    (hold,) = app.engine.holds.list()
    session = app.shell.session("test")
    result = session.execute(f"resume {hold.id} --status 409 Taken")
    assert result.error and result.output == (
        f"resume --status: the answer to {hold.id} has already begun leaving, no status can answer it now; "
        f"use continue, --value or --raise")
    assert app.engine.holds.get(hold.id) is hold                  # still waiting
    assert session.execute(f"resume {hold.id}").output == f"Resuming {hold.id}"
    if framework == "fastapi":
        wait_for(lambda: written, 10, what="the background task's end")
        assert written == ["notification for held@example.com: some notification"]
    else:
        box["thread"].join(10)
        assert (box["status"], box["body"]) == (200, "part1\npart2\n")
    assert errors == [] and [r for r in caplog.records if r.exc_info] == []


class Echo(tornado.websocket.WebSocketHandler):
    async def on_message(self, message):
        await traceassert(message != "77", label="ws_hold", action="hold")
        self.write_message(f"You said: {message}")


def test_a_tornado_websocket_hold_refuses_a_status_and_goes_on_when_resumed(caplog):
    """Tornado's websocket example holding in ``on_message``: its 101 answer is sent, a status
    would close the socket (Tornado logged it as the handler's error)."""
    import asyncio

    import aiohttp

    caplog.set_level(logging.WARNING)
    with LoopThread("tornado-app", timeout=10) as loop_thread:
        port, stop = loop_thread.run(start_tornado(tornado.web.Application([(r"/ws", Echo)])))
        app = otrace_server.start(globals(), app_loop=loop_thread.loop, console=False, lsp=False, trace_active=True)
        try:
            async def talk():
                async with aiohttp.ClientSession() as client:
                    async with client.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
                        await ws.send_str("77")
                        await asyncio.to_thread(wait_for, lambda: app.engine.holds.list(), 10, "the hold")
                        (hold,) = app.engine.holds.list()
                        session = app.shell.session("test")
                        refused = await asyncio.to_thread(session.execute, f"resume {hold.id} --status 409 x")
                        assert refused.error and "has already begun leaving" in refused.output
                        await asyncio.to_thread(session.execute, f"resume {hold.id}")
                        return await asyncio.wait_for(ws.receive_str(), 10)

            assert asyncio.run(talk()) == "You said: 77"
            assert [r for r in caplog.records if r.levelno >= logging.WARNING and r.name != "otrace"] == []
        finally:
            app.stop()
            app.engine.settings.set("trace_active", False)
            loop_thread.run(stop(), timeout=10)
