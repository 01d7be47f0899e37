"""One client connection of the language server: the Content-Length framing over an asyncio
stream (``otrace_server.endpoint.read_frame``, shared with the DAP endpoint), the token check, and a pygls ``LanguageServer`` of its own (its own shell session, its own
open documents).

Framing rules: a header block without a valid ``Content-Length`` (non-JSON framing garbage) closes
the connection; a body larger than ``MAX_MESSAGE`` is skipped and answered with a JSON-RPC error
(-32600); a body that is not JSON (or nested too deeply to parse) gets -32700; a body that is not a
JSON-RPC message (or whose ``id`` is not a string, an integer or null) gets -32600.
Until an ``initialize`` request carries the right ``initializationOptions.token`` every message is
answered with an error (-32002, or -32004 for a wrong token) and the connection is closed; so is a
connection that sends no valid ``initialize`` within ``endpoint.AUTH_TIMEOUT`` seconds.
``shutdown``/``exit`` close only this connection.

Thread-safety: everything here runs on the control loop, except ``audit`` and the shell session
(used by worker threads under ``session_lock``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcServerError
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from otrace_server import __version__
from otrace_server.core.errors import OTraceError
from otrace_server.endpoint import MAX_MESSAGE, Client, FramingError, TooLarge, encode, loads, read_frame
from otrace_server.lsp import methods

__all__ = ["Connection", "MAX_MESSAGE", "PROTOCOL_VERSION", "ERR_OTRACE", "ERR_NOT_INITIALIZED",
           "ERR_NOT_AVAILABLE", "ERR_BAD_TOKEN"]

log = logging.getLogger("otrace.lsp")

#: the version of the otrace/* protocol (docs/PROTOCOL.md), in ``initialize``'s result.otrace
PROTOCOL_VERSION = "1.1"
ERR_OTRACE = -32001          # the operation was refused (OTraceError)
ERR_NOT_INITIALIZED = -32002  # a message before a successful initialize
ERR_NOT_AVAILABLE = -32003   # the feature is not set up in this process
ERR_BAD_TOKEN = -32004       # initialize with a missing or wrong token


def _plain(value: Any) -> Any:
    """pygls hands custom params over as namedtuples: turn them back into dicts/lists."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Protocol(LanguageServerProtocol):
    """pygls' protocol with otrace's token check and per-connection exit."""

    conn: "Connection"

    def structure_message(self, data):
        """Keep the params of ``otrace/*`` requests as the plain JSON object the client sent
        (pygls would turn them into namedtuples, renaming keys that are Python keywords such as
        ``raise``)."""
        method = data.get("method") if isinstance(data, dict) else None
        if isinstance(method, str) and method.startswith("otrace/") and "id" in data:
            message = super().structure_message({**data, "params": None})
            message.params = data.get("params")
            return message
        return super().structure_message(data)

    def handle_message(self, message):
        if self.conn.authenticated:
            return super().handle_message(message)
        method = getattr(message, "method", None)
        msg_id = getattr(message, "id", None)
        if method == types.INITIALIZE and msg_id is not None:
            options = getattr(message.params, "initialization_options", None)
            token = options.get("token") if isinstance(options, dict) else None
            if isinstance(token, str) and hmac.compare_digest(token.encode("utf-8", "surrogatepass"),
                                                              self.conn.hub.token.encode()):
                info = getattr(message.params, "client_info", None)
                self.conn.start_session(getattr(info, "name", None) or "lsp")
                return super().handle_message(message)
            self.conn.refuse(msg_id, ERR_BAD_TOKEN, "invalid token: pass the token of the discovery file "
                                                    "in initializationOptions.token")
        else:
            self.conn.refuse(msg_id, ERR_NOT_INITIALIZED, "not initialized: send initialize with "
                                                          "initializationOptions.token first")

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params):
        result = yield from super().lsp_initialize(params)
        data = self._converter.unstructure(result)
        otrace = {"protocolVersion": PROTOCOL_VERSION, "dapPort": self.conn.hub.dap_port, "pid": self.conn.hub.pid}
        data["otrace"] = otrace
        data.setdefault("capabilities", {})["experimental"] = {"otrace": otrace}
        return data

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args):
        self.conn.close()
        return
        yield  # a generator, like pygls' own handler


class Connection(Client):
    """One client: reads framed messages from ``reader``, answers through ``writer``."""

    def __init__(self, hub, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.hub = hub
        self.session = None
        self.session_lock = threading.Lock()
        self.published: set[str] = set()   # uris with diagnostics published to this client
        self.ls = LanguageServer("otrace-server", __version__, types.TextDocumentSyncKind.Full,
                                 protocol_cls=_Protocol)
        self.protocol: _Protocol = self.ls.protocol
        self.protocol.conn = self
        self.protocol.set_writer(self)   # pygls writes through Client.write (buffered per loop pass)
        for name, handler in methods.REQUESTS.items():
            self.ls.feature(name)(self._custom(name, handler))
        from otrace_server.lsp import features

        features.register(self)

    # ---- session and audit ----------------------------------------------------------------
    def start_session(self, client_name: str) -> None:
        """Called at a successful initialize: a shell session of this client's own."""
        self.authenticated = True
        self.client_name = str(client_name)[:100]
        self.session = self.hub.shell.session(name=f"lsp:{self.client_name}")

    def audit(self, method: str, **details: Any) -> None:
        """Write a state-changing request of this client to the audit log (any thread)."""
        self.hub.audit.record(self.client_name, method, **details)

    # ---- requests ----------------------------------------------------------------------------
    def _custom(self, method: str, handler):
        async def run(params):
            params = _plain(params)
            if params is None:
                params = {}
            if not isinstance(params, dict):
                raise JsonRpcInvalidParams(message=f"{method}: params must be an object")
            return await self.hub.in_worker(self._call, method, handler, params)

        return run

    def _call(self, method: str, handler, params: dict) -> Any:
        """Worker thread: run one handler, turning failures into JSON-RPC errors."""
        try:
            return handler(self, params)
        except methods.ParamsError as exc:
            raise JsonRpcInvalidParams(message=str(exc)) from None
        except methods.NotAvailable as exc:
            raise JsonRpcServerError(str(exc), ERR_NOT_AVAILABLE) from None
        except OTraceError as exc:
            raise JsonRpcServerError(str(exc), ERR_OTRACE) from None

    def supports_lens_refresh(self) -> bool:
        """Whether the client accepts ``workspace/codeLens/refresh``."""
        caps = getattr(self.protocol, "client_capabilities", None)
        lens = getattr(getattr(caps, "workspace", None), "code_lens", None)
        return bool(getattr(lens, "refresh_support", False))

    def notify(self, method: str, params: Any) -> None:
        """Send a notification (control loop only); dropped before initialize or after close.
        ``params`` is JSON data (attrs objects and enums are converted as pygls does): written
        here, not through pygls, whose conversion of every message cost more than the send."""
        if self.authenticated and not self.closed:
            self.write(encode({"jsonrpc": "2.0", "method": method, "params": params},
                              default=self.protocol._serialize_message))

    def refuse(self, msg_id: Any, code: int, message: str) -> None:
        """Answer with an error (when ``msg_id`` is given) and close the connection."""
        self.send_error(msg_id, code, message)
        self.close()

    def send_error(self, msg_id: Any, code: int, message: str) -> None:
        """Send a JSON-RPC error response (``msg_id`` None: an error with id null)."""
        if self.closed:
            return
        self.write(encode({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}))

    # ---- the read loop -----------------------------------------------------------------------
    async def serve(self) -> None:
        """Read and dispatch messages until the client leaves, sends garbage or is closed."""
        try:
            while not self.closed:
                try:
                    body = await read_frame(self.reader, skip_large=self.authenticated)
                except TooLarge as exc:
                    self.send_error(None, -32600, str(exc))
                    if not self.authenticated:   # the body was left unread: nothing more is read
                        self.close()
                    continue
                if body is None:
                    break
                self._dispatch(body)
        except FramingError as exc:
            log.warning("otrace lsp: closing %s: %s", self.client_name, exc)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self.close()

    def _dispatch(self, body: bytes) -> None:
        try:
            data = loads(body)
        except ValueError as exc:
            self.send_error(None, -32700, f"parse error: {exc}")
            if not self.authenticated:
                self.close()
            return
        if not isinstance(data, dict) or data.get("jsonrpc") != "2.0" or not (
                "method" in data or "result" in data or "error" in data):
            msg_id = data.get("id") if isinstance(data, dict) else None
            self.send_error(msg_id, -32600, "invalid request: not a JSON-RPC 2.0 message")
            if not self.authenticated:
                self.close()
            return
        msg_id = data.get("id")
        if msg_id is not None and (not isinstance(msg_id, (str, int)) or isinstance(msg_id, bool)):
            self.send_error(None, -32600, "invalid request: 'id' must be a string, an integer or null")
            if not self.authenticated:
                self.close()
            return
        if "method" in data and not isinstance(data["method"], str):
            self.send_error(data.get("id"), -32600, "invalid request: 'method' must be a string")
            return
        if "method" in data:
            data.setdefault("params", None)   # pygls needs the key; JSON-RPC makes it optional
        try:
            message = self.protocol.structure_message(data)
        except JsonRpcException:
            if "id" in data and "method" in data:
                self.send_error(data["id"], -32602, f"invalid params for {data['method']}")
            if not self.authenticated:
                self.close()
            return
        self.protocol.handle_message(message)
