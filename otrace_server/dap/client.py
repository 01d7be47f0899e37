"""One DAP client: its attach (token check), its requests, the events it receives.

Holds are threads: each waiting hold/break of the engine is a DAP thread whose id is the hold's
``number`` and whose name is its trace id plus the request summary. Requests:

=====================  ========================================================================
initialize             capabilities (conditional/hit/log breakpoints, hover evaluation, the
                       "traced" exception filter); no terminate, no stepping
attach                 ``{"token": ...}`` = the discovery file's token; then ``initialized``;
                       ``fleet: true`` (in a fleet): its breakpoints are fleet orders (``lsp.fleet``)
configurationDone      ``stopped`` is sent for every hold already waiting
threads                the waiting holds
stackTrace             the hold context's frames, innermost first, real files and lines
scopes                 Locals, Globals, otrace (trace id, label, where, request, age...)
variables              lazy children, repr-limited, paged (``start``/``count``)
evaluate               in the hold's frame (``frameId``) or the shell's globals; safe_mode holds;
                       ``repl`` runs statements too (``x = 1``; safe_mode False), showing print output
continue               resume that hold only (``allThreadsContinued: false``)
pause / step*          refused with a clear message (otrace never stops the server)
setBreakpoints         live holds / snapshots / logpoints (``dap.breakpoints``)
setExceptionBreakpoints  filter ``traced``: trace exceptions in the files with breakpoints
disconnect             closes this connection only; its breakpoints are removed
=====================  ========================================================================

Before a successful ``attach`` only ``initialize`` is answered; anything else (or a wrong token)
gets an error response and the connection is closed, as is a connection that has not attached
within ``control.auth.AUTH_TIMEOUT`` seconds. The connection and the framing are the control
plane's (``control.client.Client``); a body that is not a JSON object is answered with an error
(and, before ``attach``, closes the connection).

Policy: in safe mode conditions, logpoints and repl statements are refused
(``core.policy``: one message shape); continue, repl statements and breakpoint changes write one
audit line each (``core.audit.record``) as the actor ``dap`` with this client's name.

Thread-safety: the session lives on the control loop; request handlers that touch application
objects (evaluate, variables, breakpoints) or change state run in the server's worker threads
(``in_worker``, which makes this client the audit actor there).
"""

from __future__ import annotations

import ast
import asyncio
import itertools
import logging
import os
from typing import Any

from otrace_server.control.auth import token_matches
from otrace_server.control.client import Client
from otrace_server.control.framing import TooLarge, encode, loads
from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import exception_text
from otrace_server.core.policy import refused, require_unsafe
from otrace_server.core.reprs import visible
from otrace_server import placement
from otrace_server.dap.variables import References, page, variable
from otrace_server.shell.evaluation import evaluate, execute
from otrace_server.shell.safety import repr_without_app_code

__all__ = ["DapClient", "RequestError", "CAPABILITIES", "MAX_BREAKPOINTS"]

log = logging.getLogger("otrace.dap")

CAPABILITIES = {
    "supportsConfigurationDoneRequest": True,
    "supportsConditionalBreakpoints": True,
    "supportsHitConditionalBreakpoints": True,
    "supportsLogPoints": True,
    "supportsEvaluateForHovers": True,
    "supportsTerminateRequest": False,
    "supportTerminateDebuggee": False,
    "supportsRestartRequest": False,
    "supportsStepBack": False,
    "exceptionBreakpointFilters": [{
        "filter": "traced", "label": "Traced exceptions", "default": False,
        "description": "Trace exceptions raised in the functions of the files with breakpoints "
                       "(recorded under /osh/recent/exceptions; the server does not stop)"}],
}

_NO_STOP = ("otrace does not stop a running server: set a breakpoint (a live hold) on an async "
            "function, or escalate to debugpy (shell command `debug`) for stepping")
_FRAMES_PER_HOLD = 1000
#: breakpoints in one setBreakpoints request, at most (each costs about a millisecond under the
#: breakpoints' lock, which every client's setBreakpoints takes: 100,000 held it for 85 s)
MAX_BREAKPOINTS = 1000


def _is_statement(source: str) -> bool:
    """True when ``source`` is Python statements but not an expression (``x = 1``, ``import os``)."""
    for mode in ("eval", "exec"):
        try:
            ast.parse(source.strip(), "<repl>", mode)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        return mode == "exec"
    return False


class RequestError(Exception):
    """A request that fails: answered with ``success: false`` and this one-line message."""


#: why a conditional breakpoint or logpoint is refused while safe_mode is on
SAFE_MODE_CODE = refused("conditions and logpoints", "they run code in the application; "
                                                     "a plain breakpoint (a live hold) is allowed")


class DapClient(Client):
    """One DAP connection (see the module doc)."""

    protocol_name = "dap"
    #: request -> the method that answers it (names, not bound methods: a client must hold no
    #: reference cycle, or each closed connection's buffers wait for the cyclic GC; a flood of
    #: strangers' connections grew the process by ~50 MB that way)
    HANDLERS = {
        "initialize": "_initialize", "attach": "_attach", "configurationDone": "_configuration_done",
        "threads": "_threads", "stackTrace": "_stack_trace", "scopes": "_scopes", "variables": "_variables",
        "evaluate": "_evaluate", "continue": "_continue", "setBreakpoints": "_set_breakpoints",
        "setExceptionBreakpoints": "_set_exception_breakpoints", "disconnect": "_disconnect",
    }

    def __init__(self, server) -> None:
        super().__init__()
        self.server = server
        self.configured = False
        self.lines_start_at1 = True
        self.client_name = "dap"
        self.refs = References()
        self.files: set[str] = set()        # files this client set breakpoints in
        self.traced_exceptions = False
        self.fleet = False                  # attach {fleet: true}: its breakpoints are fleet orders (lsp.fleet)
        self._seq = itertools.count(1)

    @property
    def attached(self) -> bool:
        """Whether the client attached with the right token (``Client.authenticated``)."""
        return self.authenticated

    # ---- wire (control loop) ---------------------------------------------------------------
    def send(self, message: dict) -> None:
        if not self.closed:
            message["seq"] = next(self._seq)
            self.write(encode(message, default=repr))

    def event(self, name: str, body: dict | None = None) -> None:
        """Send an event to this client once it is attached (control loop)."""
        if self.attached and not self.closed:
            self.send({"type": "event", "event": name, "body": body or {}})

    def respond(self, request: dict, body: Any = None, error: str | None = None) -> None:
        seq = request.get("seq") if isinstance(request.get("seq"), int) else 0
        msg = {"type": "response", "request_seq": seq, "command": str(request.get("command", "")),
               "success": error is None}
        if error is not None:
            msg["message"] = error
            msg["body"] = {"error": {"id": 1, "format": error, "showUser": True}}
        elif body is not None:
            msg["body"] = body
        self.send(msg)

    # ---- the connection's hooks (control loop) -------------------------------------------------
    def answer_too_large(self, error: TooLarge) -> None:
        self.respond({"command": "unknown"}, error=str(error))

    async def handle_body(self, body: bytes) -> None:
        """One message body: a JSON object, answered in order (one request at a time)."""
        try:
            message = loads(body)
            if not isinstance(message, dict):
                raise ValueError("the message is not a JSON object")
        except ValueError as exc:
            self.respond({"command": "unknown"}, error=str(exc))
            if not self.attached:
                self.close()
            return
        await self._dispatch(message)

    async def _dispatch(self, message: dict) -> None:
        command = message.get("command")
        if message.get("type") != "request" or not isinstance(command, str):
            if message.get("type") == "response":   # e.g. an answer to a reverse request: nothing to do
                return
            self.respond(message, error="not a DAP request (needs type 'request' and a string 'command')")
            if not self.attached:
                self.close()
            return
        if not self.attached and command not in ("initialize", "attach"):
            self.respond(message, error=f"{command}: not attached: send attach with the token of the discovery file")
            self.close()
            return
        args = message.get("arguments")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            self.respond(message, error=f"{command}: arguments must be an object")
            if not self.attached and command == "attach":
                self.close()
            return
        name = self.HANDLERS.get(command)
        handler = getattr(self, name) if name is not None else None
        if handler is None:
            reason = _NO_STOP if command in ("pause", "next", "stepIn", "stepOut", "stepBack", "reverseContinue",
                                               "goto", "restartFrame") else \
                "otrace never terminates or restarts the application (disconnect leaves it running)" \
                if command in ("terminate", "restart", "launch", "terminateThreads") else f"unsupported request {command!r}"
            self.respond(message, error=reason)
            return
        try:
            result = handler(args)
            if asyncio.iscoroutine(result):
                result = await result
        except (RequestError, OTraceError) as exc:
            self.respond(message, error=str(exc))
            if not self.attached and command == "attach":
                self.close()
        except Exception as exc:   # never let a request break the connection
            log.exception("otrace dap: %s failed", command)
            self.respond(message, error=f"{command} failed: {exception_text(exc)}")
            if not self.attached:   # nothing but a clean attach opens the connection
                self.close()
        else:
            if not self.closed:
                self.respond(message, result)
            if command == "attach" and self.attached:
                self.event("initialized")
            elif command == "disconnect":
                self.close()

    def in_worker(self, fn, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` in the server's worker pool as this client (the audit actor
        ``dap``, ``client_name``); await the result on the control loop."""
        def run():
            with audit.acting("dap", self.client_name):
                return fn(*args, **kwargs)

        return self.server.in_worker(run)

    # ---- handshake --------------------------------------------------------------------------
    def _initialize(self, args: dict) -> dict:
        # a stranger's text (no token yet) that log lines name: one line, controls escaped
        self.client_name = visible(str(args.get("clientName") or args.get("clientID") or "dap")[:100], one_line=True)
        self.lines_start_at1 = args.get("linesStartAt1", True) is not False
        return dict(CAPABILITIES)

    def _attach(self, args: dict) -> None:
        if not token_matches(args.get("token"), self.server.token):
            raise RequestError("invalid token: pass the token of the discovery file in the attach arguments ('token')")
        self.authenticated = True
        self.fleet = args.get("fleet") is True and self.server.fleet is not None

    def _configuration_done(self, args: dict) -> None:
        self.configured = True
        asyncio.get_running_loop().call_soon(self._announce_waiting)

    def _announce_waiting(self) -> None:
        for hold in self.server.engine.holds.list():
            self.hold_started(hold)

    # ---- engine events (control loop, called by the server) --------------------------------
    def hold_started(self, hold) -> None:
        ctx = hold.context
        point = ctx.extra.get("dap_breakpoint")
        mine = point is not None and any(p.id == point for p in self.server.breakpoints.points(self))
        self.event("thread", {"reason": "started", "threadId": hold.number})
        self.event("stopped", {"reason": "breakpoint" if point is not None else "hold",
                               "threadId": hold.number, "allThreadsStopped": False, "preserveFocusHint": False,
                               "description": f"held: {ctx.id}", "text": ctx.id,
                               **({"hitBreakpointIds": [point]} if mine else {})})   # ids this client knows

    def hold_resumed(self, hold) -> None:
        self.refs.drop(hold.id)
        self.event("continued", {"threadId": hold.number, "allThreadsContinued": False})
        self.event("thread", {"reason": "exited", "threadId": hold.number})

    # ---- threads and frames ----------------------------------------------------------------
    def _hold(self, thread_id: Any):
        for hold in self.server.engine.holds.list():
            if hold.number == thread_id:
                return hold
        raise RequestError(f"no held request with thread id {thread_id!r} (it was resumed?)")

    def _threads(self, args: dict) -> dict:
        return {"threads": [{"id": h.number, "name": self.server.thread_name(h)} for h in self.server.engine.holds.list()]}

    def _frame(self, frame_id: Any):
        """(hold, index into its context's stack) of a frame id."""
        if not isinstance(frame_id, int) or isinstance(frame_id, bool):
            raise RequestError(f"bad frameId {frame_id!r}")
        try:
            hold = self._hold(frame_id // _FRAMES_PER_HOLD)
        except RequestError:
            raise RequestError(f"no frame {frame_id}: no held request has it (it was resumed?)") from None
        index = frame_id % _FRAMES_PER_HOLD
        if not 0 <= index < len(hold.context.stack):
            raise RequestError(f"no frame {frame_id}")
        return hold, index

    def _line(self, line: int) -> int:
        return line if self.lines_start_at1 else line - 1

    def _stack_trace(self, args: dict) -> dict:
        hold = self._hold(args.get("threadId"))
        ctx = hold.context
        frames = []
        for index in range(min(ctx.frame_index, len(ctx.stack) - 1), -1, -1):   # innermost first
            snap = ctx.stack[index]
            file, line = self.server.locate(snap.file, snap.line)
            if index == ctx.frame_index:
                file, line = self.server.locate_context(ctx)
            frame = {"id": hold.number * _FRAMES_PER_HOLD + index, "name": snap.function,
                     "line": self._line(line), "column": 1}
            if os.path.isabs(file) and os.path.exists(file):
                frame["source"] = {"name": os.path.basename(file), "path": file}
            else:
                frame["source"] = {"name": file, "presentationHint": "deemphasize"}
                frame["presentationHint"] = "subtle"
            frames.append(frame)
        start = args.get("startFrame") or 0
        levels = args.get("levels") or 0
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (start, levels)):
            raise RequestError("stackTrace: startFrame and levels must be non-negative integers")
        shown = frames[start:start + levels] if levels else frames[start:]
        return {"stackFrames": shown, "totalFrames": len(frames)}

    async def _scopes(self, args: dict) -> dict:
        hold, index = self._frame(args.get("frameId"))
        return await self.in_worker(self._build_scopes, hold, index)   # reads the app's live globals

    def _build_scopes(self, hold, index: int) -> dict:
        ctx = hold.context
        snap = ctx.stack[index]
        local_values = ctx.locals if index == ctx.frame_index else (snap.locals or {})
        scopes = [{"name": "Locals", "presentationHint": "locals", "expensive": False,
                   "variablesReference": self.refs.scope(hold.id, local_values), "namedVariables": len(local_values)}]
        if index == ctx.frame_index and ctx.globals is not None:
            scopes.append({"name": "Globals", "expensive": True,
                           "variablesReference": self.refs.scope(hold.id, {k: v for k, v in ctx.globals.items()
                                                                           if isinstance(k, str) and not k.startswith("__")})})
        if index == ctx.frame_index:
            scopes.append({"name": "otrace", "expensive": False,
                           "variablesReference": self.refs.scope(hold.id, self.server.info(hold))})
        return {"scopes": scopes}

    async def _variables(self, args: dict) -> dict:
        ref = args.get("variablesReference")
        if not isinstance(ref, int) or isinstance(ref, bool):
            raise RequestError(f"bad variablesReference {ref!r}")
        start, count = args.get("start") or 0, args.get("count") or 0
        if not all(isinstance(v, int) and v >= 0 for v in (start, count)):
            raise RequestError("start and count must be non-negative integers")
        try:
            items = await self.in_worker(page, ref, self.refs, start, count)
        except KeyError:
            raise RequestError(f"unknown variablesReference {ref} (the request was resumed?)") from None
        return {"variables": items}

    async def _evaluate(self, args: dict) -> dict:
        expression = args.get("expression")
        if not isinstance(expression, str):
            raise RequestError("evaluate: 'expression' must be a string")
        frame_id = args.get("frameId")
        settings = self.server.engine.settings
        safe = settings.safe_mode
        if frame_id is None:
            owner, globals_dict, locals_map = None, self.server.shell.globals, None
        else:
            hold, index = self._frame(frame_id)
            ctx = hold.context
            owner = hold.id
            globals_dict = ctx.globals if ctx.globals is not None else {}
            locals_map = ctx.locals if index == ctx.frame_index else (ctx.stack[index].locals or {})
        statement = args.get("context") == "repl" and _is_statement(expression)
        if statement:
            require_unsafe(settings, "statements", "the debug console runs them as the shell's exec")

        def run() -> dict:   # a worker thread: the app's code (and its __repr__) never runs on the control loop
            try:
                if statement:   # the debug console runs statements (x = 1, import os) as the shell's exec
                    audit.record("exec", code=expression, hold=owner)
                    return {"value": execute(expression, globals_dict, locals_map), "type": None,
                            "variablesReference": 0}
                value = evaluate(expression, globals_dict, locals_map, safe=safe)
            except RecursionError as exc:   # e.g. an expression too long for the compiler: the client's error
                raise RequestError(f"evaluate: RecursionError: {exc}") from None
            # in safe mode the result is shown without its application repr, as the shell's pr does
            return variable("result", value, self.refs, owner, render=repr_without_app_code if safe else repr)

        var = await self.in_worker(run)
        out = {"result": var["value"], "variablesReference": var["variablesReference"]}
        if var["type"] is not None:
            out["type"] = var["type"]
        return out

    async def _continue(self, args: dict) -> dict:
        hold = self._hold(args.get("threadId"))
        await self.in_worker(self._resume, hold.id)
        return {"allThreadsContinued": False}

    def _resume(self, hold_id: str) -> None:
        """Worker thread: resume one hold (``Engine.resume`` audits it when it was still held)."""
        self.server.engine.resume([hold_id])

    # ---- breakpoints ------------------------------------------------------------------------
    async def _set_breakpoints(self, args: dict) -> dict:
        source = args.get("source")
        path = source.get("path") if isinstance(source, dict) else None
        if not isinstance(path, str) or not path:
            raise RequestError("setBreakpoints: source.path is required")
        if (why := placement.path_error(path)) is not None:
            raise RequestError(f"setBreakpoints: source.path {why}")
        specs = args.get("breakpoints")
        if specs is None:
            lines = args.get("lines") or []
            if not isinstance(lines, list):
                raise RequestError("setBreakpoints: 'lines' must be a list of line numbers")
            specs = [{"line": n} for n in lines]
        if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
            raise RequestError("setBreakpoints: 'breakpoints' must be a list of objects")
        if len(specs) > MAX_BREAKPOINTS:
            raise RequestError(f"setBreakpoints: {len(specs):,} breakpoints in one file; at most {MAX_BREAKPOINTS:,}")
        if not self.lines_start_at1:
            specs = [dict(s, line=s.get("line") + 1) if isinstance(s.get("line"), int) else s for s in specs]
        runs_code = [bool(s.get("condition") or s.get("logMessage")) for s in specs]
        refuse = self.server.engine.settings.safe_mode
        allowed = [s for s, code in zip(specs, runs_code) if not (refuse and code)]
        done = iter(await self.in_worker(self._set_in_file, path, allowed))
        results = [{"verified": False, "line": s.get("line"), "message": SAFE_MODE_CODE}
                   if refuse and code else next(done) for s, code in zip(specs, runs_code)]
        for r in results:
            r["source"] = {"name": os.path.basename(path), "path": path}
            if isinstance(r.get("line"), int):
                r["line"] = self._line(r["line"])
        self.files.add(path)
        if self.traced_exceptions:
            await self.in_worker(self._trace_exceptions, sorted(self.files))
        return {"breakpoints": results}

    async def _set_exception_breakpoints(self, args: dict) -> dict:
        filters = args.get("filters") or []
        if not isinstance(filters, list):
            raise RequestError("setExceptionBreakpoints: 'filters' must be a list")
        unknown = [f for f in filters if f != "traced"]
        if unknown:
            raise RequestError(f"setExceptionBreakpoints: unknown filter(s) {unknown}; the filter is 'traced'")
        self.traced_exceptions = "traced" in filters
        names = await self.in_worker(self._trace_exceptions, sorted(self.files) if self.traced_exceptions else [])
        message = f"tracing exceptions in {', '.join(names)}" if names else "no function traced"
        return {"breakpoints": [{"verified": bool(names) or not self.traced_exceptions, "message": message}]}

    def _set_in_file(self, path: str, specs: list[dict]) -> list[dict]:
        """Worker thread: this client's breakpoints in ``path`` become ``specs`` (audited)."""
        audit.record("breakpoints", file=path, lines=[s.get("line") for s in specs],
                     conditions=[s.get("condition") or s.get("logMessage") for s in specs
                                 if s.get("condition") or s.get("logMessage")])
        if self.fleet:   # the fleet's breakpoints of this file, in every worker (lsp.fleet)
            return self.server.fleet.set_breakpoints(self.client_name, path, specs)
        return self.server.breakpoints.set(self, path, specs)

    def _trace_exceptions(self, files: list[str]) -> list[str]:
        """Worker thread: trace exceptions in the functions of ``files`` (none: untrace; audited)."""
        audit.record("exception_breakpoints", files=files)
        return self.server.breakpoints.trace_exceptions(self, files)

    def _clear(self) -> None:
        """Worker thread: remove this client's breakpoints and exception traces (audited when it
        had breakpoints)."""
        files = sorted({p.file for p in self.server.breakpoints.points(self)})
        if files:
            audit.record("breakpoints", files=files, lines=[])
        self.server.breakpoints.clear(self)
        if self.fleet:   # a fleet session's breakpoints end with it, in every worker
            self.server.fleet.clear_breakpoints(self.client_name, sorted(self.files))

    async def _disconnect(self, args: dict) -> None:
        await self.in_worker(self._clear)
        return None

    async def forget(self) -> None:
        """The connection is gone: remove its breakpoints (control loop)."""
        await self.in_worker(self._clear)


