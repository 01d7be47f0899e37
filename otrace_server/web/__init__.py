"""/osh/web: evaluate JavaScript in the browsers connected to the application.

Each page that includes ``otrace-web.js`` opens a websocket to the app and appears as
``/osh/web/<name>``; the app decides who a browser is with an identity callable (the framework's
connection -> identity, e.g. the logged-in user from a cookie) and otrace names it, one-to-one
(``names``): ``user1`` stays ``user1``, other characters are escaped (``Ann Lee`` -> ``Ann%20Lee``),
and a second tab of ``user1`` is ``user1#2`` (no identity's name contains ``#``). With
``safe_mode False``, input in ``/osh/web/<name>`` is JavaScript evaluated in that page. Each
framework serves ``<prefix>/ws`` and ``<prefix>/otrace-web.js``; the page includes
``<script src="/otrace/otrace-web.js"></script>``.

Tornado::

    registry = otweb.get_registry()
    registry.identity = lambda handler: handler.get_cookie("user")      # the RequestHandler
    app = tornado.web.Application(routes + otweb.handlers("/otrace"))

aiohttp (``pip install otrace-server[aiohttp]``)::

    otweb.get_registry().identity = lambda request: request.cookies.get("user")   # web.Request
    otweb.aiohttp_setup(app, "/otrace")       # aiohttp_routes() + closing its sockets at shutdown

Starlette / FastAPI (``pip install otrace-server[starlette]``)::

    otweb.get_registry().identity = lambda conn: conn.cookies.get("user")   # WebSocket / Request
    app = Starlette(routes=routes + otweb.starlette_routes("/otrace"))
    app.router.routes.extend(otweb.starlette_routes("/otrace"))             # FastAPI

``otrace_server.start(globals())`` (or the ``otrace`` command) serves /osh/web with the default
registry, made before or after ``start`` (``get_registry()``; the routes functions without a
registry make it); ``web=registry`` names one, ``web=None`` none. A program that starts otrace
first attaches later: ``registry.attach(started.shell, started.runtime)``.
``aiohttp_setup``, ``aiohttp_routes`` and ``starlette_routes`` are imported on first use (their
framework is an optional extra; without it, using them is an ImportError saying which extra to
install).

Modules:
    registry    WebRegistry: connected browsers, evaluations in flight (the shell's web provider)
    protocol    Peer: otrace's side of one browser socket, whatever the framework (wire format,
                dropping, registering); route_paths, STATIC_DIR
    socket      Tornado: OTraceWebSocket, OTraceWebMixin (for an app's own socket), handlers()
    aiohttp_socket  aiohttp_setup(), aiohttp_routes(), close_sockets() (and serve_socket)
    starlette_socket  starlette_routes() (and serve_socket)
    correlate   the engine enricher naming the browser of a held request's user (by identity)
    names       identity_text, web_name, tab_name: what an identity becomes under /osh/web
    ratelimit   LogLimiter: log lines caused by browsers, per browser and in all, then a summary
    static/otrace-web.js   the browser side (plain JavaScript)

Thread-safety: see each module; each socket lives on the loop that serves it (the registry sends
there), evaluations are requested from the console / worker threads and wait through
``otrace_server.runtime.Runtime``.
"""

from typing import Any

from otrace_server.web.correlate import make_enricher
from otrace_server.web.protocol import Peer, route_paths
from otrace_server.web.registry import (MAX_WEB_MESSAGE, WebClientInfo, WebRegistry, default_identity, get_registry,
                                        made_registry, when_registry_made)
from otrace_server.web.socket import STATIC_DIR, OTraceWebMixin, OTraceWebSocket, handlers

# aiohttp_setup, aiohttp_routes and starlette_routes are not in __all__: ``import *`` must not need the extras
__all__ = ["WebRegistry", "WebClientInfo", "get_registry", "made_registry", "when_registry_made", "default_identity",
           "make_enricher",
           "OTraceWebMixin", "OTraceWebSocket", "handlers", "STATIC_DIR", "MAX_WEB_MESSAGE", "Peer", "route_paths"]


def __getattr__(name: str) -> Any:
    """``aiohttp_setup``, ``aiohttp_routes`` and ``starlette_routes``, imported when first asked for."""
    if name in ("aiohttp_setup", "aiohttp_routes"):
        from otrace_server.web import aiohttp_socket
        return getattr(aiohttp_socket, name)
    if name == "starlette_routes":
        from otrace_server.web.starlette_socket import starlette_routes
        return starlette_routes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
