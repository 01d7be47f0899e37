"""``start()`` / ``stop()``: wire otrace into a running application.

    import tornado.ioloop
    from otrace_server import start

    app = start(globals(), init_file="torna_trace.trc", trace_active=True)
    print("LSP on", app.lsp_port)
    tornado.ioloop.IOLoop.current().start()      # the app keeps serving; otrace runs beside it

``start`` builds the object shell over the process-wide engine, applies settings, starts the
runtime (control thread + hold crossing), the guard answering holds before SIGINT/SIGTERM's
handler (``otrace_server.shutdown``), the stop before Tornado's autoreload re-executes the process
(``otrace_server.autoreload``), the framework adapters, /osh/web (``web``), the DAP endpoint
(and the shell's debugpy escalation), the terminal console (on its own daemon thread, by default
only when stdin is a TTY) and the language server (``otrace_server.lsp``, which also writes the
discovery file), then sources ``init_file``. It is the one place that wires the shell's
collaborators (``shell.providers``): they are passed in, never looked up. ``stop()`` undoes all
of it: every hold is resumed (outcome ``shutdown``) so no request hangs. It runs at interpreter
exit BEFORE non-daemon threads are joined (``threading._register_atexit``, the hook
concurrent.futures uses: a thread waiting at a break would otherwise keep the process alive
forever), and with ``atexit``.

Thread-safety notes: call ``start`` from the application's thread, before or inside its loop (or
pass ``app_loop``): the loop that thread runs is the app loop, followed when the program makes a new
one (``Runtime.app_loop``); ``stop``
may be called from any thread except otrace's control thread, more than once. One App at a time.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable

from otrace_server import frameworks
from otrace_server.control.auth import new_token
from otrace_server.control.fleet import identity
from otrace_server.core.engine import get_engine
from otrace_server.core.errors import OTraceError
from otrace_server.runtime import Runtime
from otrace_server.autoreload import watch
from otrace_server.shutdown import ANSWER_GRACE, guard

if TYPE_CHECKING:
    from otrace_server.web.registry import WebRegistry

__all__ = ["App", "start", "stop", "current", "DEFAULT_WEB"]

log = logging.getLogger("otrace")

_lock = threading.Lock()
_current: "App | None" = None

#: ``start(web=DEFAULT_WEB)``: /osh/web served by ``otrace_server.web``'s default registry once the
#: program has made it, before ``start`` or after (see ``start``)
DEFAULT_WEB = "default"


class App:
    """A started otrace: ``shell``, ``runtime``, ``engine``, ``token`` (control-plane secret),
    ``fleet`` (``{id, name}`` of the fleet this process is a worker of, or None: ``control.fleet``),
    ``host``, ``lsp_port`` / ``dap_port`` (None when not serving; ``lsp_port_requested`` /
    ``dap_port_requested``: what ``start`` was asked for), ``console`` / ``console_thread`` (None
    without a terminal console), ``web`` (the registry serving /osh/web, or None); ``stop()``.

    ``serving`` (a ``threading.Event``): set while the application serves, by
    ``otrace_server.serving.serve`` once its loop runs with the HTTP server listening. The ``otrace``
    command waits on it under ``--batch`` (and on an ``otrace_server.loopwatch.ServingWatch`` of the
    script's loops, for programs that do not call ``serve``).

    ``replaceable`` (False): set by the ``otrace`` command on the App it starts before running a
    program: when that program calls ``start()`` itself, its App replaces this one (which is
    stopped; its terminal console carries on in the new App) instead of being refused."""

    def __init__(self, engine, shell, runtime: Runtime, host: str) -> None:
        self.engine = engine
        self.shell = shell
        self.runtime = runtime
        self.host = host
        self.token = new_token()
        self.fleet: dict[str, str] | None = None
        self.lsp_port: int | None = None
        self.dap_port: int | None = None
        self.lsp_port_requested: int = 0
        self.dap_port_requested: int | None = 0
        self.console = None
        self.console_thread: threading.Thread | None = None
        self.web: "WebRegistry | None" = None
        self.replaceable = False
        self.serving = threading.Event()
        self._lsp = None
        self._dap = None
        self._orders = None   # lsp.fleet.FleetOrders: this worker's standing orders, in a fleet
        self._frameworks = False   # otrace_server.frameworks installed on the engine
        self._web_wait: Callable[[], None] = lambda: None   # cancels waiting for the default web registry
        self._undo: list = []    # removers of the shutdown guard and the autoreload watch
        self._stopped = False

    def control_line(self) -> str | None:
        """One line for the app to print at start: where the language server listens and where its
        token is (``otrace language server on HOST:PORT (token in PATH)``); None when not serving."""
        if not self.lsp_port:
            return None
        from otrace_server.control.discovery import discovery_path

        return f"otrace language server on {self.host}:{self.lsp_port} (token in {discovery_path()})"

    def stop(self) -> None:
        """Resume every hold (``shutdown``), stop the console (its events, log handler and
        sys.stdout routing end at once; its thread ends within 50 ms, or, while GNU readline reads
        a terminal, after the line being read), the language
        server and the runtime, undo the frameworks glue. Idempotent; any thread except the control
        thread."""
        global _current
        with _lock:
            if self._stopped:
                return
            self._stopped = True
            if _current is self:
                _current = None
        atexit.unregister(self.stop)
        for undo in self._undo:
            undo()
        self.engine.holds.resume_all(_shutdown())
        if self.console is not None:
            self.console.stop()
        _stop_server(self._dap, "the DAP endpoint")
        self._dap = self.dap_port = None
        _stop_server(self._lsp, "the language server")
        self._lsp = self.lsp_port = None
        if self._orders is not None:   # after the discovery file went: the last worker removes the log
            self._orders.stop()
            self._orders = None
        self.runtime.stop()
        if self._frameworks:
            frameworks.uninstall(self.engine)
            self._frameworks = False
        self._web_wait()
        if self.web is not None:
            self.web.detach()

    def __repr__(self) -> str:
        return f"<otrace App lsp_port={self.lsp_port} {'stopped' if self._stopped else 'running'}>"


def _stop_server(handle, what: str) -> None:
    """Stop a control-plane server handle (None: not running); a failure is logged."""
    if handle is None:
        return
    try:
        handle.stop()
    except Exception:
        log.exception("otrace: stopping %s failed", what)


def _shutdown():
    from otrace_server.core.holds import Outcome

    return Outcome("shutdown")


def _resolve_loop(app_loop: Any) -> asyncio.AbstractEventLoop | None:
    """The asyncio loop behind ``app_loop`` (an asyncio loop or a Tornado IOLoop); None stays None:
    the runtime then follows the loop the application runs (``Runtime.app_loop``)."""
    if app_loop is None:
        return None
    loop = getattr(app_loop, "asyncio_loop", app_loop)  # tornado.ioloop.IOLoop -> its asyncio loop
    if not isinstance(loop, asyncio.AbstractEventLoop):
        raise OTraceError(f"app_loop must be an asyncio loop or a Tornado IOLoop, got {type(app_loop).__name__}")
    return loop


def _install_frameworks(app: App) -> None:
    """Request summaries and status answers by the frameworks the program uses (each adapter
    activates once its framework is imported); ``App.stop`` undoes it."""
    frameworks.install(app.engine)
    app._frameworks = True


def _attach_default_web(app: App) -> None:
    """``start``'s ``web=DEFAULT_WEB``: the default registry of ``otrace_server.web`` serves
    /osh/web once the program has made it, before ``start`` or after (``get_registry()``, the
    routes functions without a registry); ``App.stop`` forgets a registry not made yet."""
    try:
        from otrace_server.web.registry import when_registry_made
    except ImportError:
        return
    app._web_wait = when_registry_made(lambda registry: _attach_web(app, registry))


def _attach_web(app: App, web: "WebRegistry | None") -> None:
    """Make ``web`` (None: nothing) the shell's /osh/web provider, sending through the runtime;
    ``App.stop`` detaches it."""
    if web is not None:
        web.attach(app.shell, app.runtime)
        app.web = web


def _start_console(app: App) -> None:
    try:
        from otrace_server.console import Console
    except ImportError as exc:
        log.warning("otrace: no terminal console (%s)", exc)
        return
    app.console = Console(app.shell.session("console"), app.engine)
    app.console_thread = threading.Thread(target=app.console.run, name="otrace-console", daemon=True)
    app.console_thread.start()


def _start_lsp(app: App):
    try:
        from otrace_server.lsp import start_server
    except ImportError as exc:
        log.warning("otrace: language server not available (%s)", exc)
        return None
    return start_server(app)


def _start_dap(app: App):
    """Start the DAP endpoint and give the shell its debugpy escalation (which needs it)."""
    try:
        from otrace_server.dap import start_server
        from otrace_server.dap.escalate import Debugger
    except ImportError as exc:
        log.warning("otrace: DAP endpoint not available (%s)", exc)
        return None
    handle = start_server(app)
    app.shell.debugger = Debugger(app)   # the shell's `debug` command and LSP otrace/debugpy use it
    return handle


def _fleet_orders(app: App):
    """In a fleet, with the language server running: this worker's standing orders
    (``lsp.fleet.FleetOrders``), also given to the DAP endpoint (breakpoints of fleet sessions)."""
    if app.fleet is None or app._lsp is None:
        return None
    from otrace_server.lsp.fleet import FleetOrders

    dap = app._dap.endpoint if app._dap is not None else None
    orders = FleetOrders(app._lsp.endpoint, app.fleet, breakpoints=dap.breakpoints if dap is not None else None)
    if dap is not None:
        dap.fleet = orders
    return orders


def start(globals_dict: dict, locals_dict: dict | None = None, *, app_loop: Any = None, console: bool | None = None,
          lsp: bool = True, host: str = "127.0.0.1", lsp_port: int = 0, dap_port: int | None = 0,
          init_file: str | None = None, web: "WebRegistry | None | str" = DEFAULT_WEB, fleet: str | None = None,
          **settings: Any) -> App:
    """Start otrace beside the running application and return the App.

    ``globals_dict``/``locals_dict`` become /osh/globals and /osh/locals. ``app_loop``: the app's
    asyncio loop or Tornado IOLoop, the app loop while it is not closed (default: the loop this
    thread runs, now or once the program starts one, followed when it makes another: see
    ``Runtime.app_loop``). ``console``: start the terminal console thread (None: only when stdin is
    a TTY). ``lsp``: serve the language server on ``host:lsp_port`` (0: a free port).
    ``dap_port``: serve the DAP endpoint on ``host:dap_port`` (0: a free port; None: no DAP); it
    starts before the language server so that its port is in the discovery file.
    ``init_file``: shell commands sourced at start (e.g. ``torna_trace.trc``). ``web``: the
    ``otrace_server.web.WebRegistry`` serving /osh/web (attached to the shell, detached by
    ``stop``); None: no /osh/web; the default, ``DEFAULT_WEB``: ``otrace_server.web``'s default
    registry once the program makes it, before this call or after (``get_registry()``, or the
    routes functions without a registry: ``handlers()``, ``aiohttp_routes()``, ``starlette_routes()``).
    ``fleet``: the name of the fleet this process is a worker of (letters, digits, ``._-``); None:
    the environment variable ``OTRACE_FLEET``, else ``ppid-<ppid>`` in a worker forked by a parent
    running the same program, else none (``control.fleet.identity``; in the discovery file). In a
    fleet, the fleet's standing orders (``lsp.fleet``) are applied after the init file, then as
    other workers record them. ``settings``: otrace parameters
    (``trace_active=True``, ``hold_timeout=30``...).

    Failures (nothing is left started): OTraceError for an unknown setting or bad value, a bad
    ``app_loop``, a bad fleet name, a second ``start`` while one App runs (unless that one is ``replaceable``: see
    ``App``), or a language server that cannot start. A failing init file is logged, not raised.
    """
    global _current
    from otrace_server.shell import Shell

    engine = get_engine()
    loop = _resolve_loop(app_loop)
    fleet_id = identity(fleet)
    kept_console = _replace_current()
    with _lock:
        if _current is not None:
            raise OTraceError("otrace is already started; call stop() first")
        _apply_settings(engine.settings, settings)
        runtime = Runtime(engine, loop)
        shell = Shell(engine, globals_dict, locals_dict, tasks=runtime)
        app = App(engine, shell, runtime, host)
        app.fleet = fleet_id
        app.lsp_port_requested = lsp_port
        app.dap_port_requested = dap_port
        _current = app
    try:
        runtime.start()
        app._undo = [guard(engine, before_default=app.stop),                    # signals, autoreload
                     watch(app.stop, answering=lambda: len(engine.holds) > 0, grace=ANSWER_GRACE)]
        _install_frameworks(app)
        if web == DEFAULT_WEB:
            _attach_default_web(app)
        else:
            _attach_web(app, web)
        if dap_port is not None:
            app._dap = _start_dap(app)
            if app._dap is not None:
                app.dap_port = app._dap.port
        if lsp:
            app._lsp = _start_lsp(app)
            if app._lsp is not None:
                app.lsp_port = app._lsp.port
        app._orders = _fleet_orders(app)
    except Exception as exc:
        app.stop()
        if isinstance(exc, OTraceError):
            raise
        raise OTraceError(f"otrace could not start: {exc}") from exc
    atexit.register(app.stop)
    _register_thread_exit()
    if init_file:
        _source(shell, init_file)
    if app._orders is not None:
        app._orders.start()   # the fleet's standing orders so far, then the ones to come
    if kept_console is not None:
        app.console, app.console_thread = kept_console
        app.console.rebind(shell.session("console"))
    elif console or (console is None and _is_tty(sys.stdin)):
        _start_console(app)
    return app


def _replace_current() -> tuple | None:
    """Stop the running App if it is ``replaceable`` (see ``App``); its console, still running,
    is returned as ``(console, thread)`` for the new App (a terminal console reading with GNU
    readline cannot be stopped at once, and two of them would read the same terminal)."""
    with _lock:
        previous = _current if _current is not None and _current.replaceable else None
    if previous is None:
        return None
    kept = None
    if previous.console is not None and previous.console_thread is not None and previous.console_thread.is_alive():
        kept = (previous.console, previous.console_thread)
        previous.console = previous.console_thread = None
    previous.stop()
    return kept


_thread_exit_registered = False


def _register_thread_exit() -> None:
    """Once per process: call ``stop()`` when the interpreter exits, before it joins non-daemon
    threads (so threads held at a break or hold, and the LSP/DAP worker pools, can finish). Python
    offers no public hook for that moment; without ``threading._register_atexit`` only the atexit
    registration remains."""
    global _thread_exit_registered
    register = getattr(threading, "_register_atexit", None)
    with _lock:
        if _thread_exit_registered or register is None:
            return
        try:
            register(_stop_at_exit)
        except RuntimeError:   # "can't register atexit after shutdown": atexit still stops it
            return
        _thread_exit_registered = True


def _stop_at_exit() -> None:
    try:
        stop()
    except Exception:
        log.exception("otrace: stopping at interpreter exit failed")


def _apply_settings(params, values: dict[str, Any]) -> None:
    """Set every parameter, or none of them: on a bad name or value the ones already set are
    restored and the OTraceError is raised."""
    done: list[tuple[str, Any]] = []
    try:
        for name, value in values.items():
            old = params.get(name)
            params.set(name, value)
            done.append((name, old))
    except OTraceError:
        for name, old in reversed(done):
            if name == "password":
                object.__setattr__(params, name, old)  # already hashed: set() would hash it again
            else:
                params.set(name, old)
        raise


def _is_tty(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):
        return False


def _source(shell, path: str) -> None:
    result = shell.session("init").execute(f"source {path}")
    if result.error:
        log.warning("otrace: init file %s: %s", path, result.output)


def current() -> App | None:
    """The running App, or None."""
    return _current


def stop() -> None:
    """Stop the running App (see ``App.stop``); does nothing when otrace is not started."""
    app = _current
    if app is not None:
        app.stop()
