"""aiohttp side of /osh/web: otrace's websocket and ``otrace-web.js`` as aiohttp routes.

    from aiohttp import web
    import otrace_server.web as otweb

    registry = otweb.get_registry()
    registry.identity = lambda request: request.cookies.get("user")   # the aiohttp web.Request
    app = web.Application()
    app.add_routes(routes)
    otweb.aiohttp_setup(app, "/otrace")          # /otrace/ws, /otrace/otrace-web.js, closed at shutdown
    # page: <script src="/otrace/otrace-web.js"></script>

``aiohttp_setup`` adds ``aiohttp_routes`` and ``close_sockets`` as an ``on_shutdown`` hook: aiohttp's
graceful shutdown waits for every running handler (60 s under ``web.run_app``), and a page left
open keeps its socket's handler running; an app that adds ``aiohttp_routes`` itself appends
``close_sockets`` to ``app.on_shutdown`` too.

To carry otrace's messages on the app's own socket instead (the page includes the script with
``data-connect="false"`` and calls ``OTraceWeb.attach(ws)``), hand its events to a
``protocol.Peer``::

    peer = Peer(registry, request.remote)        # in the app's handler; 403 unless
    # peer.allows_origin(request.headers.get("Origin"), request.host), then ws.prepare(request)
    peer.open(request, request.headers.get("User-Agent", ""), ws.send_str)
    async for message in ws:
        if message.type == WSMsgType.TEXT and peer.message(message.data):
            continue                             # it was otrace's
        ...                                      # the app's own message
    peer.close()

The identity callable receives the ``aiohttp.web.Request`` of the socket's handshake (and, for
the hold <-> browser correlation, the request of a held handler). The wire format and what is
dropped with a (rate-limited) log line are ``protocol``'s; this module only hands aiohttp's socket
events to a ``protocol.Peer``: a cross-origin handshake is answered 403, a message above
``protocol.SOCKET_LIMIT`` closes that socket (aiohttp's ``max_msg_size``), nothing a browser sends
raises into aiohttp. aiohttp is an optional extra (``pip install otrace-server[aiohttp]``):
importing this module without it is an ImportError saying so.

Thread-safety notes: the routes' handlers run on the loop that serves the application; the
registry sends each browser's messages to that loop.
"""

from __future__ import annotations

import weakref

try:
    from aiohttp import WSCloseCode, WSMsgType, web
except ImportError as exc:  # the optional extra is not installed
    raise ImportError("otrace_server.web.aiohttp_socket needs aiohttp: pip install otrace-server[aiohttp]") from exc

from otrace_server.web.protocol import SCRIPT_PATH, SOCKET_LIMIT, Peer, route_paths
from otrace_server.web.registry import WebRegistry, get_registry

__all__ = ["aiohttp_setup", "aiohttp_routes", "close_sockets", "serve_socket"]

#: the otrace sockets open, per application (``close_sockets`` closes them)
_open: "weakref.WeakKeyDictionary[web.Application, set[web.WebSocketResponse]]" = weakref.WeakKeyDictionary()


def aiohttp_setup(app: web.Application, prefix: str = "/otrace", registry: WebRegistry | None = None) -> None:
    """Serve /osh/web in ``app``: add ``aiohttp_routes(prefix, registry)`` and close otrace's
    sockets when the app shuts down (``close_sockets`` in ``app.on_shutdown``). Before the app
    starts (aiohttp freezes both then)."""
    app.add_routes(aiohttp_routes(prefix, registry))
    app.on_shutdown.append(close_sockets)


def aiohttp_routes(prefix: str = "/otrace", registry: WebRegistry | None = None) -> list[web.RouteDef]:
    """aiohttp route definitions to add to the application (``app.add_routes(...)``):
    ``<prefix>/ws`` (otrace's websocket) and ``<prefix>/otrace-web.js`` (the browser script).
    ``registry`` defaults to ``get_registry()``, made now (so ``otrace_server.start`` serves
    /osh/web with it by default)."""
    registry = registry or get_registry()
    socket_path, script_path = route_paths(prefix)

    async def otrace_socket(request: web.Request) -> web.StreamResponse:
        return await serve_socket(request, registry)

    async def otrace_script(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(SCRIPT_PATH, headers={"Content-Type": "text/javascript; charset=utf-8"})

    return [web.get(socket_path, otrace_socket), web.get(script_path, otrace_script)]


async def serve_socket(request: web.Request, registry: WebRegistry) -> web.StreamResponse:
    """Serve one browser's otrace websocket on ``request`` until it closes (the handler of
    ``<prefix>/ws``; an app's own route may call it too)."""
    peer = Peer(registry, request.remote or "")
    if not peer.allows_origin(request.headers.get("Origin"), request.host):
        return web.Response(status=403, text="otrace: cross-origin websocket refused")
    ws = web.WebSocketResponse(max_msg_size=SOCKET_LIMIT)
    await ws.prepare(request)
    sockets = _open.setdefault(request.app, set())
    sockets.add(ws)
    peer.open(request, request.headers.get("User-Agent", ""), ws.send_str)
    try:
        async for message in ws:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                peer.receive(message.data)
    finally:
        peer.close()
        sockets.discard(ws)
    return ws


async def close_sockets(app: web.Application) -> None:
    """An ``on_shutdown`` hook: close the otrace sockets ``app`` serves (code 1001, going away),
    so that their handlers end and aiohttp's graceful shutdown does not wait for them. The pages
    reconnect by themselves when the app serves again."""
    for ws in list(_open.get(app, ())):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
