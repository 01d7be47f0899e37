"""The Debug Adapter Protocol endpoint: held requests in the native debugger UI, gutter
breakpoints that never stop the server, and debugpy for real stepping (docs/PROTOCOL.md, "DAP").

    from otrace_server.dap import start_server
    handle = start_server(app)      # app.start() does this; handle.port, handle.stop()

A DAP server on the control thread's loop, TCP on 127.0.0.1, its port in the discovery file
(``dap_port``) and in the language server's initialize result (``otrace.dapPort``); the token of
the discovery file is required in the ``attach`` arguments.

Modules (the accept loop, framing, token check, audit and lifecycle are ``otrace_server.control``'s):
    server       the DapServer: event fan-out, start_server
    client       one client: attach, threads/stackTrace/scopes/variables/evaluate/continue
    variables    lazy, repr-limited, paged variables
    breakpoints  breakpoints as live holds / snapshots / logpoints; the "traced" exception filter
    escalate     debugpy in-process for real stepping (explicit request only, not in safe_mode)

Thread-safety: see each module; nothing here runs on the application's loop except the code
patched in for breakpoints.
"""

from otrace_server.dap.server import start_server

__all__ = ["start_server"]
