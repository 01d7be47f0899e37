"""The embedded language server: otrace in the editor's protocol (docs/PROTOCOL.md).

    from otrace_server.lsp import start_server
    handle = start_server(app)      # app.start() does this; handle.port, handle.stop()

A pygls 2.x server on the control thread's loop, TCP on 127.0.0.1, token-checked in
``initialize``; custom ``otrace/*`` requests and notifications plus code actions, code lenses,
diagnostics and hover on Python files. Editors find running processes through discovery files
(``otrace_server.control.discovery``).

Modules (the accept loop, framing, token check, audit log, discovery and lifecycle are
``otrace_server.control``'s):
    server      the LspServer shared by clients, event fan-out, start_server
    client      one client: login, its own pygls LanguageServer and shell session
    methods     the otrace/* requests (run in worker threads)
    features    code actions, code lenses, diagnostics, hover, executeCommand
    document    a document as the client counts it: LSP lines, line ending, Python or not (where a
                statement goes for a line, and the live code behind it: otrace_server.placement)
    payloads    JSON payloads of holds, contexts, outcomes
    fleet       a fleet worker's standing orders: recorded once, applied in every worker
    standing    which requests and command lines stand fleet-wide, and applying one

Thread-safety: see each module; nothing here runs on the application's loop.
"""

from otrace_server.lsp.server import start_server

__all__ = ["start_server"]
