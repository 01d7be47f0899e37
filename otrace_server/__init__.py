"""otrace-server: an object-oriented debugger for nonlinear tracing of live (async) Python servers.

Typical use in an application::

    from otrace_server import traceassert, start

    async def get(self):
        number = self.get_argument("number", "")
        await traceassert(number != "77", label="hold_check", action="hold")

    shell = start(globals())     # console thread + embedded control server; the app loop keeps serving

IMPORT RULE (checked by tests/test_layering.py)
==============================================
Layers, lowest first; a module may import only from its own layer or lower ones::

    core            the engine: pure standard library; starts no threads, does no network I/O,
                    never imports tornado, pygls or any other layer of this package
    shell           the object shell (/osh); imports core (+ stdlib); starts no threads
    runtime         THE one module that crosses threads/event loops (call_soon_threadsafe,
                    add_callback, blocking cross-thread waits); imports core, shell, loopwatch
    placement       where editor text meets running code (used by lsp, dap); imports core
    control         what the LSP and DAP servers share (framing, auth, accept loop, audit,
                    discovery); imports core
    loopwatch       which loop runs on which thread, whether the main thread's serves; stdlib only
    tornado, web,   front ends and integrations; import core, shell, runtime (and each other
    serving,        only where stated: web and tornado may be used by lsp/dap/cli; lsp and dap
    lsp, dap,       import control and placement)
    console, cli

The table in docs/ARCHITECTURE.md ("## Layers") is the one the test reads; it also forbids import
cycles between modules.

No module of ours imports a front end (vscode-extension/, emacs/); only runtime.py calls
``call_soon_threadsafe`` / ``add_callback`` or blocks on another thread.
"""

from __future__ import annotations

from otrace_server.core.assertions import traceassert
from otrace_server.core.engine import get_engine
from otrace_server.core.errors import OTraceError
from otrace_server.core.tags import get_tag, tag, untag

__all__ = ["traceassert", "start", "stop", "get_engine", "OTraceError", "tag", "untag", "get_tag"]

__version__ = "0.1.0"


def __getattr__(name):  # lazy: importing the package must not import tornado or start anything
    if name in ("start", "stop"):
        from otrace_server import app as _app

        return getattr(_app, name)
    raise AttributeError(name)
