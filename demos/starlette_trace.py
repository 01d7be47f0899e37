#!/usr/bin/env python3
"""starlette_trace.py: a Starlette app computing the reciprocal of a number, traced with otrace.

    python demos/starlette_trace.py [--port 8888] [--addr 127.0.0.1] [--no-console] [--no-lsp]
    otrace demos/starlette_trace.py [the same options]   (runs as it is: its start() replaces the command's)

Written as Starlette's and uvicorn's documentation write apps: a function endpoint in a ``Route``,
served by ``uvicorn.Server(config).serve()`` under ``asyncio.run(main())``; otrace is started
inside ``main``, on the loop that runs (demos/fastapi_trace.py: the same app in FastAPI, served by
``uvicorn.run``). Open http://127.0.0.1:8888/ and enter a number: 77 HOLDS that request while every
other request is served (the story, a console session and the options, torna_trace.py's:
demos/reciprocal.py). With ``--port 0`` uvicorn's "Uvicorn running on" line says which port it took.
"""

import asyncio
import os
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import otrace_server.web as otrace_web  # noqa: E402
from demos import reciprocal  # noqa: E402  (the page, the answer, the options)
from otrace_server import start, traceassert  # noqa: E402


async def get_reciprocal(request: Request) -> HTMLResponse:
    number = request.query_params.get("number")
    if number is not None:   # 77 holds THIS request (trace_active: torna_trace.trc); a resume value replaces it
        replacement = await traceassert(number != "77", label="hold_check", action="hold")
        number = number if replacement is None else str(replacement)
    return HTMLResponse(reciprocal.page("Starlette", number))


app = Starlette(routes=[Route("/", get_reciprocal), *otrace_web.starlette_routes("/otrace")])   # + /osh/web


async def main(argv=None):
    args = reciprocal.parse_args(__doc__, argv)
    otrace = None if args.bare else start(globals(), **reciprocal.start_options(args))
    reciprocal.announce(otrace, args)
    await uvicorn.Server(uvicorn.Config(app, host=args.addr, port=args.port)).serve()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:   # uvicorn re-raises the Ctrl-C it stopped on
        pass
