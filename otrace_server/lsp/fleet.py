"""A worker's part in its fleet's standing orders (docs/PROTOCOL.md "Fleets"): the orders it
receives from clients are applied here and recorded once in the fleet's order log
(``control.orders``); the orders other workers recorded are applied here too, in log order, as the
log grows (a stat of it every ``POLL`` s on the control thread) and all of them as the worker
starts (a worker started later joins with the fleet's traces, live holds and breakpoints).

    orders = FleetOrders(lsp_server, fleet, breakpoints=dap_server.breakpoints)   # app.start wires it
    orders.start()                  # the caller's thread: the whole log applied; then watched
    ordered(conn, method, handler, params)    # a client's request with ``fleetOrder`` (LspClient.call)
    orders.set_breakpoints(path, specs)       # a DAP session attached with ``fleet: true``
    orders.stop()                   # the log goes with the fleet's last worker

An order is applied once per worker, whichever way it came (a client may send one id to every
worker: the log keeps it once, each worker applies it once and answers the same result). An order
a client gave is applied first, recorded only when it succeeded (a refusal stays a refusal and
is not recorded); an order of the log that fails here is logged, not retried. Orders of the log
run with the same checks as the request, as the client ``fleet`` of the language server (audit
``front=lsp client=fleet``), in a shell session of their own. Breakpoints of fleet sessions belong
to the fleet here (not to a session): each file's last order stands.

Thread-safety: ``ordered``, ``set_breakpoints``, ``clear_breakpoints`` and the application of the
log run on worker threads (and ``start`` on the app's thread), one at a time (``_lock``); the
stat runs on the control loop; ``stop`` from any thread but the control thread.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from typing import Any, Callable, Protocol

from otrace_server.control.discovery import list_processes
from otrace_server.control.orders import OrderLog, log_path
from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server.core.policy import refusal
from otrace_server.lsp import standing
from otrace_server.lsp.methods import ParamsError

__all__ = ["FleetOrders", "ordered", "REQUESTS", "POLL", "MAX_ORDER_ID"]

log = logging.getLogger("otrace.fleet")

#: seconds between two looks at the order log
POLL = 0.25
#: the longest ``fleetOrder`` id
MAX_ORDER_ID = 200
_RESULTS_KEPT = 256   # results of the last orders applied, answered again to the same id


class BreakpointsTable(Protocol):
    """What applying breakpoint orders needs of the DAP endpoint (``dap.breakpoints.Breakpoints``)."""

    def set(self, owner: Any, path: str, specs: list[dict]) -> list[dict]: ...
    def clear(self, owner: Any) -> None: ...


class _FleetClient:
    """The connection orders of the log are applied through: the language server, a shell
    session of its own (``lsp:fleet``), the name ``fleet``."""

    client_name = "fleet"

    def __init__(self, server) -> None:
        self.server = server
        self.session = server.shell.session(name="lsp:fleet")
        self.session_lock = threading.Lock()


class FleetOrders:
    """This worker's standing orders of ``fleet`` (``{id, name}``) through the language server
    ``server`` (an ``LspServer``: engine, shell, executor, loop, directory); ``breakpoints``: the
    DAP endpoint's (None: no DAP, breakpoint orders are skipped). Sets ``server.fleet``."""

    def __init__(self, server, fleet: dict, breakpoints: BreakpointsTable | None = None) -> None:
        self.server = server
        self.fleet = fleet
        self.breakpoints = breakpoints
        self.log = OrderLog(log_path(fleet["id"], server.directory))
        self.client = _FleetClient(server)
        self._lock = threading.RLock()
        self._results: collections.OrderedDict[str, Any] = collections.OrderedDict()   # order id -> result
        self._applying = False
        self._stopped = False
        self._timer = None
        server.fleet = self

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Apply every order of the log (the caller's thread: as the init file), then watch it."""
        self._apply_new()
        self.server.runtime.run_in_control(self._watch)

    def stop(self) -> None:
        """Stop watching; the fleet's breakpoints here are removed; the log is removed when no
        other worker of the fleet runs (their discovery files: call after this worker's went)."""
        self._stopped = True
        timer, self._timer = self._timer, None
        if timer is not None:
            try:
                self.server.runtime.run_in_control(timer.cancel)
            except RuntimeError:   # the runtime stopped first
                pass
        if self.breakpoints is not None:
            self.breakpoints.clear(self)
        if not [r for r in self._worker_records() if r.get("pid") != os.getpid()]:
            self.log.remove()

    def _worker_records(self) -> list[dict]:
        """The discovery records of this fleet's live workers (this one's too, while it has one)."""
        return [r for r in list_processes(self.server.directory)
                if (r.get("fleet") or {}).get("id") == self.fleet["id"]]

    def _watch(self) -> None:
        """Control loop: a stat of the log; new lines are applied on a worker thread."""
        if self._stopped:
            return
        if not self._applying and self.log.changed():
            self._applying = True
            try:
                self.server.executor.submit(self._apply_new)
            except RuntimeError:   # the pool shut down: stopping
                return
        self._timer = self.server.loop.call_later(POLL, self._watch)

    # ---- orders from clients (worker threads) --------------------------------------------------
    def issue(self, conn, kind: str, order_id: str, params: dict, run: Callable[[], Any],
              replaces: str | None = None) -> Any:
        """Apply a client's order (``run()``) unless this worker applied ``order_id`` already (its
        result then), and record it once in the log (``params``: what the log keeps)."""
        with self._lock:
            if self._results.get(order_id) is not None:   # None: it failed here when read from the log
                return self._results[order_id]
            result = run()
            self._remember(order_id, result)
            try:
                self.log.append({"id": order_id, "kind": kind, "params": params,
                                 "summary": standing.summary(kind, params), "by": conn.client_name},
                                replaces=replaces)
            except OSError as exc:
                raise OTraceError(f"fleet order applied here but not recorded: {exc}") from None
            return result

    def _remember(self, order_id: str, result: Any) -> None:
        self._results[order_id] = result
        while len(self._results) > _RESULTS_KEPT:
            self._results.popitem(last=False)

    # ---- the log (worker threads) --------------------------------------------------------------
    def _apply_new(self) -> None:
        try:
            with self._lock:
                for order in self.log.read_new():
                    if order["id"] not in self._results:
                        self._remember(order["id"], self._apply(order))
        except Exception:
            log.exception("otrace fleet: applying the order log %s failed", self.log.path)
        finally:
            self._applying = False

    def _apply(self, order: dict) -> Any:
        """One order of the log, as the client ``fleet``; a failure is logged (None)."""
        kind, params = order["kind"], order["params"]
        try:
            with audit.acting("lsp", self.client.client_name):
                if kind == standing.BREAKPOINTS:
                    return self._breakpoints(params)
                return standing.apply(self.client, kind, params)
        except Exception as exc:
            log.warning("otrace fleet: order %s (%s) not applied: %s", order.get("seq"), order.get("summary"), exc)
            return None

    # ---- breakpoints of fleet DAP sessions -----------------------------------------------------
    def _breakpoints(self, params: dict) -> list[dict] | None:
        path, specs = params.get("path"), params.get("breakpoints")
        if not isinstance(path, str) or not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
            raise OTraceError("a breakpoints order needs 'path' and 'breakpoints' (a list of objects)")
        if self.breakpoints is None:
            return None
        why = refusal(self.server.engine.settings, "conditions and logpoints")
        kept = [s for s in specs if not (why and (s.get("condition") or s.get("logMessage")))]
        if len(kept) < len(specs):
            log.warning("otrace fleet: %s", why)
        audit.record("breakpoints", file=path, lines=[s.get("line") for s in kept], fleet=self.fleet["id"])
        return self.breakpoints.set(self, path, kept)

    def set_breakpoints(self, client_name: str, path: str, specs: list[dict]) -> list[dict]:
        """A fleet DAP session's breakpoints of ``path`` (1-based lines, already cleared of what
        safe mode refuses): applied here for the fleet and recorded (replacing the file's last
        breakpoints order). Worker thread."""
        params = {"path": path, "breakpoints": specs}
        order_id = f"dap-{os.getpid()}-{os.urandom(8).hex()}"
        holder = _Named(client_name)
        return self.issue(holder, standing.BREAKPOINTS, order_id, params,
                          lambda: self._breakpoints(params) or [], replaces=f"{standing.BREAKPOINTS}:{path}")

    def clear_breakpoints(self, client_name: str, paths: list[str]) -> None:
        """A fleet DAP session ended: its files' breakpoints are removed fleet-wide."""
        for path in paths:
            self.set_breakpoints(client_name, path, [])

    # ---- otrace/fleet --------------------------------------------------------------------------
    def describe(self) -> dict:
        """``otrace/fleet``'s result (worker thread: reads the discovery files and the log)."""
        workers = [{"pid": r.get("pid"), "started": r.get("started"), "lspPort": r.get("lsp_port"),
                    "dapPort": r.get("dap_port")} for r in self._worker_records()]
        workers.sort(key=lambda w: (w["started"] or 0, w["pid"] or 0))
        orders = [{"id": o["id"], "seq": o.get("seq"), "kind": o["kind"], "summary": o.get("summary", "")}
                  for o in self.log.read_all()]
        return {"fleet": dict(self.fleet), "workers": workers, "orders": orders}


class _Named:
    """Who recorded an order, when it is not a language-server connection (a DAP session)."""

    def __init__(self, client_name: str) -> None:
        self.client_name = client_name


def ordered(conn, method: str, handler: Callable[[Any, dict], Any], params: dict) -> Any:
    """A client's request ``method`` with a ``fleetOrder`` param (``standing.ORDER_METHODS``):
    applied here and, when it stands and this process is in a fleet, recorded for the fleet. The
    result (an object) gains ``fleet``: ``{id, recorded: true}``, or ``{id, recorded: false, why}``.
    Worker thread, as the request's handler. ``methods.ParamsError`` for a bad id."""
    order_id = params.get("fleetOrder")
    if not isinstance(order_id, str) or not 0 < len(order_id) <= MAX_ORDER_ID:
        raise ParamsError(f"{method}: 'fleetOrder' must be a string of 1 to {MAX_ORDER_ID} characters")
    orders = conn.server.fleet
    why = "this process is not in a fleet" if orders is None else standing.why_not(conn, method, params)
    if why is not None:
        result = handler(conn, params)
        fleet = {"id": None if orders is None else orders.fleet["id"], "recorded": False, "why": why}
    else:
        result = orders.issue(conn, method, order_id, standing.order_params(method, params),
                              lambda: handler(conn, params))
        fleet = {"id": orders.fleet["id"], "recorded": True}
    return dict(result, fleet=fleet) if isinstance(result, dict) else result


def fleet_request(conn, p: dict) -> dict:
    """``otrace/fleet``: this process's fleet, its live workers and its order log."""
    orders = conn.server.fleet
    if orders is None:
        return {"fleet": None, "workers": [], "orders": []}
    return orders.describe()


#: the requests of this module: method -> handler(conn, params)
REQUESTS: dict[str, Callable[[Any, dict], dict]] = {"otrace/fleet": fleet_request}
