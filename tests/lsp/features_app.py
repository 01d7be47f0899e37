"""A Tornado app for the language server's editor-feature tests (tests/lsp/test_features.py), run
as a subprocess that exits at stdin EOF; prints ``READY <http_port> <lsp_port>`` once serving.

Its functions cover the kinds of lines an editor user acts on: methods, classmethods,
staticmethods, nested functions, lambdas, docstrings, decorators, 2-space and tab indentation,
continuation lines, non-ASCII (emoji) text. Handlers: /m?v=X (Handler.get: async, holds nowhere by
itself), /raise?v=X (raises inside ``boom`` when X == "1", traced).
"""

import functools
import os
import sys

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
    from tests.support.testapp import serve_until_stdin_eof

    serve_until_stdin_eof([(r"/m", Handler), (r"/raise", RaiseHandler)], globals(), "boom")


if __name__ == "__main__":
    main()
