"""The control plane: what every protocol server of otrace (the language server ``lsp/``, the DAP
endpoint ``dap/``) shares, so that those packages hold only their protocol.

Modules:
    framing     Content-Length framing (incremental, and on asyncio streams), JSON bodies, the limits
    transport   the TCP listener and connections: read and first send keeping the GIL
    auth        the token check, login limits (timeout, message size, waiting connections), loopback
    client      ``Client``: one connection's protocol: framing, buffered output (protocol hooks)
    throttle    at most N per-context notifications a second, the rest summed up
    endpoint    ``Endpoint``: accept loop on the control loop, clients, worker pool, engine-event
                hooks; ``start_server``/``ServerHandle`` (start and stop from another thread)
    audit       ``AuditLog``: the audit log's file (the records are ``core.audit``'s, one shape for all)
    discovery   discovery files: how editors and ``otrace ps`` find running processes
    fleet       a fleet's identity (the worker processes of one application) and grouping records
    listing     the text ``otrace ps`` prints
    orders      a fleet's order log: appended once per order under a file lock, read as it grows

Thread-safety: see each module. Everything runs on otrace's control loop (``Runtime.control_loop``)
except what an endpoint runs in its worker pool, ``audit`` and ``discovery`` (any thread),
and ``start_server``/``ServerHandle.stop`` (any thread but the control thread).
"""
