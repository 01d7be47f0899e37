"""The DAP endpoint: an ``asyncio.start_server`` accept loop on otrace's control loop, one
``Session`` per client, the fan-out of engine events as DAP events, and the live breakpoints.

    handle = start_server(app)      # app.start() does this (before the language server)
    handle.port                     # TCP port on 127.0.0.1; also app.dap_port, the discovery file
    handle.stop()                   # sends ``terminated``, closes every session

Events sent to attached clients: ``stopped``/``thread`` started when a hold begins, ``continued``/
``thread`` exited when it ends, ``output`` for trace events (category ``console``) and shell/
logpoint output, ``terminated`` when the application stops otrace.

Thread-safety notes: ``start_server`` and ``ServerHandle.stop`` may be called from any thread
except the control thread (they wait for it). Sessions and the event fan-out run on the control
loop; request handlers that touch application objects run in the worker pool (``in_worker``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from otrace_server.core.events import Event
from otrace_server.dap.breakpoints import Breakpoints
from otrace_server.dap.escalate import Debugger
from otrace_server.dap.session import Session
from otrace_server.endpoint import TIMEOUT, Endpoint, context_line, start_endpoint, stop_endpoint

__all__ = ["DapServer", "ServerHandle", "start_server"]

log = logging.getLogger("otrace.dap")
audit_log = logging.getLogger("otrace.audit")


class DapServer(Endpoint):
    """What the sessions share (``clients``: the sessions): engine, shell, token, worker pool
    (``in_worker``), breakpoints. The accept loop and lifecycle are ``endpoint.Endpoint``'s."""

    client_kind = "dap session"

    def __init__(self, app, host: str, port: int) -> None:
        super().__init__(app, host, port, workers=4, thread_name_prefix="otrace-dap")
        self.breakpoints = Breakpoints(self.engine)

    # ---- endpoint hooks (control loop) -----------------------------------------------------
    def _make_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Session:
        return Session(self, reader, writer)

    async def _close_client(self, session: Session) -> None:
        """At stop: ``terminated``, then the session's breakpoints are removed."""
        session.event("terminated")
        try:   # directly, not through the worker pool: busy workers must not keep patches in place
            self.breakpoints.clear(session)
        finally:
            session.close()

    async def _client_gone(self, session: Session) -> None:
        await session.forget()

    # ---- helpers for sessions -------------------------------------------------------------
    def audit(self, session: Session, method: str, **details: Any) -> None:
        """Record a state-changing DAP request (logger ``otrace.audit``, the LSP's audit file)."""
        text = " ".join(f"{k}={v!r}" for k, v in details.items())
        audit_log.info("client=%s method=dap/%s %s", session.client_name, method, text)

    def locate(self, file: str, line: int) -> tuple[str, int]:
        """(file, line) in the source file of a position in breakpoint-patched code."""
        return self.breakpoints.locate(file, line)

    def locate_context(self, ctx) -> tuple[str, int]:
        """(file, line) of a context: its own position, mapped out of breakpoint patches."""
        return self.locate(ctx.file, ctx.line)

    def thread_name(self, hold) -> str:
        """A hold's DAP thread name: trace id + request summary (``GET /?number=77 from 127.0.0.1``)."""
        request = hold.context.extra.get("request")
        if request:
            return f"{hold.id}  {request}"
        return f"{hold.id}  [{hold.context.thread}]"

    def info(self, hold) -> dict[str, Any]:
        """The ``otrace`` scope of a hold: id, label, where, request, thread, age, remaining..."""
        ctx = hold.context
        file, line = self.locate_context(ctx)
        out = {"traceId": ctx.id, "label": ctx.label, "function": ctx.funcname, "where": ctx.where,
               "file": file, "line": line, "thread": ctx.thread, "since": time.strftime(
                   "%H:%M:%S", time.localtime(hold.created_wall)), "age": round(hold.age, 1),
               "remaining": None if hold.remaining is None else round(hold.remaining, 1),
               "resume": f"continue this thread, or `resume {ctx.id}` in the otrace shell"}
        if "request" in ctx.extra:
            out["request"] = ctx.extra["request"]
        if ctx.argvalues:
            out["arguments"] = ctx.argvalues
        return out

    def broadcast(self, name: str, body: dict) -> None:
        for session in list(self.clients):
            session.event(name, body)

    # ---- engine events (control loop) -----------------------------------------------------
    def _context_output(self, ctx, more: int = 0) -> None:
        """An ``output`` event naming ``ctx`` (``more``: how many others the throttle held back)."""
        file, line = self.locate_context(ctx)
        body = {"category": "console", "output": f"otrace: {context_line(ctx, more)}\n"}
        if file and line:
            body.update(source={"path": file}, line=line)
        self.broadcast("output", body)

    def _contexts_held(self, count: int, last) -> None:
        self._context_output(last, count - 1)

    def _on_event(self, event: Event) -> None:
        data = event.data
        try:
            if event.kind == "hold_started":
                if data["hold"].done:   # resumed before this event got here: no stopped phantom thread
                    return
                for session in list(self.clients):
                    if session.configured:
                        session.hold_started(data["hold"])
            elif event.kind == "hold_resumed":
                for session in list(self.clients):
                    session.hold_resumed(data["hold"])
            elif event.kind == "context":
                if self.contexts.admit(data["context"]):
                    self._context_output(data["context"])
            elif event.kind == "output":
                stream = data.get("stream", "stdout")
                category = stream if stream in ("stdout", "stderr", "console") else "console"
                text = str(data.get("text", ""))
                self.broadcast("output", {"category": category, "output": text if text.endswith("\n") else text + "\n"})
        except Exception:
            log.exception("otrace dap: forwarding %s failed", event.kind)


class ServerHandle:
    """What ``start_server`` returns: ``port``, ``host``, ``server``, ``stop()``."""

    def __init__(self, server: DapServer) -> None:
        self.server = server
        self.port: int = server.port
        self.host = server.host
        self._stopped = False

    def stop(self, timeout: float = TIMEOUT) -> None:
        """Send ``terminated`` to every client, remove the breakpoints, close the listening socket.
        Idempotent; any thread but the control thread."""
        if self._stopped:
            return
        self._stopped = True
        stop_endpoint(self.server, timeout)


def start_server(app, host: str | None = None, port: int | None = None) -> ServerHandle:
    """Start the DAP endpoint of ``app`` (an ``otrace_server.app.App``, runtime started) on its
    control loop and return a handle. ``host`` defaults to ``app.host``; ``port`` to
    ``app.dap_port_requested`` (0: a free port).

    Thread: any but the control thread (RuntimeError). Failures: OSError when the port cannot be
    bound (nothing is left running).
    """
    host = host or getattr(app, "host", None) or "127.0.0.1"
    if port is None:
        port = getattr(app, "dap_port_requested", 0) or 0
    server = DapServer(app, host, port)
    start_endpoint(server)
    app.shell.debugger = Debugger(app)   # the shell's `debug` command and LSP otrace/debugpy use it
    log.info("otrace: DAP endpoint on %s:%s", host, server.port)
    return ServerHandle(server)
