"""An aiohttp app as aiohttp's documentation writes one (function endpoints, ``web.run_app``)."""

import sys

from aiohttp import web

import otrace_server.web as otweb
from otrace_server import traceassert
from tests.web.apps import PAGE


def identity(request):
    """The /osh/web name of a browser: its ``who`` cookie."""
    return request.cookies.get("who")


otweb.get_registry().identity = identity


async def page(request):
    return web.Response(text=PAGE, content_type="text/html")


async def hold(request):
    await traceassert(False, label="web_hold", action="hold")
    return web.Response(text="resumed")


def make_app():
    app = web.Application()
    app.add_routes([web.get("/", page), web.get("/hold", hold)])
    otweb.aiohttp_setup(app, "/otrace")
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=lambda text: print(text, flush=True))
    print("app exited", flush=True)
