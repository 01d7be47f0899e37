"""debugpy escalation: real stepping, on explicit request, while otrace keeps answering.

    debugger = Debugger(app)              # app.start gives it to the shell (``shell.debugger``) with the DAP endpoint
    info = debugger.start()               # {"host", "port", "version", "attach", "started"}

``start`` runs ``debugpy.listen(("127.0.0.1", 0), in_process_debug_adapter=True)`` (no adapter
process; ~80 ms) and returns how to attach (a DAP client connects to that port with an ``attach``
request). A debugpy breakpoint stops every thread pydevd traces, so otrace's own threads (the
control thread, the language-server and DAP workers, the console) are marked with pydevd's
``pydev_do_not_trace`` / ``is_pydev_daemon_thread`` flags first: the control plane keeps answering
while debugpy stops the application. Those are pydevd internals: the debugpy version is pinned
(``PINNED``, pyproject.toml) and ``start`` refuses another version. debugpy's port has no token,
so it starts only when asked (shell ``debug``, LSP ``otrace/debugpy``), never in safe_mode
(``core.policy``'s refusal), on loopback only; once started it listens until the process exits
(debugpy cannot stop listening). Starting it writes one audit line (``core.audit``, action
``debugpy``) naming who asked.

Thread-safety: ``start`` may be called from any thread except the control thread (debugpy's
listen blocks ~0.1 s); a lock makes concurrent calls start debugpy once.
"""

from __future__ import annotations

import threading
from typing import Any

from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server.core.policy import refusal

__all__ = ["Debugger", "PINNED", "OWN_THREAD_PREFIXES", "exclude_own_threads"]

#: the debugpy release whose pydevd thread flags were verified (tests/dap/test_debugpy.py)
PINNED = "1.8.22"
#: names of otrace's threads, kept out of pydevd's tracing
OWN_THREAD_PREFIXES = ("otrace-",)


def exclude_own_threads() -> list[str]:
    """Mark otrace's live threads so that pydevd neither traces nor suspends them; returns their
    names. Threads started later by otrace's pools are marked when ``Debugger.start`` runs again
    or by ``_mark_new_threads``."""
    names = []
    for thread in threading.enumerate():
        if thread.name.startswith(OWN_THREAD_PREFIXES):
            thread.pydev_do_not_trace = True
            thread.is_pydev_daemon_thread = True
            names.append(thread.name)
    return names


def _mark_new_threads() -> None:
    """Make otrace threads started from now on untraced by pydevd too: wrap ``Thread.start`` once
    so a thread named ``otrace-*`` carries the flags before it runs."""
    if getattr(threading.Thread.start, "_otrace_marks", False):
        return
    original = threading.Thread.start

    def start(self, *args, **kwargs):
        if self.name.startswith(OWN_THREAD_PREFIXES):
            self.pydev_do_not_trace = True
            self.is_pydev_daemon_thread = True
        return original(self, *args, **kwargs)

    start._otrace_marks = True
    threading.Thread.start = start


class Debugger:
    """Starts debugpy in this process for ``app`` (see the module doc)."""

    def __init__(self, app) -> None:
        self.app = app
        self.info: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def refusal(self) -> str | None:
        """Why ``start`` would refuse now (safe_mode), or None."""
        return refusal(self.app.engine.settings, "debugpy", "its port has no token")

    def start(self, host: str = "127.0.0.1", port: int = 0) -> dict[str, Any]:
        """Start debugpy (once) and return ``{host, port, version, attach, started}``; ``started``
        is False when it was already listening. OTraceError: safe_mode is on, debugpy is missing
        or not the pinned version, or it cannot listen."""
        if self.app.runtime.in_control_thread():
            raise RuntimeError("Debugger.start() blocks: call it from a worker thread")
        refusal = self.refusal()
        if refusal is not None:
            raise OTraceError(refusal)
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise OTraceError(f"debugpy listens on loopback only (not {host}): its port has no token")
        with self._lock:
            if self.info is not None:
                return dict(self.info, started=False)
            try:
                import debugpy
            except ImportError:
                raise OTraceError(f"debugpy is not installed (pip install debugpy=={PINNED})") from None
            if debugpy.__version__ != PINNED:
                raise OTraceError(f"debugpy {debugpy.__version__} is not the version otrace was checked with "
                                  f"({PINNED}): install debugpy=={PINNED}")
            _mark_new_threads()
            exclude_own_threads()
            try:
                bound = debugpy.listen((host, port), in_process_debug_adapter=True)
            except Exception as exc:
                raise OTraceError(f"debugpy could not listen on {host}:{port}: {exc}") from None
            exclude_own_threads()
            bound_host, bound_port = bound
            audit.record("debugpy", host=bound_host, port=bound_port)
            self.info = {"host": bound_host, "port": bound_port, "version": debugpy.__version__,
                         "attach": {"type": "debugpy", "request": "attach",
                                    "connect": {"host": bound_host, "port": bound_port}, "justMyCode": False}}
        return dict(self.info, started=True)
