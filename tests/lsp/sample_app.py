"""A tiny Tornado app for the language-server tests (run as a subprocess; exits at stdin EOF).

Prints ``READY <http_port> <lsp_port>`` once serving. Handlers:
    /sleep?s=N   prints SLEEPING, then blocks the app's loop with time.sleep (the control plane
                 must still answer)
    /hold?n=X    holds when X == "77" (await traceassert(..., action="hold"))
    /div?n=X     calls compute(X), traced: X == "0" raises ZeroDivisionError inside compute
    /live?v=X    LiveHandler.get, a plain async handler for "Hold here live"
"""

import os
import sys
import time

import tornado.web

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from otrace_server import traceassert  # noqa: E402


def compute(n):
    value = int(n)
    return 100 // value


class SleepHandler(tornado.web.RequestHandler):
    def get(self):
        print("SLEEPING", flush=True)
        time.sleep(float(self.get_argument("s", "5")))
        self.write("slept")


class SampleConflict(Exception):
    """The sample app's own exception class: HoldHandler answers it with 409."""


class HoldHandler(tornado.web.RequestHandler):
    async def get(self):
        n = self.get_argument("n", "")
        try:
            replacement = await traceassert(n != "77", label="sample_hold", action="hold")
        except SampleConflict as exc:
            self.set_status(409)
            self.write(f"conflict: {exc}")
            return
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
    from tests.support.testapp import serve_until_stdin_eof

    serve_until_stdin_eof([(r"/sleep", SleepHandler), (r"/hold", HoldHandler), (r"/div", DivHandler),
                           (r"/live", LiveHandler)], globals(), "compute")


if __name__ == "__main__":
    main()
