"""Tornado side of /osh/web: the websocket that connects a browser page to otrace.

Either use otrace's own socket (the page includes the script, which connects by itself)::

    registry = otrace_server.web.get_registry()
    registry.identity = lambda handler: handler.get_cookie("user")        # the app decides names
    app = tornado.web.Application(my_routes + otrace_server.web.handlers("/otrace"))
    # page: <script src="/otrace/otrace-web.js"></script>

or carry otrace's messages on the app's own socket with the mixin (then the page includes
``<script src="/otrace/otrace-web.js" data-connect="false">`` and calls ``OTraceWeb.attach(ws)``)::

    class ChatSocket(OTraceWebMixin, tornado.websocket.WebSocketHandler):
        def open(self):
            self.otrace_open()
        def on_message(self, message):
            if self.otrace_message(message):
                return                      # it was otrace's
            ...                             # the app's own message
        def on_close(self):
            self.otrace_close()

The wire format and what is dropped (with a rate-limited log line) are ``protocol``'s: this module
only hands Tornado's socket events to a ``protocol.Peer``. Nothing a browser sends can raise into
Tornado.

Thread-safety notes: every method here runs on the application's loop thread (Tornado's rule).
"""

from __future__ import annotations

from typing import Any

import tornado.web
import tornado.websocket

from otrace_server.web.protocol import SOCKET_LIMIT, STATIC_DIR, Peer, route_paths
from otrace_server.web.registry import WebRegistry, get_registry

__all__ = ["OTraceWebMixin", "OTraceWebSocket", "handlers", "STATIC_DIR"]


class OTraceWebMixin:
    """Adds otrace's /osh/web protocol to a ``tornado.websocket.WebSocketHandler`` (see module doc).

    ``otrace_registry`` (class attribute or ``initialize`` argument) is the registry to use; the
    default is ``get_registry()``. ``otrace_name`` is this browser's /osh/web name, or None while it
    is not registered."""

    otrace_registry: WebRegistry | None = None

    @property
    def otrace_name(self) -> str | None:
        return self._otrace_peer().name

    def check_origin(self, origin: str) -> bool:
        """Only pages of the app itself may connect: the Origin's host must be this request's Host.
        (Tornado 6.6 calls this only for requests that look cross-origin; 6.4/6.5 call it for every
        request with an Origin header, same-origin ones included.)"""
        return self._otrace_peer().allows_origin(origin, self.request.host)

    def otrace_open(self) -> str | None:
        """Register this socket under the name of the identity the app's identity callable gives
        (``names``: one-to-one, a second tab is ``<name>#2``; None: not identified, not
        registered). Call it from ``open``. Returns the name."""
        return self._otrace_peer().open(self, self.request.headers.get("User-Agent", ""), self.write_message)

    def otrace_message(self, message: str | bytes) -> bool:
        """Handle ``message`` if it is otrace's; returns True when it was consumed (otrace's:
        handled, or dropped as oversized/unregistered), False when it belongs to the app (not JSON,
        or JSON without an ``otrace`` key). Call it from ``on_message``."""
        return self._otrace_peer().message(message)

    def otrace_close(self) -> None:
        """Unregister this socket (its pending evaluations fail at once). Call it from ``on_close``."""
        self._otrace_peer().close()

    def _otrace_peer(self) -> Peer:
        peer = self.__dict__.get("_otrace_peer_")
        if peer is None:
            peer = self.__dict__["_otrace_peer_"] = Peer(self.otrace_registry or get_registry(),
                                                          self.request.remote_ip or "")
        return peer


class OTraceWebSocket(OTraceWebMixin, tornado.websocket.WebSocketHandler):
    """otrace's own websocket (route ``<prefix>/ws``): otrace messages only; anything else
    (not JSON, not otrace's) is dropped with a log line."""

    def initialize(self, registry: WebRegistry | None = None) -> None:
        if registry is not None:
            self.otrace_registry = registry

    @property
    def max_message_size(self) -> int:
        # above this Tornado closes the socket; between MAX_WEB_MESSAGE and it, the Peer drops
        return SOCKET_LIMIT

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.otrace_open()

    def on_message(self, message: str | bytes) -> None:
        self._otrace_peer().receive(message)

    def on_close(self) -> None:
        self.otrace_close()


def handlers(path_prefix: str = "/otrace", registry: WebRegistry | None = None) -> list[tuple]:
    """Tornado routes to add to the application: ``<prefix>/ws`` (OTraceWebSocket) and
    ``<prefix>/otrace-web.js`` (the browser script). ``registry`` defaults to ``get_registry()``,
    made now (so ``otrace_server.start`` serves /osh/web with it by default)."""
    registry = registry or get_registry()
    socket_path, script_path = route_paths(path_prefix)
    directory = script_path.rsplit("/", 1)[0]
    return [
        (socket_path, OTraceWebSocket, {"registry": registry}),
        (directory + r"/(otrace-web\.js)", tornado.web.StaticFileHandler, {"path": STATIC_DIR}),
    ]
