"""A Starlette app as Starlette's documentation writes one (function endpoints, ``uvicorn.run``)."""

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

import otrace_server.web as otweb
from otrace_server import traceassert
from tests.web.apps import PAGE


def identity(conn):
    """The /osh/web name of a browser: its ``who`` cookie (``conn``: the WebSocket or Request)."""
    return conn.cookies.get("who")


otweb.get_registry().identity = identity


async def page(request):
    return HTMLResponse(PAGE)


async def hold(request):
    await traceassert(False, label="web_hold", action="hold")
    return PlainTextResponse("resumed")


app = Starlette(routes=[Route("/", page), Route("/hold", hold)] + otweb.starlette_routes("/otrace"))

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]))
    print("app exited", flush=True)
