"""``trace -a hold`` of a function endpoint that a real router already holds (issue 16, point 2):
aiohttp's ``router.add_get("/", handler)``, Starlette's ``Route("/", endpoint)`` and FastAPI's
``@app.get("/")``, each served for real on 127.0.0.1 (aiohttp's runner, uvicorn). The request is
held until ``resume``; after ``untrace`` the next request is not held and the function is its
original self again."""

from __future__ import annotations

import threading
import urllib.request

import pytest

from otrace_server.shell import Shell
from tests.shell.helpers import out


async def aiohttp_handler(request):
    from aiohttp import web

    return web.Response(text=f"aiohttp {request.query.get('n', '')}")


async def starlette_endpoint(request):
    from starlette.responses import PlainTextResponse

    return PlainTextResponse(f"starlette {request.query_params.get('n', '')}")


async def fastapi_endpoint(n: str = ""):
    from starlette.responses import PlainTextResponse

    return PlainTextResponse(f"fastapi {n}")


def _aiohttp():
    web = pytest.importorskip("aiohttp.web")
    from tests.web.frameworks import AiohttpServer

    app = web.Application()
    app.router.add_get("/", aiohttp_handler)          # the router holds the function object
    return AiohttpServer(app)


def _starlette():
    pytest.importorskip("uvicorn")
    routing = pytest.importorskip("starlette.routing")
    from starlette.applications import Starlette

    from tests.web.frameworks import UvicornServer

    return UvicornServer(Starlette(routes=[routing.Route("/", starlette_endpoint)]))


def _fastapi():
    pytest.importorskip("uvicorn")
    fastapi = pytest.importorskip("fastapi")
    from tests.web.frameworks import UvicornServer

    app = fastapi.FastAPI()
    app.get("/")(fastapi_endpoint)                    # what @app.get("/") does
    return UvicornServer(app)


SERVERS = {"aiohttp": ("aiohttp_handler", _aiohttp), "starlette": ("starlette_endpoint", _starlette),
           "fastapi": ("fastapi_endpoint", _fastapi)}


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=15) as reply:
        return reply.read().decode()


@pytest.mark.parametrize("framework", list(SERVERS))
def test_hold_resume_untrace_of_an_endpoint_a_router_holds(engine, wait, framework):
    name, serve = SERVERS[framework]
    func = globals()[name]
    code = func.__code__
    server = serve()
    try:
        session = Shell(engine, {name: func}).session("test")
        assert out(session, f"trace -a hold {name}") == f"Tracing -a hold {name}"
        replies: list[str] = []
        client = threading.Thread(target=lambda: replies.append(get(server.url + "/?n=77")))
        client.start()
        wait(lambda: len(engine.holds) == 1, timeout=15)
        [hold] = engine.holds.list()
        assert hold.context.funcname == name and client.is_alive() and replies == []
        assert out(session, f"resume {hold.id}") == f"Resuming {hold.id}"
        client.join(15)
        assert replies == [f"{framework} 77"]
        assert out(session, f"untrace {name}") == f"untraced {name}"
        assert get(server.url + "/?n=1") == f"{framework} 1" and engine.holds.list() == []
        assert func.__code__ is code and "__wrapped__" not in func.__dict__
    finally:
        server.stop()
