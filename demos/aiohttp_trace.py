#!/usr/bin/env python3
"""aiohttp_trace.py: an aiohttp app computing the reciprocal of a number, traced with otrace.

    python demos/aiohttp_trace.py [--port 8888] [--addr 127.0.0.1] [--no-console] [--no-lsp]
    otrace demos/aiohttp_trace.py [the same options]   (runs as it is: its start() replaces the command's)

Written as aiohttp's documentation writes apps: a function endpoint in a ``web.RouteTableDef``,
served by ``web.run_app``; otrace is started before it, /osh/web served by ``aiohttp_setup``. Open
http://127.0.0.1:8888/ and enter a number: 77 HOLDS that request while every other request is
served (the story, a console session and the options, torna_trace.py's: demos/reciprocal.py). With
``--port 0`` aiohttp's "Running on" line says which port it took.
"""

import os
import sys

from aiohttp import web

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import otrace_server.web as otrace_web  # noqa: E402
from demos import reciprocal  # noqa: E402  (the page, the answer, the options)
from otrace_server import start, traceassert  # noqa: E402

routes = web.RouteTableDef()


@routes.get("/")
async def get_reciprocal(request: web.Request) -> web.Response:
    number = request.query.get("number")
    if number is not None:   # 77 holds THIS request (trace_active: torna_trace.trc); a resume value replaces it
        replacement = await traceassert(number != "77", label="hold_check", action="hold")
        number = number if replacement is None else str(replacement)
    return web.Response(text=reciprocal.page("aiohttp", number), content_type="text/html")


def make_app() -> web.Application:
    app = web.Application()
    app.add_routes(routes)
    otrace_web.aiohttp_setup(app, "/otrace")   # /osh/web: /otrace/ws, /otrace/otrace-web.js, closed at shutdown
    return app


def main(argv=None):
    args = reciprocal.parse_args(__doc__, argv)
    app = make_app()     # before start(): it serves /osh/web with the registry aiohttp_setup made
    otrace = None if args.bare else start(globals(), **reciprocal.start_options(args))
    reciprocal.announce(otrace, args)
    web.run_app(app, host=args.addr, port=args.port, print=lambda text: print(text, flush=True))


if __name__ == "__main__":
    main()
