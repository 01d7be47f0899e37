"""Two-sided correlation: a held request whose user also has a browser connected names that browser.

``make_enricher(registry)`` returns an engine enricher (``engine.enrichers``). For a context
recorded in a request of a framework the program uses (``frameworks.request_of``: Tornado's
``RequestHandler`` but not a websocket handler, aiohttp's ``web.Request``, Starlette's / FastAPI's
``Request``, found on the held stack for an endpoint without a request parameter), it applies the
registry's identity callable to that request; when browsers of that very identity are connected
(the identities are compared, not their /osh/web names), the most recently connected one is
written to ``ctx.extra["web_client"]`` (shown in ``__trc`` as ``web_client``), so ``cd
/osh/web/<name>`` inspects the page of the very user whose request is held.

Thread-safety: the enricher runs on the thread that records the context (the app loop for holds);
it only reads the request and the registry (which locks).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Protocol

from tornado.websocket import WebSocketHandler

from otrace_server.frameworks import request_of
from otrace_server.web.names import identity_text

__all__ = ["make_enricher"]

log = logging.getLogger("otrace.web")


class Browsers(Protocol):
    """What the enricher reads of the registry (``registry.WebRegistry``, which imports this module)."""

    identity: Callable[[Any], Any]

    def names_for(self, identity: str) -> list[str]:
        """Names of the connected browsers of ``identity``, most recently connected first."""


def make_enricher(registry: Browsers) -> Callable[[Any], None]:
    """An enricher ``(ctx) -> None`` adding ``extra["web_client"]`` to request contexts (see above)."""

    def enrich(ctx: Any) -> None:
        request = request_of(ctx)
        if request is None or isinstance(request, WebSocketHandler):
            return
        try:
            identity = identity_text(registry.identity(request))
        except Exception as exc:  # an identity callable that fails on this request: no correlation
            log.debug("otrace: identity failed for %s: %s", type(request).__name__, exc)
            return
        names = registry.names_for(identity) if identity is not None else []
        if names:
            ctx.extra["web_client"] = names[0]

    return enrich
