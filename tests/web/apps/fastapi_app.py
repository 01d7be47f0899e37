"""A FastAPI app as FastAPI's documentation writes one (decorated endpoints, ``uvicorn.run``); its
``/hold`` endpoint takes no request parameter."""

import sys

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse

import otrace_server.web as otweb
from otrace_server import traceassert
from tests.web.apps import PAGE


def identity(conn):
    """The /osh/web name of a browser: its ``who`` cookie (``conn``: the WebSocket or Request)."""
    return conn.cookies.get("who")


otweb.get_registry().identity = identity

app = FastAPI()
app.router.routes.extend(otweb.starlette_routes("/otrace"))


@app.get("/", response_class=HTMLResponse)
async def page():
    return PAGE


@app.get("/hold", response_class=PlainTextResponse)
async def hold():
    await traceassert(False, label="web_hold", action="hold")
    return "resumed"


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]))
    print("app exited", flush=True)
