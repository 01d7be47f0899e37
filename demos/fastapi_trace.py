#!/usr/bin/env python3
"""fastapi_trace.py: a FastAPI app computing the reciprocal of a number, traced with otrace.

    python demos/fastapi_trace.py [--port 8888] [--addr 127.0.0.1] [--no-console] [--no-lsp]
    otrace demos/fastapi_trace.py [the same options]   (runs as it is: its start() replaces the command's)

Written as FastAPI's documentation writes apps: ``app = FastAPI()``, a path operation function
under ``@app.get``, served by ``uvicorn.run(app)``; otrace is started before it. Open
http://127.0.0.1:8888/ and enter a number: 77 HOLDS that request while every other request is
served (the story, a console session and the options, torna_trace.py's: demos/reciprocal.py). With
``--port 0`` uvicorn's "Uvicorn running on" line says which port it took.
"""

import os
import sys

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import otrace_server.web as otrace_web  # noqa: E402
from demos import reciprocal  # noqa: E402  (the page, the answer, the options)
from otrace_server import start, traceassert  # noqa: E402

app = FastAPI()
app.router.routes.extend(otrace_web.starlette_routes("/otrace"))   # /osh/web: /otrace/ws, /otrace/otrace-web.js


@app.get("/", response_class=HTMLResponse)
async def get_reciprocal(number: str | None = None) -> str:
    if number is not None:   # 77 holds THIS request (trace_active: torna_trace.trc); a resume value replaces it
        replacement = await traceassert(number != "77", label="hold_check", action="hold")
        number = number if replacement is None else str(replacement)
    return reciprocal.page("FastAPI", number)


def main(argv=None):
    args = reciprocal.parse_args(__doc__, argv)
    otrace = None if args.bare else start(globals(), **reciprocal.start_options(args))
    reciprocal.announce(otrace, args)
    uvicorn.run(app, host=args.addr, port=args.port)


if __name__ == "__main__":
    main()
