"""One client of the language server: the token check, then a pygls ``LanguageServer`` of its own
(its own shell session, its own open documents). The connection and its framing are the control
plane's (``control.client.Client``, on a ``control.transport`` connection).

Until an ``initialize`` request carries the right ``initializationOptions.token`` every message is
answered with an error (-32002, or -32004 for a wrong token) and the connection is closed; so is a
connection that sends no valid ``initialize`` within ``control.auth.AUTH_TIMEOUT`` seconds. Before
that, nothing of pygls is built (a stranger's connection costs a transport and a parser) and a
body may be at most ``control.framing.MAX_LOGIN_MESSAGE`` bytes. Framing rules after login: a header block without
a valid ``Content-Length`` (non-JSON framing garbage) closes the connection; a body larger than
``MAX_MESSAGE`` is skipped and answered with a JSON-RPC error (-32600); a body that is not JSON (or
nested too deeply to parse) gets -32700; a body that is not a JSON-RPC message (or whose ``id`` is
not a string, an integer or null) gets -32600; so does a request after ``shutdown`` (LSP's rule);
a ``$/cancelRequest`` without a request's id is dropped. ``shutdown``/``exit`` close only this
connection.

Requests that ``lsp.inline``'s rule allows (bounded, reading only otrace's own state: ``pwd``,
``otrace/holds``...) are answered on the control loop before pygls sees them, in the callback that
read them (``data_received``: no coroutine woken in between, the answer written at once); every
other request goes through pygls to a worker thread. A client's shell requests
(``inline.SESSION_METHODS``) run one at a time in the order sent, and no inline answer overtakes a
request of the client still pending (``pwd`` after ``cd``, ``otrace/holds`` after
``otrace/resume``: they take the worker path behind it). A client has at most ``MAX_PENDING``
requests in the workers; its next message waits for one of their answers.

pygls internals used here (hence the pinned pygls range in pyproject.toml):
``LanguageServerProtocol.structure_message``/``handle_message``/``lsp_initialize``, its ``lsp_method``
decorator, ``_converter``, ``_serialize_message``, ``_request_futures`` (the task of a request
it dispatched) and ``_shutdown`` (after ``shutdown`` it answers no request: we answer them, with
an error); ``set_writer``.

Thread-safety: everything here runs on the control loop, except ``call`` (worker threads, or the
control loop for an inline answer: it makes this client the audit actor,
``core.audit.acting("lsp", client_name)``, for the request it runs) and the shell session (used
under ``session_lock`` by one request at a time).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from types import SimpleNamespace
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams, JsonRpcServerError
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from otrace_server import __version__
from otrace_server.control.auth import token_matches
from otrace_server.control.client import Client
from otrace_server.control.framing import TooLarge, encode, loads
from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server.core.outcomes import STATUS_RANGE
from otrace_server.core.reprs import visible
from otrace_server.lsp import fleet, inline, methods, standing

__all__ = ["LspClient", "PROTOCOL_VERSION", "ERR_OTRACE", "ERR_NOT_INITIALIZED", "ERR_NOT_AVAILABLE",
           "ERR_BAD_TOKEN", "MAX_PENDING"]

log = logging.getLogger("otrace.lsp")

#: the version of the otrace/* protocol (docs/PROTOCOL.md), in ``initialize``'s result.otrace
PROTOCOL_VERSION = "1.4"
ERR_OTRACE = -32001          # the operation was refused (OTraceError)
ERR_NOT_INITIALIZED = -32002  # a message before a successful initialize
ERR_NOT_AVAILABLE = -32003   # the feature is not set up in this process
ERR_BAD_TOKEN = -32004       # initialize with a missing or wrong token
#: a client's requests dispatched to the workers and not answered yet, at most: past it, its next
#: message waits for one of them (and its connection stops being read: TCP pushes back), so a
#: client sending requests faster than they are answered cannot queue unbounded work (and memory)
#: in the workers ahead of the other clients' requests
MAX_PENDING = 16


def _plain(value: Any) -> Any:
    """pygls hands custom params over as namedtuples: turn them back into dicts/lists."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Protocol(LanguageServerProtocol):
    """pygls' protocol with otrace's initialize result and per-connection exit."""

    conn: "LspClient"

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

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params):
        result = yield from super().lsp_initialize(params)
        data = self._converter.unstructure(result)
        server = self.conn.server
        otrace = {"protocolVersion": PROTOCOL_VERSION, "dapPort": server.dap_port, "pid": server.pid,
                  "safeMode": bool(server.engine.settings.safe_mode), "statusRange": list(STATUS_RANGE)}
        data["otrace"] = otrace
        data.setdefault("capabilities", {})["experimental"] = {"otrace": otrace}
        return data

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args):
        self.conn.close()
        return
        yield  # a generator, like pygls' own handler


class LspClient(Client):
    """One client (the protocol of its connection: ``control.client.Client``). ``ls`` (its pygls
    server), ``session`` (its shell session) exist once it logged in (``authenticated``)."""

    protocol_name = "lsp"

    def __init__(self, server) -> None:
        super().__init__()
        self.server = server
        self.session = None
        self.session_lock = threading.Lock()
        self._session_order = asyncio.Lock()   # the client's shell requests, one at a time, in order
        self._pending = 0   # its requests dispatched to pygls and not answered yet
        self._room: asyncio.Future | None = None   # handle_body's wait while MAX_PENDING are pending
        self._inline_in_a_row = 0   # inline answers in this callback of the control loop (handle_body)
        self.published: set[str] = set()   # uris with diagnostics published to this client
        self.ls: LanguageServer | None = None
        self.lsp: _Protocol | None = None

    # ---- login and session ------------------------------------------------------------------
    def _login(self, data: dict) -> bool:
        """The first message: an ``initialize`` request with the token logs in (the pygls server
        and the shell session are built: True); anything else is refused and the connection
        closed (False)."""
        msg_id = data.get("id")
        if data.get("method") != types.INITIALIZE or msg_id is None:
            self.refuse(msg_id, ERR_NOT_INITIALIZED, "not initialized: send initialize with "
                                                     "initializationOptions.token first")
            return False
        params = data.get("params")
        if not isinstance(params, dict):
            self.refuse(msg_id, -32602, "invalid params for initialize: an object is required")
            return False
        options = params.get("initializationOptions")
        if not token_matches(options.get("token") if isinstance(options, dict) else None, self.server.token):
            self.refuse(msg_id, ERR_BAD_TOKEN, "invalid token: pass the token of the discovery file "
                                               "in initializationOptions.token")
            return False
        info = params.get("clientInfo")
        name = info.get("name") if isinstance(info, dict) else None
        self.client_name = visible(str(name or "lsp")[:100], one_line=True)   # log lines name it: one line
        self.ls = LanguageServer("otrace-server", __version__, types.TextDocumentSyncKind.Full,
                                 protocol_cls=_Protocol)
        self.lsp = self.ls.protocol
        self.lsp.conn = self
        # pygls' answers and requests to the client are sent at once (``send``); notifications
        # (``notify``) stay batched per pass of the loop
        self.lsp.set_writer(SimpleNamespace(write=self.send, close=self.close))
        for method, handler in {**methods.REQUESTS, **fleet.REQUESTS}.items():
            self.ls.feature(method)(self._custom(method, handler))
        from otrace_server.lsp import features

        features.register(self)
        self.session = self.server.shell.session(name=f"lsp:{self.client_name}")
        self.authenticated = True
        return True

    # ---- requests ----------------------------------------------------------------------------
    def _custom(self, method: str, handler):
        async def run(params):
            params = _plain(params)
            if params is None:
                params = {}
            if not isinstance(params, dict):
                raise JsonRpcInvalidParams(message=f"{method}: params must be an object")
            if method not in inline.SESSION_METHODS:
                return await self.server.in_worker(self.call, method, handler, params)
            async with self._session_order:
                return await self.server.in_worker(self.call, method, handler, params)

        return run

    def call(self, method: str, handler, params: dict) -> Any:
        """Worker thread (control loop for an inline answer): run one handler as this client (the
        audit actor ``lsp``, ``client_name``), turning failures into JSON-RPC errors."""
        try:
            with audit.acting("lsp", self.client_name):
                if "fleetOrder" in params and method in standing.ORDER_METHODS:   # a fleet order (lsp.fleet)
                    return fleet.ordered(self, method, handler, params)
                return handler(self, params)
        except methods.ParamsError as exc:
            raise JsonRpcInvalidParams(message=str(exc)) from None
        except methods.NotAvailable as exc:
            raise JsonRpcServerError(str(exc), ERR_NOT_AVAILABLE) from None
        except methods.ErrorWithData as exc:
            raise JsonRpcServerError(str(exc), ERR_OTRACE, data=exc.data) from None
        except OTraceError as exc:
            raise JsonRpcServerError(str(exc), ERR_OTRACE) from None


    def supports_lens_refresh(self) -> bool:
        """Whether the client accepts ``workspace/codeLens/refresh``."""
        caps = getattr(self.lsp, "client_capabilities", None)
        lens = getattr(getattr(caps, "workspace", None), "code_lens", None)
        return bool(getattr(lens, "refresh_support", False))

    def notify(self, method: str, params: Any) -> None:
        """Send a notification (control loop only); dropped before initialize or after close.
        ``params`` is JSON data (attrs objects and enums are converted as pygls does): written
        here, not through pygls, whose conversion of every message cost more than the send."""
        if self.authenticated and not self.closed:
            self.write(encode({"jsonrpc": "2.0", "method": method, "params": params},
                              default=self.lsp._serialize_message))

    def refuse(self, msg_id: Any, code: int, message: str) -> None:
        """Answer with an error (when ``msg_id`` is given) and close the connection."""
        self.send_error(msg_id, code, message)
        self.close()

    def send_error(self, msg_id: Any, code: int, message: str) -> None:
        """Send a JSON-RPC error response (``msg_id`` None: an error with id null)."""
        if self.closed:
            return
        self.write(encode({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}))

    # ---- the connection's hooks ----------------------------------------------------------------
    def answer_too_large(self, error: TooLarge) -> None:
        self.send_error(None, -32600, str(error))

    def data_received(self, data: bytes) -> None:
        """A read of the connection: a new callback of the control loop, so ``inline.IN_A_ROW``
        counts again from 0 (an editor waiting for each answer is never given an extra pass:
        each releases the GIL, which a busy application may then keep for a switch interval)."""
        self._inline_in_a_row = 0
        super().data_received(data)

    def handle_body(self, body: bytes) -> asyncio.Future | None:
        """One message body, in the callback that read it: checked as JSON-RPC, the login first,
        then pygls dispatches it (or it is answered inline, at once). After ``inline.IN_A_ROW``
        inline answers in one callback (one read, or one wake-up after a pass), the loop gets one
        pass before the next message: a client that keeps its socket full of ``pwd`` delays the
        others by a few inline answers, not by a whole buffer of them. With ``MAX_PENDING`` of its
        requests in the workers, its next message waits until one is answered."""
        self._dispatch(body)
        if self._pending >= MAX_PENDING:
            self._room = asyncio.get_running_loop().create_future()
            return self._room
        if self._inline_in_a_row >= inline.IN_A_ROW:
            self._inline_in_a_row = 0
            return self.next_pass()
        return None

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
        login = not self.authenticated
        if login and not self._login(data):
            return
        if not login and self._refused_after_login(data):
            return
        if not login and self._answer_inline(data):
            return
        try:
            message = self.lsp.structure_message(data)
        except JsonRpcException:
            if "id" in data and "method" in data:
                self.send_error(data["id"], -32602, f"invalid params for {data['method']}")
            if login:   # an initialize pygls cannot read: the login did not happen
                self.close()
            return
        self.lsp.handle_message(message)
        if "method" in data and "id" in data:
            task = self.lsp._request_futures.get(data["id"])
            if task is not None and not task.done():   # done: answered, failed or cancelled (even unstarted)
                self._pending += 1
                task.add_done_callback(self._answered)

    def _refused_after_login(self, data: dict) -> bool:
        """Whether ``data`` is a message pygls must not see, answered here: a request after
        ``shutdown`` (-32600, as LSP asks: pygls would leave it unanswered, its client waiting
        forever), or a ``$/cancelRequest`` whose id is not a request's (a string or an integer:
        pygls would fail on it; dropped, being a notification)."""
        method, msg_id = data.get("method"), data.get("id")
        if self.lsp._shutdown and method is not None and msg_id is not None and method != "exit":
            self.send_error(msg_id, -32600, "invalid request after shutdown: only exit is accepted")
            return True
        if method == "$/cancelRequest":
            params = data.get("params")
            cancelled = params.get("id") if isinstance(params, dict) else None
            if not isinstance(cancelled, (str, int)) or isinstance(cancelled, bool):
                log.debug("otrace lsp: %s sent $/cancelRequest without a request id", self.client_name)
                return True
        return False

    def _answered(self, _task: Any) -> None:
        self._pending -= 1
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)

    def _answer_inline(self, data: dict) -> bool:
        """Answer the request ``data`` here, on the control loop, in the callback that read it,
        when ``lsp.inline`` allows it (True: answered, and sent now, not at the end of the loop's
        pass); False: not a request for the inline path (see ``inline``'s rule)."""
        method, msg_id, params = data.get("method"), data.get("id"), data.get("params")
        if params is None:
            params = {}
        if msg_id is None or method not in inline.RULES or not isinstance(params, dict) or self.lsp._shutdown:
            return False
        if "fleetOrder" in params:   # recorded in the fleet's order log: file I/O, not on the control loop
            return False
        if self._pending or (method in inline.SESSION_METHODS and self.session_lock.locked()):
            return False   # rule 2: never ahead of the client's pending request (nor beside its shell one)
        kind = self.server.inline.allows(self, method, params)
        if kind is None:
            return False
        try:
            answer = {"result": self.server.inline.run(kind, lambda: self.call(method, methods.REQUESTS[method], params))}
        except JsonRpcException as exc:
            answer = {"error": exc.to_response_error()}
        except Exception:   # as pygls answers a handler's crash
            log.exception("otrace lsp: %s failed", method)
            answer = {"error": JsonRpcInternalError.of(sys.exc_info()).to_response_error()}
        self.send(encode({"jsonrpc": "2.0", "id": msg_id, **answer}, default=self.lsp._serialize_message))
        self._inline_in_a_row += 1
        return True
