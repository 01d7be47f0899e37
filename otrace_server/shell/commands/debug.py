"""``debug``: escalate to debugpy for real stepping (through the ``shell.debugger`` provider, a
``providers.DebugProvider`` given while otrace's DAP endpoint runs; ``start() -> {host, port,
version, attach, started}``).

Thread-safety: the provider's ``start`` blocks the caller's thread briefly (debugpy's listen).
"""

from __future__ import annotations

import json

from otrace_server.core.errors import OTraceError
from otrace_server.shell.registry import command
from otrace_server.shell.result import Result

__all__: list[str] = []


@command("debug", "debug                     # Start debugpy in this process and say how to attach",
         """Starts debugpy on 127.0.0.1 (in-process adapter) for real stepping. debugpy's port has no
token: it starts only when asked, never in safe_mode. otrace's own threads are kept out of debugpy,
so the shell and the editors keep answering while a debugpy breakpoint stops the application.
Attach with a DAP client (VS Code: a "debugpy" attach configuration with the printed connect).""",
         changes_state=True, unsafe=True)
def debug(session, call):
    if call.args:
        raise OTraceError("debug: no arguments")
    provider = session.shell.debugger
    if provider is None:
        raise OTraceError("debug: not available (otrace's DAP endpoint is not running in this process)")
    info = provider.start()
    state = "debugpy listening" if info["started"] else "debugpy already listening"
    text = (f"{state} on {info['host']}:{info['port']} (debugpy {info['version']}); attach with:\n"
            + json.dumps(info["attach"]))
    return Result(text, data={"debugpy": info})
