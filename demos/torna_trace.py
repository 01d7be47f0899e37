#!/usr/bin/env python3
"""torna_trace.py: a Tornado app computing the reciprocal of a number, traced with otrace.

    python demos/torna_trace.py [--port 8888] [--addr 127.0.0.1] [--no-console] [--no-lsp]

Open http://127.0.0.1:8888/ and enter a number. Entering 77 HOLDS that request (the page waits)
while every other request is served; in the otrace console::

    globals> ls ~~
    /osh/recent/holds/GetHandler.get/hd-hold_check/21-06-24
    globals> cd ~~
    GetHandler..06-24> ls
    __down __trc number self
    GetHandler..06-24> number
    '77'
    GetHandler..06-24> resume

Entering 0 raises ZeroDivisionError: ``trace GetHandler.get`` records it under /osh/recent/exceptions.
``torna_trace.trc`` (next to this file) is sourced at start (it sets ``trace_active True``).

Flags for tests and benchmarks: ``--port 0`` picks a free port (the line "Listening on
http://ADDR:PORT" says which); ``--exit-on-stdin-eof`` exits when stdin reaches EOF (so a test that
started the server with a pipe as stdin never leaves it behind; implies ``--no-console``);
``--bare`` runs the same app without otrace (benchmark baseline).
"""

import html
import os
import sys

import tornado.web

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from demos import reciprocal  # noqa: E402  (the options every reciprocal demo takes)
from otrace_server import traceassert  # noqa: E402
from otrace_server.serving import serve  # noqa: E402

PAGE = """<html>
<head><title>Hello Trace</title></head>
<body>
  <h2>Hello Trace</h2>
  <form method="get" action="/">
    Find reciprocal of:
    <input id="number" name="number" type="text" autocomplete="off" autofocus="autofocus">
    <input type="submit" value="Submit">
  </form>
  <p><span id="answer">%s</span></p>
</body>
</html>
"""

# Request statistics (browse them in the shell: /osh/globals/Request_stats)
Request_stats = {"count": 0, "path": ""}


class GetHandler(tornado.web.RequestHandler):
    async def get(self):
        Request_stats["count"] += 1
        Request_stats["path"] = self.request.uri
        number = self.get_argument("number", None)
        if number is None:
            self.write(PAGE % "")
            return
        # Holds THIS request when the user enters 77 (tracing must be active: see torna_trace.trc).
        # `resume` continues; a resume value replaces the number.
        replacement = await traceassert(number != "77", label="hold_check", action="hold")
        if replacement is not None:
            number = str(replacement)
        self.write(PAGE % html.escape(self.respond(number), quote=False))

    def respond(self, number):
        """The answer text; 0 raises ZeroDivisionError (on purpose: something to trace)."""
        try:
            value = float(number)
        except ValueError:
            return f"{number!r} is not a number"
        return f"The reciprocal of {value} is {1.0 / value}"


def make_app():
    return tornado.web.Application([(r"/", GetHandler)])


def main(argv=None):
    args = reciprocal.parse_args(__doc__, argv)

    def attach(io_loop):
        from otrace_server import start

        return start(globals(), app_loop=io_loop, **reciprocal.start_options(args))

    serve(make_app(), args.port, args.addr, attach=None if args.bare else attach,
          exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    main()
