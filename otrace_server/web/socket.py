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

Wire format (JSON text frames, all with an ``otrace`` key): browser -> server ``{"otrace": "hello",
"url": location.href}`` and ``{"otrace": "result", "id": N, "value": text}`` or ``{..., "error":
text}``; server -> browser ``{"otrace": "eval", "id": N, "expr": text}``.

Robustness: cross-origin sockets are refused (``check_origin``); a message that is not valid JSON
(or nested too deeply to parse), larger than 1 MiB (``MAX_WEB_MESSAGE``), or from a socket that is
not registered (its identity was None) is dropped with a log line. Those lines go through the
registry's ``warnings`` limiter (per browser and in all; beyond, one summary line a minute), so a
browser cannot flood the log. Nothing a browser sends can raise into Tornado.

Thread-safety notes: every method here runs on the application's loop thread (Tornado's rule).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any
from urllib.parse import urlsplit

import tornado.web
import tornado.websocket

from otrace_server.web.names import identity_text
from otrace_server.web.registry import MAX_WEB_MESSAGE, WebRegistry, get_registry

__all__ = ["OTraceWebMixin", "OTraceWebSocket", "handlers", "STATIC_DIR"]

#: the directory holding otrace-web.js
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


class OTraceWebMixin:
    """Adds otrace's /osh/web protocol to a ``tornado.websocket.WebSocketHandler`` (see module doc).

    ``otrace_registry`` (class attribute or ``initialize`` argument) is the registry to use; the
    default is ``get_registry()``. ``otrace_name`` is this browser's /osh/web name, or None while it
    is not registered."""

    otrace_registry: WebRegistry | None = None
    otrace_name: str | None = None

    def check_origin(self, origin: str) -> bool:
        """Only pages of the app itself may connect: the Origin's host must be this request's Host.
        (Tornado 6.6 calls this only for requests that look cross-origin; 6.4/6.5 call it for every
        request with an Origin header, same-origin ones included.)"""
        if urlsplit(origin).netloc.lower() == self.request.host.lower():
            return True
        self._otrace_log(logging.WARNING, "otrace: refused a websocket from origin %s", ascii(origin[:200]))
        return False

    def otrace_open(self) -> str | None:
        """Register this socket under the name of the identity the app's identity callable gives
        (``names``: one-to-one, a second tab is ``<name>#2``; None: not identified, not
        registered). Call it from ``open``. Returns the name."""
        registry = self._otrace_registry()
        try:
            identity = identity_text(registry.identity(self))
        except Exception:
            self._otrace_log(logging.ERROR, "otrace: the web identity callable failed", exc_info=True)
            identity = None
        if identity is None:
            self._otrace_log(logging.INFO, "otrace: websocket from %s not identified; not registered",
                             self.request.remote_ip)
            return None
        self.otrace_name = registry.register(identity, self.request.headers.get("User-Agent", ""),
                                             self.write_message)
        return self.otrace_name

    def otrace_message(self, message: str | bytes) -> bool:
        """Handle ``message`` if it is otrace's; returns True when it was consumed (otrace's:
        handled, or dropped as oversized/unregistered), False when it belongs to the app (not JSON,
        or JSON without an ``otrace`` key). Call it from ``on_message``."""
        try:
            data = json.loads(message)
        except (ValueError, RecursionError):   # not JSON, or nested too deeply to parse
            return False
        if not isinstance(data, dict) or "otrace" not in data:
            return False
        if len(message) > MAX_WEB_MESSAGE:
            self._otrace_drop_oversized(message)
            return True
        registry = self._otrace_registry()
        name = self.otrace_name
        if name is None:
            self._otrace_log(logging.WARNING, "otrace: dropped a message from unregistered websocket %s",
                             self.request.remote_ip)
            return True
        kind = data.get("otrace")
        if kind == "hello":
            url = data.get("url")
            registry.set_url(name, url if isinstance(url, str) else "")
        elif kind == "result":
            error = data.get("error")
            registry.reply(name, data.get("id"), data.get("value"), error)
        else:
            self._otrace_log(logging.WARNING, "otrace: dropped a message of unknown kind %s from browser %s",
                             ascii(kind)[:60], name)
        return True

    def _otrace_registry(self) -> WebRegistry:
        return self.otrace_registry or get_registry()

    def _otrace_log(self, level: int, msg: str, *args: Any, exc_info: bool = False) -> None:
        """A log line caused by this socket's browser, through the registry's rate limiter."""
        source = self.otrace_name or self.request.remote_ip or "?"
        self._otrace_registry().warnings.log(source, level, msg, *args, exc_info=exc_info)

    def _otrace_drop_oversized(self, message: str | bytes) -> None:
        self._otrace_log(logging.WARNING, "otrace: dropped a %d-byte websocket message from %s (limit %d)",
                         len(message), self.otrace_name or self.request.remote_ip, MAX_WEB_MESSAGE)

    def otrace_close(self) -> None:
        """Unregister this socket (its pending evaluations fail at once). Call it from ``on_close``."""
        name, self.otrace_name = self.otrace_name, None
        if name is not None:
            self._otrace_registry().unregister(name)


class OTraceWebSocket(OTraceWebMixin, tornado.websocket.WebSocketHandler):
    """otrace's own websocket (route ``<prefix>/ws``): otrace messages only; anything else
    (not JSON, not otrace's) is dropped with a log line."""

    def initialize(self, registry: WebRegistry | None = None) -> None:
        if registry is not None:
            self.otrace_registry = registry

    @property
    def max_message_size(self) -> int:
        # above this Tornado closes the socket; between MAX_WEB_MESSAGE and it, otrace_message drops
        return 2 * MAX_WEB_MESSAGE

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.otrace_open()

    def on_message(self, message: str | bytes) -> None:
        if len(message) > MAX_WEB_MESSAGE:
            self._otrace_drop_oversized(message)
        elif not self.otrace_message(message):
            self._otrace_log(logging.WARNING, "otrace: dropped a non-otrace message (%d bytes) from %s",
                             len(message), self.otrace_name or self.request.remote_ip)

    def on_close(self) -> None:
        self.otrace_close()


def handlers(path_prefix: str = "/otrace", registry: WebRegistry | None = None) -> list[tuple]:
    """Tornado routes to add to the application: ``<prefix>/ws`` (OTraceWebSocket) and
    ``<prefix>/otrace-web.js`` (the browser script). ``registry`` defaults to ``get_registry()``."""
    prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
    return [
        (prefix + "/ws", OTraceWebSocket, {"registry": registry}),
        (prefix + r"/(otrace-web\.js)", tornado.web.StaticFileHandler, {"path": STATIC_DIR}),
    ]
