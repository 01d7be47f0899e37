"""/osh/web: evaluate JavaScript in the browsers connected to the application.

Each page that includes ``otrace-web.js`` opens a websocket to the app and appears as
``/osh/web/<name>``; the app decides who a browser is with an identity callable (handler ->
identity, e.g. the logged-in user from a cookie) and otrace names it, one-to-one (``names``):
``user1`` stays ``user1``, other characters are escaped (``Ann Lee`` -> ``Ann%20Lee``), and a
second tab of ``user1`` is ``user1#2`` (no identity's name contains ``#``). With ``safe_mode
False``, input in ``/osh/web/<name>`` is JavaScript evaluated in that page::

    import otrace_server, otrace_server.web as otweb

    registry = otweb.get_registry()
    registry.identity = lambda handler: handler.get_cookie("user")
    app = tornado.web.Application(routes + otweb.handlers("/otrace"))   # /otrace/ws, /otrace/otrace-web.js
    started = otrace_server.start(globals(), web=registry)             # shell.web = registry

``start`` serves /osh/web with ``web=`` (None: not at all); by default with the default registry
when the program has made it before (``get_registry()``, ``handlers()`` without a registry). A
program that starts otrace first attaches later: ``registry.attach(started.shell, started.runtime)``.

Modules:
    registry    WebRegistry: connected browsers, evaluations in flight (the shell's web provider)
    socket      OTraceWebSocket, OTraceWebMixin (for an app's own socket), handlers() routes
    correlate   the engine enricher naming the browser of a held request's user (by identity)
    names       identity_text, web_name, tab_name: what an identity becomes under /osh/web
    ratelimit   LogLimiter: log lines caused by browsers, per browser and in all, then a summary
    static/otrace-web.js   the browser side (plain JavaScript)

Thread-safety: see each module; sockets live on the app loop, evaluations are requested from the
console / worker threads and cross only through ``otrace_server.runtime.Runtime``.
"""

from otrace_server.web.correlate import make_enricher
from otrace_server.web.registry import (MAX_WEB_MESSAGE, WebClientInfo, WebRegistry, default_identity, get_registry,
                                        made_registry)
from otrace_server.web.socket import STATIC_DIR, OTraceWebMixin, OTraceWebSocket, handlers

__all__ = ["WebRegistry", "WebClientInfo", "get_registry", "made_registry", "default_identity", "make_enricher",
           "OTraceWebMixin", "OTraceWebSocket", "handlers", "STATIC_DIR", "MAX_WEB_MESSAGE"]
