"""Each browser's messages go to the loop its socket lives on, not to one app loop: one registry
serves a Tornado app and an aiohttp app, each on a loop thread of its own, while otrace's runtime
has a third loop as its app loop, one that never runs (nothing sent through it would arrive); one
evaluation in both browsers is answered by both, and waiting for a browser on its own socket's
loop is refused at once."""

from __future__ import annotations

import asyncio
import json

import pytest
import tornado.web
from aiohttp import web

import otrace_server.web as otweb
from otrace_server.core.engine import get_engine
from otrace_server.runtime import Runtime
from otrace_server.shell import Shell

from tests.support.appserver import AppServer
from tests.support.waiting import wait_for
from tests.web.frameworks import AiohttpServer
from tests.web.servers import connect, on_loop

pytestmark = pytest.mark.timeout(60)

#: the Tornado handler has the request, aiohttp's handler is given it
REGISTRY = otweb.WebRegistry(identity=lambda conn: getattr(conn, "request", conn).headers.get("X-Who"))


@pytest.fixture(scope="module")
def servers():
    """(tornado server, aiohttp server), one registry attached to a runtime whose app loop is
    neither of theirs and never runs."""
    tornado_server = AppServer(lambda: tornado.web.Application(otweb.handlers("/otrace", REGISTRY)))
    app = web.Application()
    otweb.aiohttp_setup(app, "/otrace", REGISTRY)
    aiohttp_server = AiohttpServer(app)
    idle = asyncio.new_event_loop()
    runtime = Runtime(get_engine(), idle)
    runtime.start()
    shell = Shell(get_engine(), {})
    REGISTRY.attach(shell, runtime)
    shell.engine.settings.set("safe_mode", False)
    try:
        yield tornado_server, aiohttp_server
    finally:
        shell.engine.settings.set("safe_mode", True)
        REGISTRY.detach()
        runtime.stop()
        aiohttp_server.stop()
        tornado_server.stop()
        idle.close()


def test_each_browser_is_sent_to_on_its_own_socket_loop(servers):
    sockets = {who: connect(server, {"X-Who": who}) for who, server in zip(("tornado", "aiohttp"), servers)}
    wait_for(lambda: {c.name for c in REGISTRY.clients()} == set(sockets), what="both sockets")

    def answer(server, ws):
        message = json.loads(on_loop(server, ws.read_message))
        on_loop(server, lambda: ws.write_message(json.dumps({"otrace": "result", "id": message["id"],
                                                             "value": message["expr"]})))

    futures = [REGISTRY.submit(who, f"'{who}'", who="test") for who in sockets]
    for server, ws in zip(servers, sockets.values()):
        answer(server, ws)
    assert [future.result(5) for future in futures] == [("'tornado'", None), ("'aiohttp'", None)]
    aiohttp_server = servers[1]
    with pytest.raises(RuntimeError, match="would never end"):
        on_loop(aiohttp_server, lambda: REGISTRY.evaluate("aiohttp", "1", 1, "test"))
    for server, ws in zip(servers, sockets.values()):
        on_loop(server, ws.close)
    wait_for(lambda: not REGISTRY.clients(), what="the sockets to go")
