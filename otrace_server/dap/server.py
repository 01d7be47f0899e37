"""The DAP endpoint: one ``DapClient`` per client on the control plane's accept loop
(``control.endpoint.Endpoint``, on otrace's control loop), the fan-out of engine events as DAP
events, and the live breakpoints.

    handle = start_server(app)      # app.start() does this (before the language server)
    handle.port                     # TCP port on 127.0.0.1; also app.dap_port, the discovery file
    handle.stop()                   # sends ``terminated``, closes every client

Events sent to attached clients: ``stopped``/``thread`` started when a hold begins, ``continued``/
``thread`` exited when it ends, ``output`` for trace events (category ``console``) and shell/
logpoint output, ``terminated`` when the application stops otrace.

Thread-safety notes: ``start_server`` and ``ServerHandle.stop`` may be called from any thread
except the control thread (they wait for it). Clients and the event fan-out run on the control
loop; request handlers that touch application objects run in the worker pool (``in_worker``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from otrace_server.control.endpoint import Endpoint, ServerHandle
from otrace_server.control.endpoint import start_server as start_endpoint_server
from otrace_server.control.throttle import context_line
from otrace_server.dap.breakpoints import Breakpoints
from otrace_server.dap.client import DapClient

__all__ = ["DapServer", "start_server"]

log = logging.getLogger("otrace.dap")


class DapServer(Endpoint):
    """What the clients share (``clients``: the ``DapClient``s): engine, shell, token, worker pool
    (``in_worker``), breakpoints. The accept loop and lifecycle are ``control.endpoint.Endpoint``'s."""

    client_kind = "dap client"

    def __init__(self, app, host: str, port: int) -> None:
        super().__init__(app, host, port, workers=4, thread_name_prefix="otrace-dap")
        self.breakpoints = Breakpoints(self.engine)
        self.fleet = None   # lsp.fleet.FleetOrders in a fleet (app.start): breakpoints of fleet sessions

    # ---- endpoint hooks (control loop) -----------------------------------------------------
    def make_client(self) -> DapClient:
        return DapClient(self)

    async def close_client(self, client: DapClient) -> None:
        """At stop: ``terminated``, then the client's breakpoints are removed."""
        client.event("terminated")
        try:   # directly, not through the worker pool: busy workers must not keep patches in place
            self.breakpoints.clear(client)
        finally:
            client.close()

    async def client_gone(self, client: DapClient) -> None:
        await client.forget()

    # ---- helpers for clients --------------------------------------------------------------
    def locate(self, file: str, line: int) -> tuple[str, int]:
        """(file, line) in the source file of a position in breakpoint-patched code."""
        return self.breakpoints.locate(file, line)

    def locate_context(self, ctx) -> tuple[str, int]:
        """(file, line) of a context: its own position, mapped out of breakpoint patches."""
        return self.locate(ctx.file, ctx.line)

    def thread_name(self, hold) -> str:
        """A hold's DAP thread name, leading with what a person looks for: the request, then the
        label (``GET /?number=77 from 127.0.0.1 · hold_check``); without a request, the label and
        the thread (``hold_check [worker-1]``); `` (client gone)`` once its client left. A debugger's
        Call Stack cuts long names at the end: the trace id is in the ``otrace`` scope."""
        ctx = hold.context
        request = ctx.extra.get("request")   # a RequestSummary: its one-line text
        name = f"{request} · {ctx.label}" if request else f"{ctx.label} [{ctx.thread}]"
        return f"{name} (client gone)" if hold.client_gone else name

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
            out["request"] = str(ctx.extra["request"])   # a RequestSummary: its one-line text
        if ctx.argvalues:
            out["arguments"] = ctx.argvalues
        return out

    def broadcast(self, name: str, body: dict) -> None:
        """Send an event to every attached client (control loop)."""
        for client in list(self.clients):
            client.event(name, body)

    # ---- engine events (control loop: the Endpoint's hooks) -------------------------------
    def _context_output(self, ctx, more: int = 0) -> None:
        """An ``output`` event naming ``ctx`` (``more``: how many others the throttle held back)."""
        file, line = self.locate_context(ctx)
        body = {"category": "console", "output": f"otrace: {context_line(ctx, more)}\n"}
        if file and line:
            body.update(source={"path": file}, line=line)
        self.broadcast("output", body)

    def context_recorded(self, ctx) -> None:
        self._context_output(ctx)

    def contexts_held(self, count: int, last) -> None:
        self._context_output(last, count - 1)

    def hold_started(self, hold) -> None:
        for client in list(self.clients):
            if client.configured:
                client.hold_started(hold)

    def hold_resumed(self, hold, outcome) -> None:
        for client in list(self.clients):
            client.hold_resumed(hold)

    def output(self, text: str, stream: str) -> None:
        category = stream if stream in ("stdout", "stderr", "console") else "console"
        self.broadcast("output", {"category": category, "output": text if text.endswith("\n") else text + "\n"})


def start_server(app, host: str | None = None, port: int | None = None) -> ServerHandle:
    """Start the DAP endpoint of ``app`` (an ``otrace_server.app.App``, runtime started) on its
    control loop and return a handle (``handle.endpoint``: the ``DapServer``). ``host`` defaults
    to ``app.host`` (a host beyond loopback is served with a warning); ``port`` to
    ``app.dap_port_requested`` (0: a free port).

    Thread: any but the control thread (RuntimeError). Failures: OSError when the port cannot be
    bound (nothing is left running).
    """
    if port is None:
        port = app.dap_port_requested
    return start_endpoint_server(DapServer, app, host, port, what="the DAP endpoint")
