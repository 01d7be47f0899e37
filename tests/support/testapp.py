"""The ``main()`` of the small Tornado apps the language-server tests run as subprocesses
(tests/lsp/sample_app.py, tests/lsp/features_app.py): serve on 127.0.0.1:<free port> with otrace
started beside the app, print ``READY <http_port> <lsp_port>``, stop when stdin reaches EOF.

Runs on the subprocess's main thread (the IOLoop's); a watchdog thread reads stdin.
"""

from __future__ import annotations

import sys
import threading

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

__all__ = ["serve_until_stdin_eof"]


def serve_until_stdin_eof(routes: list, namespace: dict, traced: str) -> None:
    """Serve ``routes`` with otrace started over ``namespace`` (``trace_active``, the function
    ``traced`` traced) until stdin reaches EOF; then stop otrace."""
    from otrace_server import start

    io_loop = tornado.ioloop.IOLoop.current()
    server = tornado.httpserver.HTTPServer(tornado.web.Application(routes))
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    otrace = start(namespace, app_loop=io_loop, console=False, trace_active=True)
    otrace.engine.tracer.trace(traced, namespace=namespace)
    print(f"READY {sockets[0].getsockname()[1]} {otrace.lsp_port}", flush=True)

    def watch():
        while sys.stdin.buffer.read(4096):
            pass
        io_loop.add_callback(io_loop.stop)

    threading.Thread(target=watch, daemon=True).start()
    try:
        io_loop.start()
    finally:
        otrace.stop()
