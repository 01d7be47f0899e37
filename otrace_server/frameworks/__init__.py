"""Framework adapters: what otrace knows of the web framework a held or traced request runs in.

    from otrace_server import frameworks

    frameworks.install(engine)            # app.start: summaries + status answers per framework
    frameworks.request_of(ctx)            # Tornado RequestHandler | aiohttp web.Request |
                                          # starlette Request | None
    frameworks.adapter_of(ctx).summary(r) # RequestSummary(method, uri, remote_ip, user, framework)
    frameworks.status_exception_for(ctx)  # (status, reason) -> that framework's HTTP exception | None

Adapters (``frameworks.adapter.Adapter``): ``tornado``, ``aiohttp``, ``starlette`` (FastAPI rides
on it) and ``plain`` (threads, bare asyncio: no HTTP, a status outcome is refused). An adapter is
active only once the program imported its framework (``sys.modules``), never because it is
installed; the adapter of a context is the one that finds its request (``selection``).

Modules: ``adapter`` (the protocol), ``selection`` (which adapter: ``active``, ``adapter_of``,
``request_of``, ``status_exception_for``), ``glue`` (``install``/``uninstall`` on an engine, the
``request_summary`` enricher), ``stack`` (finding a request on the running stack), one module
per framework.

Thread-safety: see each module; everything here may be called from any thread except
``install``/``uninstall`` (the thread that starts/stops otrace).
"""

from __future__ import annotations

from otrace_server.frameworks.adapter import Adapter
from otrace_server.frameworks.glue import install, request_summary, uninstall
from otrace_server.frameworks.selection import active, adapter_of, request_of, status_exception_for

__all__ = ["Adapter", "active", "adapter_of", "install", "request_of", "request_summary", "status_exception_for",
           "uninstall"]
