"""A tiny Tornado app for the language-server tests (run as a subprocess; exits at stdin EOF).

Prints ``READY <http_port> <lsp_port>`` once serving. Handlers:
    /sleep?s=N   blocks the app's loop with time.sleep (the control plane must still answer)
    /hold?n=X    holds when X == "77" (await traceassert(..., action="hold"))
    /div?n=X     calls compute(X), traced: X == "0" raises ZeroDivisionError inside compute
    /live?v=X    LiveHandler.get, a plain async handler for "Hold here live"
"""

import os
import sys
import threading
import time

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from otrace_server import traceassert  # noqa: E402


def compute(n):
    value = int(n)
    return 100 // value


class SleepHandler(tornado.web.RequestHandler):
    def get(self):
        time.sleep(float(self.get_argument("s", "5")))
        self.write("slept")


class HoldHandler(tornado.web.RequestHandler):
    async def get(self):
        n = self.get_argument("n", "")
        replacement = await traceassert(n != "77", label="sample_hold", action="hold")
        self.write(f"n={n} replacement={replacement}")


class DivHandler(tornado.web.RequestHandler):
    def get(self):
        try:
            self.write(str(compute(self.get_argument("n", "1"))))
        except ZeroDivisionError:
            self.write("error")


class LiveHandler(tornado.web.RequestHandler):
    async def get(self):
        value = self.get_argument("v", "none")
        self.write("live:" + value)


def main():
    from otrace_server import start

    io_loop = tornado.ioloop.IOLoop.current()
    app = tornado.web.Application([(r"/sleep", SleepHandler), (r"/hold", HoldHandler), (r"/div", DivHandler),
                                   (r"/live", LiveHandler)])
    server = tornado.httpserver.HTTPServer(app)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    otrace = start(globals(), app_loop=io_loop, console=False, trace_active=True)
    otrace.engine.tracer.trace("compute", namespace=globals())
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
