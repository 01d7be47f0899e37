"""The request of a context in the other shapes each framework's documentation shows: aiohttp's
class-based ``web.View`` and a helper coroutine the handler awaits (found on the stack),
Starlette's ``HTTPEndpoint`` and its authenticated user, Tornado's ``current_user``, FastAPI's
"Using the Request directly" endpoint (called by keyword, ``request`` not first) traced; served
for real."""

from __future__ import annotations

import pytest
import tornado.web
from aiohttp import web
from fastapi import FastAPI, Request
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.endpoints import HTTPEndpoint
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import otrace_server
from otrace_server import traceassert
from tests.frameworks.apps import Served
from tests.support.loops import LoopThread
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)


class AiohttpView(web.View):
    async def get(self):
        await traceassert(False, label="view_hold", action="hold")
        return web.Response(text="view")


async def checked(number: str) -> None:
    await traceassert(number != "77", label="helper_hold", action="hold")


async def aiohttp_helper(request):
    await checked(request.query.get("n", ""))
    return web.Response(text="helper")


class StarletteEndpoint(HTTPEndpoint):
    async def get(self, request):
        await traceassert(False, label="endpoint_hold", action="hold")
        return PlainTextResponse("endpoint")


fastapi_docs = FastAPI()


@fastapi_docs.get("/items/{item_id}")
def read_root(item_id: str, request: Request):
    if item_id == "0":
        raise ValueError("zero")
    return {"client_host": request.client.host, "item_id": item_id}


class Alice(AuthenticationBackend):
    async def authenticate(self, conn):
        return AuthCredentials(["authenticated"]), SimpleUser("alice")


class TornadoUser(tornado.web.RequestHandler):
    def get_current_user(self):
        return "bob"

    async def get(self):
        assert self.current_user == "bob"
        await traceassert(False, label="user_hold", action="hold")
        self.write("user")


async def start_aiohttp():
    app = web.Application()
    app.router.add_view("/view", AiohttpView)
    app.router.add_get("/helper", aiohttp_helper)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner.addresses[0][1], runner.cleanup


async def start_starlette(app=None):
    import asyncio

    import uvicorn

    app = app or Starlette(routes=[Route("/endpoint", StarletteEndpoint)],
                           middleware=[Middleware(AuthenticationMiddleware, backend=Alice())])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)

    async def stop():
        server.should_exit = True
        await task
    return server.servers[0].sockets[0].getsockname()[1], stop


@pytest.fixture(params=[("aiohttp", start_aiohttp, "/view", "aiohttp", ""),
                        ("aiohttp", start_aiohttp, "/helper?n=77", "aiohttp", ""),
                        ("starlette", start_starlette, "/endpoint", "starlette", "alice")],
                ids=["aiohttp-view", "aiohttp-helper", "starlette-endpoint-user"])
def case(request):
    name, start, path, framework, user = request.param
    with LoopThread(f"{name}-app", timeout=10) as loop_thread:
        port, stop = loop_thread.run(start())
        app = otrace_server.start(globals(), app_loop=loop_thread.loop, console=False, lsp=False, trace_active=True)
        try:
            yield Served(name, loop_thread, port), app, path, framework, user
        finally:
            app.stop()
            app.engine.settings.set("trace_active", False)
            loop_thread.run(stop(), timeout=10)


def test_the_request_is_found_and_summarized(case):
    served, app, path, framework, user = case
    box = served.get_later(path)
    wait_for(lambda: app.engine.holds.list(), 10, what="the hold")
    (hold,) = app.engine.holds.list()
    summary = hold.context.extra["request"]
    assert (summary.method, summary.uri, summary.remote_ip, summary.user, summary.framework) == (
        "GET", path, "127.0.0.1", user, framework)
    assert not app.shell.session("test").execute(f"resume {hold.id} --status 409 busy").error
    box["thread"].join(10)
    assert box["status"] == 409


def test_tornado_summary_has_the_current_user_the_handler_computed():
    import tornado.httpserver
    import tornado.netutil

    with LoopThread("tornado-app", timeout=10) as loop_thread:
        async def setup():
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
            server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/user", TornadoUser)]))
            server.add_sockets(sockets)
            return server, sockets[0].getsockname()[1]

        server, port = loop_thread.run(setup())
        app = otrace_server.start(globals(), app_loop=loop_thread.loop, console=False, lsp=False, trace_active=True)
        try:
            box = Served("tornado", loop_thread, port).get_later("/user")
            wait_for(lambda: app.engine.holds.list(), 10, what="the hold")
            (hold,) = app.engine.holds.list()
            assert str(hold.context.extra["request"]) == "GET /user from 127.0.0.1 as bob"
            app.engine.resume(None)
            box["thread"].join(10)
            assert (box["status"], box["body"]) == (200, "user")
        finally:
            app.stop()
            app.engine.settings.set("trace_active", False)
            loop_thread.run(server.close_all_connections(), timeout=10)
            server.stop()


def test_a_traced_fastapi_endpoint_taking_the_request_by_keyword_records_its_request():
    """FastAPI passes every argument by keyword: the ``Request`` is found among them, for the
    contexts of calls and of exceptions alike (no hold: nothing looks at the stack)."""
    with LoopThread("fastapi-app", timeout=10) as loop_thread:
        port, stop = loop_thread.run(start_starlette(fastapi_docs))
        app = otrace_server.start(globals(), app_loop=loop_thread.loop, console=False, lsp=False)
        try:
            assert app.shell.session("test").execute("trace -c call read_root").output == "Tracing -c call read_root"
            served = Served("fastapi", loop_thread, port)
            assert served.get("/items/3") == (200, '{"client_host":"127.0.0.1","item_id":"3"}')
            assert served.get("/items/0")[0] == 500
            contexts = app.engine.store.recent("traces") + app.engine.store.recent("exceptions")
            assert sorted(str(ctx.extra.get("request")) for ctx in contexts) == [
                "GET /items/0 from 127.0.0.1", "GET /items/0 from 127.0.0.1", "GET /items/3 from 127.0.0.1"]
        finally:
            app.stop()
            app.engine.tracer.untrace_all()
            app.engine.settings.set("trace_active", False)
            loop_thread.run(stop(), timeout=10)
