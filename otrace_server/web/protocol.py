"""The /osh/web socket protocol, whatever framework serves the socket: one ``Peer`` per browser socket.

Each framework module (``socket``: Tornado, ``aiohttp_socket``, ``starlette_socket``) only accepts
the socket and forwards its events to a ``Peer``; everything otrace decides about a browser's
messages is here, once::

    peer = Peer(registry, remote="127.0.0.1")            # registry: a registry.WebRegistry
    if not peer.allows_origin(origin_header, host_header):
        ...refuse the handshake (403)...                 # logged by allows_origin
    peer.open(connection, user_agent, send)              # socket open: identity(connection) -> name
    peer.receive(message)                                # otrace's own socket: every message
    peer.message(message) -> bool                        # an app's own socket: True when otrace's
    peer.close()                                         # socket closed: unregistered

``connection`` is what the registry's identity callable receives (the Tornado handler, the aiohttp
request, the Starlette ``WebSocket``); ``send(text)`` writes one text frame and may return an
awaitable (aiohttp, Starlette), which the registry awaits in a task of the socket's loop.

Wire format (JSON text frames, all with an ``otrace`` key): browser -> server ``{"otrace": "hello",
"url": location.href}`` and ``{"otrace": "result", "id": N, "value": text}`` or ``{..., "error":
text}``; server -> browser ``{"otrace": "eval", "id": N, "expr": text}``. The script
``otrace-web.js`` (``SCRIPT_NAME``, in ``STATIC_DIR``) connects to ``SOCKET_NAME`` beside its own
URL, so every framework serves both under one prefix (``route_paths``).

Robustness: cross-origin sockets are refused (``allows_origin``); a message that is not valid JSON
(or nested too deeply to parse), larger than 1 MiB (``MAX_WEB_MESSAGE``), or from a socket that is
not registered (its identity was None) is dropped with a log line. Those lines go through the
registry's ``warnings`` limiter (per browser and in all; beyond, one summary line a minute), so a
browser cannot flood the log. Nothing a browser sends raises out of a ``Peer`` method.

Thread-safety notes: a Peer is used on the loop thread of its socket only (``open`` records that
loop: the registry sends this browser's messages there).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from otrace_server.web.names import identity_text
from otrace_server.web.registry import MAX_WEB_MESSAGE

if TYPE_CHECKING:
    from otrace_server.web.registry import WebRegistry

__all__ = ["Peer", "STATIC_DIR", "SCRIPT_NAME", "SOCKET_NAME", "SCRIPT_PATH", "route_paths", "SOCKET_LIMIT"]

#: the directory holding otrace-web.js
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
#: the browser script's file name (served as ``<prefix>/otrace-web.js``)
SCRIPT_NAME = "otrace-web.js"
#: the script's path on disk
SCRIPT_PATH = os.path.join(STATIC_DIR, SCRIPT_NAME)
#: the socket's last path segment, beside the script (the script connects to ``<its directory>/ws``)
SOCKET_NAME = "ws"
#: a framework closes a socket whose message is larger than this; between ``MAX_WEB_MESSAGE`` and
#: it, the message is dropped with a log line and the socket stays open
SOCKET_LIMIT = 2 * MAX_WEB_MESSAGE


def route_paths(prefix: str = "/otrace") -> tuple[str, str]:
    """``(socket_path, script_path)`` under ``prefix``: ``("/otrace/ws", "/otrace/otrace-web.js")``;
    an empty prefix (or ``"/"``) gives ``("/ws", "/otrace-web.js")``."""
    stripped = prefix.strip("/")
    base = "/" + stripped if stripped else ""
    return f"{base}/{SOCKET_NAME}", f"{base}/{SCRIPT_NAME}"


class Peer:
    """otrace's side of one browser socket (see the module doc). ``name`` is the browser's
    /osh/web name while it is registered, else None; ``remote`` (the client's address) names it in
    log lines until then."""

    def __init__(self, registry: WebRegistry, remote: str = "") -> None:
        self.registry = registry
        self.remote = remote or "?"
        self.name: str | None = None

    def allows_origin(self, origin: str | None, host: str | None) -> bool:
        """True when the handshake may go on: no ``Origin`` header (not a browser page), or the
        Origin's host is the request's ``Host``. A refusal is logged; the caller answers 403."""
        if origin is None or urlsplit(origin).netloc.lower() == (host or "").lower():
            return True
        self.log(logging.WARNING, "otrace: refused a websocket from origin %s", ascii(origin[:200]))
        return False

    def open(self, connection: Any, user_agent: str, send: Callable[[str], Any]) -> str | None:
        """Register the socket under the name of ``registry.identity(connection)`` (``names``:
        one-to-one, a second tab is ``<name>#2``; None: not identified, not registered, logged),
        its messages sent with ``send`` on the running loop. Returns the name."""
        try:
            identity = identity_text(self.registry.identity(connection))
        except Exception:
            self.log(logging.ERROR, "otrace: the web identity callable failed", exc_info=True)
            identity = None
        if identity is None:
            self.log(logging.INFO, "otrace: websocket from %s not identified; not registered", self.remote)
            return None
        self.name = self.registry.register(identity, user_agent or "", send, loop=asyncio.get_running_loop())
        return self.name

    def message(self, message: str | bytes) -> bool:
        """Handle ``message`` if it is otrace's; True when it was consumed (otrace's: handled, or
        dropped as oversized/unregistered), False when it belongs to the app (not JSON, or JSON
        without an ``otrace`` key)."""
        try:
            data = json.loads(message)
        except (ValueError, RecursionError):   # not JSON, or nested too deeply to parse
            return False
        if not isinstance(data, dict) or "otrace" not in data:
            return False
        if len(message) > MAX_WEB_MESSAGE:
            self.drop_oversized(len(message))
            return True
        name = self.name
        if name is None:
            self.log(logging.WARNING, "otrace: dropped a message from unregistered websocket %s", self.remote)
            return True
        kind = data.get("otrace")
        if kind == "hello":
            url = data.get("url")
            self.registry.set_url(name, url if isinstance(url, str) else "")
        elif kind == "result":
            self.registry.reply(name, data.get("id"), data.get("value"), data.get("error"))
        else:
            self.log(logging.WARNING, "otrace: dropped a message of unknown kind %s from browser %s",
                     ascii(kind)[:60], name)
        return True

    def receive(self, message: str | bytes) -> None:
        """A message on otrace's own socket: handled when otrace's, else dropped with a log line."""
        if len(message) > MAX_WEB_MESSAGE:
            self.drop_oversized(len(message))
        elif not self.message(message):
            self.log(logging.WARNING, "otrace: dropped a non-otrace message (%d bytes) from %s",
                     len(message), self.name or self.remote)

    def drop_oversized(self, size: int) -> None:
        """Log (rate-limited) that a message of ``size`` bytes was dropped as too large."""
        self.log(logging.WARNING, "otrace: dropped a %d-byte websocket message from %s (limit %d)",
                 size, self.name or self.remote, MAX_WEB_MESSAGE)

    def close(self) -> None:
        """Unregister the socket (its pending evaluations fail at once). Idempotent."""
        name, self.name = self.name, None
        if name is not None:
            self.registry.unregister(name)

    def log(self, level: int, msg: str, *args: Any, exc_info: bool = False) -> None:
        """A log line caused by this socket's browser, through the registry's rate limiter."""
        self.registry.warnings.log(self.name or self.remote, level, msg, *args, exc_info=exc_info)
