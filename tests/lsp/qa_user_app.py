"""A Tornado app for the language server's user-level QA tests (tests/lsp/test_qa_user_*.py), run
as a subprocess that exits at stdin EOF; prints ``READY <http_port> <lsp_port>`` once serving.

Its functions cover the kinds of lines an editor user acts on: methods, classmethods,
staticmethods, nested functions, lambdas, docstrings, decorators, 2-space and tab indentation,
continuation lines, non-ASCII (emoji) text. Handlers: /m?v=X (Handler.get: async, holds nowhere by
itself), /raise?v=X (raises inside ``boom`` when X == "1", traced).
"""

import functools
import os
import sys
import threading

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from otrace_server import traceassert  # noqa: E402

GREETING = "héllo 🎉 wörld"


def decorated(fn):
    @functools.wraps(fn)
    def inner(*args, **kwargs):
        return fn(*args, **kwargs)
    return inner


def boom(v):
    """Raise when v == '1'."""
    label = "🎉🎉" + v  # emoji before the name
    if v == "1":
        raise ValueError("boom " + label)
    return label


def two_spaces(x):
  y = x + 1
  return y


def tabbed(x):
	y = x * 2
	return y


class Tools:
    """A class with every kind of method."""

    size = 3

    def method(self, x):
        return x + self.size

    @classmethod
    def klass(cls, x):
        return x * cls.size

    @staticmethod
    def static(x):
        return -x

    @decorated
    def wrapped(self, x):
        return x

    def outer(self, x):
        def inner(y):
            return y + 1
        square = lambda z: z * z  # noqa: E731
        return inner(square(x))


class Handler(tornado.web.RequestHandler):
    async def get(self):
        v = self.get_argument("v", "none")
        mark = "🎉🎉" + v
        total = (len(v) +
                 1)
        self.write(f"m:{mark}:{total}:{GREETING}")


class RaiseHandler(tornado.web.RequestHandler):
    def get(self):
        try:
            self.write(boom(self.get_argument("v", "0")))
        except ValueError:
            self.write("error")


def main():
    from otrace_server import start

    io_loop = tornado.ioloop.IOLoop.current()
    app = tornado.web.Application([(r"/m", Handler), (r"/raise", RaiseHandler)])
    server = tornado.httpserver.HTTPServer(app)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    otrace = start(globals(), app_loop=io_loop, console=False, trace_active=True)
    otrace.engine.tracer.trace("boom", namespace=globals())
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


if __name__ == "__main__":
    main()
