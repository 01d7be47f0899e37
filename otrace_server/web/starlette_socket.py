"""Starlette (and FastAPI) side of /osh/web: otrace's websocket and ``otrace-web.js`` as routes.

    from starlette.applications import Starlette
    import otrace_server.web as otweb

    registry = otweb.get_registry()
    registry.identity = lambda conn: conn.cookies.get("user")        # a Starlette HTTPConnection
    app = Starlette(routes=routes + otweb.starlette_routes("/otrace"))  # /otrace/ws, /otrace/otrace-web.js
    # FastAPI: app.router.routes.extend(otweb.starlette_routes("/otrace"))
    # or mounted: Mount("/otrace", routes=otweb.starlette_routes(""))
    # page: <script src="/otrace/otrace-web.js"></script>

An app's own websocket endpoint carries otrace's messages the same way (the page includes the
script with ``data-connect="false"`` and calls ``OTraceWeb.attach(ws)``): ``peer = Peer(registry,
websocket.client.host)``, ``peer.open(websocket, user_agent, websocket.send_text)`` after
``accept``, ``if peer.message(text): continue`` for each text, ``peer.close()`` at the end.

The identity callable receives the ``starlette.websockets.WebSocket`` of the socket (and, for the
hold <-> browser correlation, the ``Request`` of a held endpoint): both are ``HTTPConnection``s
(``cookies``, ``headers``, ``scope``). The wire format and what is dropped with a (rate-limited) log
line are ``protocol``'s; this module only hands the ASGI socket's events to a ``protocol.Peer``: a
cross-origin handshake is closed before it is accepted (the server answers 403), nothing a browser
sends raises into the application. The largest message is the server's (uvicorn's ``ws_max_size``,
16 MiB by default); above ``MAX_WEB_MESSAGE`` a message is dropped. Starlette is an optional extra
(``pip install otrace-server[starlette]``): importing this module without it is an ImportError
saying so.

Thread-safety notes: the routes' endpoints run on the loop that serves the application; the
registry sends each browser's messages to that loop.
"""

from __future__ import annotations

try:
    from starlette.requests import Request
    from starlette.responses import FileResponse, Response
    from starlette.routing import BaseRoute, Route, WebSocketRoute
    from starlette.websockets import WebSocket
except ImportError as exc:  # the optional extra is not installed
    raise ImportError("otrace_server.web.starlette_socket needs starlette: "
                      "pip install otrace-server[starlette]") from exc

from otrace_server.web.protocol import SCRIPT_PATH, Peer, route_paths
from otrace_server.web.registry import WebRegistry, get_registry

__all__ = ["starlette_routes", "serve_socket"]

#: close code of a refused handshake (policy violation); before ``accept`` the server answers 403
REFUSED = 1008


def starlette_routes(prefix: str = "/otrace", registry: WebRegistry | None = None) -> list[BaseRoute]:
    """Starlette routes to add to the application (``Starlette(routes=...)``, FastAPI's
    ``app.router.routes.extend(...)``, or ``Mount(prefix, routes=starlette_routes(""))``):
    ``<prefix>/ws`` (otrace's websocket) and ``<prefix>/otrace-web.js`` (the browser script).
    ``registry`` defaults to ``get_registry()``, made now (so ``otrace_server.start`` serves
    /osh/web with it by default)."""
    registry = registry or get_registry()
    socket_path, script_path = route_paths(prefix)

    async def otrace_socket(websocket: WebSocket) -> None:
        await serve_socket(websocket, registry)

    async def otrace_script(request: Request) -> Response:
        return FileResponse(SCRIPT_PATH, media_type="text/javascript")

    return [WebSocketRoute(socket_path, otrace_socket, name="otrace_socket"),
            Route(script_path, otrace_script, name="otrace_script")]


async def serve_socket(websocket: WebSocket, registry: WebRegistry) -> None:
    """Serve one browser's otrace websocket until it closes (the endpoint of ``<prefix>/ws``; an
    app's own websocket endpoint may call it too)."""
    client = websocket.client
    peer = Peer(registry, client.host if client else "")
    if not peer.allows_origin(websocket.headers.get("origin"), websocket.headers.get("host")):
        await websocket.close(code=REFUSED)
        return
    await websocket.accept()
    peer.open(websocket, websocket.headers.get("user-agent", ""), websocket.send_text)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("text")
            peer.receive(data if data is not None else message.get("bytes") or b"")
    finally:
        peer.close()
