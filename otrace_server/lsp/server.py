"""The embedded language server: one ``LspClient`` (own pygls LanguageServer, own shell session)
per client, any number of clients at once, on the control plane's accept loop
(``control.endpoint.Endpoint``, on ``app.runtime.control_loop``).

    handle = start_server(app)          # from any thread but the control thread
    handle.port                         # TCP port on 127.0.0.1 (or the requested host)
    handle.stop()                       # closes every connection, removes the discovery file

The ``LspServer`` holds what the clients share: the engine and shell, the token, a worker pool for
requests (a slow command never blocks other clients or the loop), the discovery file and the
audit log beside it, per-line assert/hold counts (``LspServer.hits``, from the engine's
``site_counts``), and the fan-out of engine events as notifications.

Thread-safety notes: ``start_server`` and ``stop`` may be called from any thread except the control
thread (they wait for it). Everything else runs on the control loop, except handlers run through
``LspServer.in_worker`` (worker threads), which touch only thread-safe engine APIs and
their client's session under its lock. Positions in patched code ("Hold here live", DAP
breakpoints) are mapped back to the source through ``placement.source_position`` (thread-safe).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from otrace_server import placement
from otrace_server.control import discovery
from otrace_server.control.audit import AuditLog
from otrace_server.control.endpoint import ServerHandle, Endpoint
from otrace_server.control.endpoint import start_server as start_endpoint_server
from otrace_server.control.framing import encode, frame
from otrace_server.control.throttle import context_line
from otrace_server.core.context import TraceContext
from otrace_server.core.events import Event
from otrace_server.lsp.client import LspClient
from otrace_server.lsp import inline, live
from otrace_server.lsp.payloads import hold_payload, jsonable, outcome_payload

__all__ = ["LspServer", "start_server", "trace_event"]

log = logging.getLogger("otrace.lsp")

_DIAGNOSTICS_POLL = 1.0   # seconds between checks for contexts deleted/evicted behind our back
_LENS_REFRESH_DELAY = 0.05   # seconds: hold changes within it share one workspace/codeLens/refresh
#: seconds: browsers connecting or leaving within it share one ``otrace/webClientsChanged`` (each
#: lists every browser: 1,000 sockets opened at once were 1,000 lists, 58 MB to every editor)
_WEB_CLIENTS_DELAY = 0.1
#: the JSON of an ``otrace/traceEvent`` notification, as ``framing.encode`` writes it (one format
#: instead of a dict to walk: a delivery of the throttle builds tens of them)
_TRACE_EVENT = ('{"jsonrpc": "2.0", "method": "otrace/traceEvent", "params": {"traceId": %s, "kind": %s, '
                '"file": %s, "line": %d, "message": %s}}')


class LspServer(Endpoint):
    """State shared by all clients (``clients``) of one language server (see the module doc);
    the accept loop, worker pool (``in_worker``) and lifecycle are ``control.endpoint.Endpoint``'s.
    ``discovery_path``: the discovery file it wrote (once started)."""

    client_kind = "lsp client"

    def __init__(self, app, host: str, port: int, directory: Path | None = None) -> None:
        super().__init__(app, host, port, workers=8, thread_name_prefix="otrace-lsp")
        self.pid = os.getpid()
        self.dap_port = app.dap_port
        self.directory = directory
        self.discovery_path: Path | None = None
        self.audit: AuditLog | None = None
        self._diag_signature: tuple = ()
        self._poll: asyncio.TimerHandle | None = None
        self._lens_refresh: asyncio.TimerHandle | None = None
        self._web_clients: asyncio.TimerHandle | None = None   # the pending otrace/webClientsChanged
        self._resumed: list[tuple[str, Any]] = []   # (id, outcome) of the holds resumed in this pass
        self._events: list[bytes] = []   # the framed traceEvents of the throttle's current delivery
        self.inline = inline.Inline()   # which requests are answered on the control loop (lsp.inline)
        self.fleet = None   # lsp.fleet.FleetOrders: this worker's standing orders (app.start sets it in a fleet)

    # ---- lifecycle (control loop) -------------------------------------------------------------
    async def start(self) -> None:
        """Listen, then write the discovery file and open the audit log beside it."""
        await super().start()
        self.discovery_path = discovery.write(host=self.host, lsp_port=self.port, dap_port=self.dap_port,
                                              token=self.token, directory=self.directory, fleet=self.app.fleet)
        self.audit = AuditLog(self.discovery_path.with_name(f"otrace-{self.pid}.audit.log"))
        self._poll_later()

    async def stop(self) -> None:
        for timer in (self._poll, self._lens_refresh, self._web_clients):
            if timer is not None:
                timer.cancel()
        try:
            await super().stop()
        finally:   # the discovery file and the audit log's handler never outlive the server
            if self.discovery_path is not None:
                discovery.remove(self.discovery_path)
            if self.audit is not None:
                self.audit.close()

    def abandon(self) -> None:
        """The control loop could not stop the server: at least the discovery file goes."""
        if self.discovery_path is not None:
            discovery.remove(self.discovery_path)

    def make_client(self) -> LspClient:
        return LspClient(self)

    # ---- helpers for clients -------------------------------------------------------------------
    def locate(self, file: str, line: int) -> tuple[str, int]:
        """(file, line) in the SOURCE file of a position (a frame's) in code patched by "Hold here
        live" or by DAP breakpoints: mapped back to the document line (any thread)."""
        return placement.source_position(self.engine.patcher, file, line)

    def locate_context(self, ctx: TraceContext) -> tuple[str, int]:
        """(file, line) of a context in the SOURCE file (see ``locate``)."""
        return self.locate(ctx.file, ctx.line)

    def web_clients(self, web) -> list[dict]:
        """``[{name, since, url, userAgent}]`` of the browsers of a /osh/web provider."""
        return [{"name": c.name, "since": c.since, "url": c.url, "userAgent": c.user_agent} for c in web.clients()]

    def broadcast(self, method: str, params: Any) -> None:
        """Send a notification to every initialized client (control loop only)."""
        for conn in list(self.clients):
            try:
                conn.notify(method, params)
            except Exception:
                log.exception("otrace lsp: notifying %s failed", conn.client_name)

    # ---- engine events (control loop: the Endpoint's hooks) ----------------------------------
    def context_recorded(self, ctx: TraceContext) -> None:
        self._events.append(trace_event(ctx, self.locate_context(ctx)))
        if ctx.ctype == "exceptions":   # (after its traceEvent, as it was recorded before)
            self.contexts_delivered()
            self.refresh_diagnostics()

    def hold_started(self, hold) -> None:
        self.broadcast("otrace/holdStarted", hold_payload(hold, self.locate_context))
        self.refresh_code_lenses()

    def hold_resumed(self, hold, outcome) -> None:
        self.holds_resumed([hold], outcome)

    def holds_resumed(self, holds: list, outcome) -> None:
        if not self._resumed:
            self.loop.call_soon(self._send_resumed)
        self._resumed.extend((hold.id, outcome) for hold in holds)
        if self._lens_refresh is None:
            self.refresh_code_lenses()

    def output(self, text: str, stream: str) -> None:
        self.broadcast("otrace/output", {"text": text, "stream": stream})

    def other_event(self, event: Event) -> None:
        if event.kind in ("patch", "unpatch"):
            self.broadcast("otrace/patchesChanged", {"patches": live.patches_payload(self)})
        elif event.kind == "setting":
            self.broadcast("otrace/settingChanged", {"name": event.data["name"], "value": jsonable(event.data["value"])})
        elif event.kind in ("trace", "untrace"):   # the "traced · Untrace" lenses
            self.refresh_code_lenses()
        elif event.kind == "hold_client_gone":
            self.broadcast("otrace/holdClientGone", {"id": event.data["hold"].id})
        elif event.kind == "web_clients" and self._web_clients is None:
            self._web_clients = self.loop.call_later(_WEB_CLIENTS_DELAY, self._send_web_clients)

    def _send_web_clients(self) -> None:
        """``otrace/webClientsChanged`` with the browsers connected now, once for all the changes of
        ``_WEB_CLIENTS_DELAY`` seconds."""
        self._web_clients = None
        web = self.shell.web
        clients = self.web_clients(web) if web is not None else []
        self.broadcast("otrace/webClientsChanged", {"clients": jsonable(clients)})

    # ---- notifications -----------------------------------------------------------------------
    def _send_resumed(self) -> None:
        """The holds resumed during one pass of the control loop: ``otrace/holdResumed`` for one,
        one ``otrace/holdsResumed`` for several (``resume all`` of 1,000 holds is one message,
        not 1,000 to encode, send and handle)."""
        pairs, self._resumed = self._resumed, []
        payloads: dict[int, dict[str, Any]] = {}      # one per outcome: resume all shares one Outcome
        resumed = []
        for hold_id, outcome in pairs:
            payload = payloads.get(id(outcome))
            if payload is None:
                payload = payloads[id(outcome)] = outcome_payload(outcome)
            resumed.append({"id": hold_id, "outcome": payload})
        if len(resumed) == 1:
            self.broadcast("otrace/holdResumed", resumed[0])
        elif resumed:
            self.broadcast("otrace/holdsResumed", {"holds": resumed})

    def contexts_held(self, count: int, last: TraceContext) -> None:
        """The throttle's summary: the last context held back, saying how many others were; the
        diagnostics are published again if exceptions were among them (the stored ones changed),
        which is the poll's check: its next one is a whole interval later (a steady stream of
        contexts wakes the control loop for its deliveries only)."""
        self._events.append(trace_event(last, self.locate_context(last), count - 1))
        self.contexts_delivered()
        self._refresh_changed_diagnostics()
        if self._poll is not None:
            self._poll.cancel()
            self._poll_later()

    def contexts_delivered(self) -> None:
        """The ``otrace/traceEvent`` notifications of the throttle's delivery (or of its part
        up to an exception context), sent now to every initialized client in one write, after
        what was written before them: no pass of the loop of their own."""
        if self._events:
            data = b"".join(self._events)
            self._events.clear()
            for conn in list(self.clients):
                if conn.authenticated and not conn.closed:
                    conn.send(data)

    def hits(self) -> dict[tuple[str, int], Counter]:
        """(real path, line) in the SOURCE file -> Counter(asserts=n, holds=m): the engine's
        ``site_counts`` mapped through ``locate`` (a hit in code patched by "Hold here live"
        counts on its document line). Any thread."""
        hits: dict[tuple[str, int], Counter] = {}
        for (file, line), counts in self.engine.site_counts().items():
            if file:
                file, line = self.locate(file, line)
                hits.setdefault((os.path.realpath(file), line), Counter()).update(counts)
        return hits

    def refresh_code_lenses(self) -> None:
        """Ask clients that support it to re-request code lenses (holds changed), once for all the
        changes of the next ``_LENS_REFRESH_DELAY`` seconds: resuming 1,000 holds asks once, not
        1,000 times (each ask makes the editor compute its lenses again)."""
        if self._lens_refresh is None:
            self._lens_refresh = self.loop.call_later(_LENS_REFRESH_DELAY, self._send_lens_refresh)

    def _send_lens_refresh(self) -> None:
        self._lens_refresh = None
        for conn in list(self.clients):
            if conn.authenticated and not conn.closed and conn.supports_lens_refresh():
                conn.ls.protocol.send_request("workspace/codeLens/refresh", None)

    def refresh_diagnostics(self, only: LspClient | None = None) -> None:
        """Publish the diagnostics of traced exceptions to every client (or ``only``)."""
        from otrace_server.lsp import features

        self._diag_signature = features.exception_signature(self.engine)
        for conn in [only] if only is not None else list(self.clients):
            if conn.authenticated and not conn.closed:
                features.publish_diagnostics(conn)

    def _refresh_changed_diagnostics(self) -> None:
        """``refresh_diagnostics`` if the stored exception contexts changed since the last."""
        from otrace_server.lsp import features

        if features.exception_signature(self.engine) != self._diag_signature:
            self.refresh_diagnostics()

    def _poll_diagnostics(self) -> None:
        try:
            self._refresh_changed_diagnostics()
        finally:
            self._poll_later()

    def _poll_later(self) -> None:
        """The next diagnostics poll, ``_DIAGNOSTICS_POLL`` from now."""
        self._poll = self.loop.call_later(_DIAGNOSTICS_POLL, self._poll_diagnostics)


def trace_event(ctx: TraceContext, position: tuple[str, int], more: int = 0) -> bytes:
    """The framed ``otrace/traceEvent`` notification of ``ctx`` at ``position`` (its (file, line)
    in the source: ``LspServer.locate_context``), ``more``: how many others the throttle held back;
    the bytes ``framing.encode`` makes of it."""
    file, line = position
    if type(file) is not str or type(line) is not int:   # (e.g. no line known: null, as json writes it)
        return encode({"jsonrpc": "2.0", "method": "otrace/traceEvent", "params": {
            "traceId": ctx.id, "kind": ctx.ctype, "file": file, "line": line, "message": context_line(ctx, more)}})
    return frame((_TRACE_EVENT % (encode_basestring_ascii(ctx.id), encode_basestring_ascii(ctx.ctype),
                                  encode_basestring_ascii(file), line,
                                  encode_basestring_ascii(context_line(ctx, more)))).encode())


def start_server(app, host: str | None = None, port: int | None = None, *,
                 directory: Path | None = None) -> ServerHandle:
    """Start the language server of ``app`` (an ``otrace_server.app.App`` with ``engine``, ``shell``,
    ``runtime`` (started), ``token``) on its control loop, write the discovery file and return a
    handle (``handle.endpoint``: the ``LspServer``). ``host`` defaults to ``app.host`` (127.0.0.1);
    a non-loopback host is served only when asked for, with a warning. ``port`` defaults to
    ``app.lsp_port_requested`` (0: a free port). ``directory``: where the discovery file goes
    (default ``discovery.runtime_dir()``).

    Thread: any but the control thread (RuntimeError). Failures: OSError when the port cannot be
    bound or the discovery file cannot be written (nothing is left running).
    """
    if port is None:
        port = app.lsp_port_requested
    pygls_log = logging.getLogger("pygls")
    if pygls_log.level == logging.NOTSET:   # bad client input is answered, not logged as a crash
        pygls_log.setLevel(logging.CRITICAL)
    return start_endpoint_server(LspServer, app, host, port, what="the language server", directory=directory)
