"""Contracts of otrace_server.app: start()/stop() wire otrace into a running app and undo it."""

from __future__ import annotations

import threading

import pytest

import otrace_server
from otrace_server import frameworks
from otrace_server.core.engine import answer_any_hold, get_engine
from otrace_server.core.errors import OTraceError

pytestmark = pytest.mark.timeout(30)


def _control_threads():
    return [t for t in threading.enumerate() if t.name == "otrace-control"]


def test_start_is_exported_lazily_and_returns_a_running_app(server):
    app = otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=False)
    try:
        assert app.runtime.running and app.runtime.app_loop is server.loop
        assert app.shell.tasks is app.runtime            # the shell's TaskSource: /osh/tasks
        assert app.shell.globals is vars(server.demo)
        assert len(app.token) >= 32 and app.lsp_port is None
        assert get_engine().status_exception_for is frameworks.status_exception_for
    finally:
        otrace_server.stop()
    assert not app.runtime.running and not _control_threads()


def test_start_wires_the_shells_collaborators_explicitly(server):
    from otrace_server.dap.escalate import Debugger
    from otrace_server.shell import DebugProvider, TaskSource, WebProvider
    from otrace_server.web import WebRegistry, get_registry

    registry = WebRegistry()
    app = otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=False, web=registry)
    try:
        assert app.web is registry and app.shell.web is registry and registry.runtime is app.runtime
        assert isinstance(app.shell.tasks, TaskSource) and isinstance(app.shell.web, WebProvider)
        assert isinstance(app.shell.debugger, Debugger) and isinstance(app.shell.debugger, DebugProvider)
    finally:
        app.stop()
    assert registry.runtime is None                       # stop detached what start attached
    get_registry()                                        # the default registry exists ...
    app = otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=False,
                              dap_port=None, web=None)
    try:
        assert app.web is None and app.shell.web is None  # ... but web=None: no /osh/web
        assert app.shell.debugger is None                 # no DAP endpoint: no debugpy escalation
    finally:
        app.stop()
    app = otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=False)
    try:
        assert app.shell.web is get_registry()            # the default: the registry the program made
    finally:
        app.stop()


def test_stop_is_idempotent_and_undoes_the_glue(server):
    app = otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=False)
    app.stop()
    app.stop()
    otrace_server.stop()
    engine = get_engine()
    assert engine.status_exception_for is answer_any_hold
    assert all(not getattr(e, "__module__", "").startswith("otrace_server.frameworks")
               for e in engine.enrichers + engine.deferred_enrichers)


def test_a_second_start_is_one_clear_error(server, otrace):
    with pytest.raises(OTraceError, match="already started"):
        otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=False)


def test_bad_settings_start_nothing_and_change_nothing(server):
    engine = get_engine()
    before = engine.settings.max_recent
    with pytest.raises(OTraceError, match="hold_timeout"):
        otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=False,
                            max_recent=before + 5, hold_timeout=-1)
    with pytest.raises(OTraceError, match="unknown parameter"):
        otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=False, no_such=1)
    assert engine.settings.max_recent == before
    assert not _control_threads()
    from otrace_server.app import current

    assert current() is None


def test_bad_app_loop_is_one_clear_error():
    with pytest.raises(OTraceError, match="app_loop"):
        otrace_server.start({}, app_loop="not a loop", console=False, lsp=False)


def test_settings_and_init_file_are_applied(server, tmp_path):
    trc = tmp_path / "init.trc"
    trc.write_text("set max_recent 7\n")
    engine = get_engine()
    app = otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=False,
                              init_file=str(trc), hold_timeout=12.5)
    try:
        assert engine.settings.hold_timeout == 12.5
        assert engine.settings.max_recent == 7
    finally:
        app.stop()
        engine.settings.set("max_recent", 10)
        engine.settings.set("hold_timeout", 0)


def test_no_console_thread_when_stdin_is_not_a_tty(server):
    app = otrace_server.start(vars(server.demo), app_loop=server.loop, lsp=False)   # console=None
    try:
        assert app.console_thread is None
        assert not [t for t in threading.enumerate() if t.name == "otrace-console"]
    finally:
        app.stop()


def test_lsp_server_is_started_on_a_free_port_and_stopped(server):
    pytest.importorskip("otrace_server.lsp.server")
    import socket

    app = otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=True)
    try:
        assert isinstance(app.lsp_port, int) and app.lsp_port > 0
        socket.create_connection(("127.0.0.1", app.lsp_port), timeout=5).close()
    finally:
        port = app.lsp_port
        app.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


EXIT_WHILE_BREAK_WAITS = r'''
import asyncio, threading
import otrace_server
from otrace_server.core.assertions import traceassert
from otrace_server.core.engine import get_engine

engine = get_engine()
seen = []
engine.events.subscribe(lambda e: seen.append(e.data["outcome"].kind) if e.kind == "hold_resumed" else None)

def stops_at_a_break():
    traceassert(False, label="exit", action="break")    # hold_timeout=0: waits until resumed
    print("break resumed:", seen, flush=True)

otrace_server.start(globals(), app_loop=asyncio.new_event_loop(), console=False, lsp=False, dap_port=None,
                    trace_active=True, hold_timeout=0)
threading.Thread(target=stops_at_a_break, name="held").start()      # NOT a daemon
while not len(engine.holds):
    threading.Event().wait(0.01)
print("main returns", flush=True)
'''


def test_process_exits_while_a_thread_waits_at_a_break(tmp_path):
    """Python joins non-daemon threads before running atexit handlers: otrace resumes every hold
    (outcome shutdown) from threading's exit hook, so the process ends instead of hanging."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "exit_while_break.py"
    script.write_text(EXIT_WHILE_BREAK_WAITS)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=15,
                          cwd=str(tmp_path), env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["main returns", "break resumed: ['shutdown']"], proc.stdout
