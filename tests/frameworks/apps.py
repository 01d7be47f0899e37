"""One small app per framework, written the way each framework's documentation writes them
(function endpoints; a ``RequestHandler`` for Tornado), each with a ``/hold`` endpoint that holds
when ``n`` is 77 and answers ``done <n> <what the hold returned>``; and the servers that run them
for real on 127.0.0.1 on a loop of their own (``tests.support.loops.LoopThread``).

    with serving("aiohttp") as server:     # server.url, server.loop, server.framework
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import threading
from typing import Iterator

import tornado.web
from aiohttp import web
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse as FastText
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from otrace_server import traceassert
from tests.support.loops import LoopThread

FRAMEWORKS = ("tornado", "aiohttp", "starlette", "fastapi")
#: the adapter each framework's requests get
ADAPTER = {"tornado": "tornado", "aiohttp": "aiohttp", "starlette": "starlette", "fastapi": "starlette"}


# ---- Tornado -------------------------------------------------------------------------------
class TornadoHold(tornado.web.RequestHandler):
    async def get(self):
        n = self.get_argument("n", "")
        got = await traceassert(n != "77", label="tornado_hold", action="hold")
        self.write(f"done {n} {got}")


#: what ``TornadoClosing.on_connection_close`` saw, in order
closed_log: list = []


class TornadoClosing(tornado.web.RequestHandler):
    """A handler whose ``on_connection_close`` uses state it sets after the hold (``?later=1``: it
    still awaits something after the hold, so it has not finished when resumed)."""

    async def get(self):
        await traceassert(self.get_argument("n", "") != "77", label="closing_hold", action="hold")
        self.resource = "open"
        if self.get_argument("later", ""):
            await asyncio.sleep(0.3)
        self.write("done")

    def on_connection_close(self):
        closed_log.append(self.resource)


class TornadoGather(tornado.web.RequestHandler):
    """Two held steps at once (``asyncio.gather``); ``closed_log`` gets "gather" at each
    ``on_connection_close`` and "finished" at ``on_finish``."""

    async def step(self, name):
        await traceassert(False, label=f"gather_{name}", action="hold")
        return name

    async def get(self):
        self.write(" ".join(await asyncio.gather(self.step("a"), self.step("b"))))

    def on_connection_close(self):
        closed_log.append("gather")

    def on_finish(self):
        closed_log.append("finished")


def tornado_app():
    return tornado.web.Application([(r"/hold", TornadoHold), (r"/closing", TornadoClosing),
                                    (r"/gather", TornadoGather)])


# ---- aiohttp -------------------------------------------------------------------------------
async def aiohttp_hold(request):
    n = request.query.get("n", "")
    got = await traceassert(n != "77", label="aiohttp_hold", action="hold")
    return web.Response(text=f"done {n} {got}")


def aiohttp_app():
    app = web.Application()
    app.router.add_get("/hold", aiohttp_hold)
    return app


# ---- Starlette -----------------------------------------------------------------------------
async def starlette_hold(request):
    n = request.query_params.get("n", "")
    got = await traceassert(n != "77", label="starlette_hold", action="hold")
    return PlainTextResponse(f"done {n} {got}")


def starlette_app():
    return Starlette(routes=[Route("/hold", starlette_hold)])


# ---- FastAPI (an endpoint without a Request parameter) -------------------------------------
fastapi_app = FastAPI()


@fastapi_app.get("/hold", response_class=FastText)
async def fastapi_hold(n: str = ""):
    got = await traceassert(n != "77", label="fastapi_hold", action="hold")
    return f"done {n} {got}"


# ---- servers -------------------------------------------------------------------------------
class Served:
    """A framework's app served on 127.0.0.1 by the loop of ``loop_thread``."""

    def __init__(self, framework: str, loop_thread: LoopThread, port: int) -> None:
        self.framework = framework
        self.loop_thread = loop_thread
        self.loop = loop_thread.loop
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, timeout: float = 30) -> tuple[int, str]:
        """GET ``path``: (status, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def send(self, path: str) -> socket.socket:
        """Send ``GET path`` on a new connection and return it unread (closing it: a client gone)."""
        client = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        return client

    def get_later(self, path: str) -> dict:
        """GET ``path`` on a thread; the dict gets ``status`` and ``body`` (or ``error``) when
        answered, and ``thread``."""
        box: dict = {}

        def run():
            try:
                box["status"], box["body"] = self.get(path)
            except Exception as exc:
                box["error"] = exc

        box["thread"] = threading.Thread(target=run, daemon=True)
        box["thread"].start()
        return box


async def start_tornado(app: tornado.web.Application | None = None):
    """``app`` (default: ``tornado_app()``) served on 127.0.0.1:<free port>: (port, stop)."""
    import tornado.httpserver
    import tornado.netutil

    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app or tornado_app())
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]

    async def stop():
        server.stop()
        await server.close_all_connections()
    return port, stop


async def start_aiohttp(app: web.Application | None = None):
    """``app`` (default: ``aiohttp_app()``) served on 127.0.0.1:<free port>: (port, stop)."""
    runner = web.AppRunner(app or aiohttp_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner.addresses[0][1], runner.cleanup


async def start_uvicorn(app):
    """The ASGI ``app`` served by uvicorn on 127.0.0.1:<free port>: (port, stop)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]

    async def stop():
        server.should_exit = True
        await task
    return port, stop


_STARTERS = {
    "tornado": start_tornado,
    "aiohttp": start_aiohttp,
    "starlette": lambda: start_uvicorn(starlette_app()),
    "fastapi": lambda: start_uvicorn(fastapi_app),
}


@contextlib.contextmanager
def serving(framework: str) -> Iterator[Served]:
    """``framework``'s app served on 127.0.0.1:<free port>; stopped (loop too) on exit."""
    with LoopThread(f"{framework}-app", timeout=10) as loop_thread:
        port, stop = loop_thread.run(_STARTERS[framework]())
        try:
            yield Served(framework, loop_thread, port)
        finally:
            loop_thread.run(stop(), timeout=10)
