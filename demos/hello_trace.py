#!/usr/bin/env python3
"""hello_trace.py: otrace's threaded HTTP demo, computing the reciprocal of a number.

    python demos/hello_trace.py                 # serves on 127.0.0.1:8888 with the otrace console
    python demos/hello_trace.py --port 0 --batch demos/hello_test.osh   # the tutorial, non-interactively

A form asks for a number; ``Receive.respond`` answers with its reciprocal, so 0 raises
ZeroDivisionError -- the bug the GettingStarted tutorial hunts with otrace. ``submit(number)``
makes the same request the form would, from the otrace shell (``submit(0)``).

The server is a ``ThreadingHTTPServer`` (one thread per request, no asyncio): the otrace shell is
built directly over this module's globals and the console runs on the main thread while the
server runs on its own thread. Options: ``--addr``, ``--port`` (0: a free port), ``--console`` /
``--no-console`` (default: when stdin is a terminal), ``--batch FILE`` (run shell commands, exit 1
at the first error), ``--exit-on-stdin-eof`` (stop when stdin closes: servers started by tests
die with their parent).
"""

import argparse
import copy
import html
import logging
import os
import sys
import tempfile
import threading
import traceback
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from otrace_server import get_engine, traceassert  # noqa: F401 - traceassert is used by patches (edit)

Page_template = """<html>
<head>
   <meta name="viewport" content="width=device-width, initial-scale=1">
   <title>Hello Trace</title>
</head>
<body>
  <h2>Hello Trace</h2>
  <form method="get" action="/">
    Find reciprocal of:
    <input id="number" name="number" type="text" autocomplete="off" autofocus="autofocus"></input>
    <input type="submit" value="Submit" />
  </form>
  <p>
  <span>%s</span>
</body>
</html>
"""

# Request statistics
Request_stats = {"count": 0, "path": ""}


class GetHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        # Process GET request
        path_comps = urllib.parse.urlparse(self.path)
        query_args = urllib.parse.parse_qs(path_comps.query)

        logging.warning("path=%s", self.path)

        # Update request statistics
        Request_stats["count"] += 1
        Request_stats["path"] = self.path

        if path_comps.path == "/favicon.ico":
            self.send_error(404)
            return

        # Retrieve user input
        number = query_args.get("number", [None])[0]

        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()

        if number is None:
            # No user input; display input form
            resp = Page_template % ""
        else:
            # Process user input and display response
            try:
                recv = Receive(number)
                resp = Page_template % html.escape(recv.respond(self), quote=False)
            except Exception as excp:
                logging.error("ERROR: %s", excp)
                # escaped: the traceback quotes the user's input (float('<script>...') fails)
                resp = "Server error:\n" + html.escape("".join(traceback.format_exception(*sys.exc_info())), quote=False)

        self.wfile.write(resp.encode("utf-8"))

    def log_message(self, format, *args):
        # Suppress server logging
        return


class Receive:
    def __init__(self, value):
        self.value = float(value)

    def respond(self, request):
        # Respond to request by computing reciprocal and returning response string

        # Diagnostic print (initially commented out)
        ##if self.value <= 0.001:
        ##    print("Client address", request.client_address)

        # Trace assertion (initially commented out)
        ##traceassert(self.value > 0.001, label="num_check")

        # Compute reciprocal of number
        response = "The reciprocal of %s is %s" % (self.value, 1.0 / self.value)
        return response

    def __deepcopy__(self, memo):
        return self.__class__(copy.deepcopy(self.value, memo))


Http_addr = "127.0.0.1"
Http_port = 8888


def submit(number, timeout=None):
    """Simulate user form submission by executing a HTTP request (to the running server)."""

    def http_request():
        url = "http://%s:%s/?number=%s" % (Http_addr, Http_port, urllib.parse.quote(str(number)))
        try:
            with urllib.request.urlopen(url) as response:
                resp_str = response.read().decode("utf-8")
            return "\n".join(resp_str.split("\n")[-4:-3]) if resp_str.startswith("<html>") else resp_str
        except Exception as excp:
            return str(excp.reason) if isinstance(excp, urllib.error.URLError) else str(excp)

    if not timeout:
        return http_request()

    # HTTP request with timeout (run in a separate thread)
    box = []
    thrd = threading.Thread(target=lambda: box.append(http_request()), daemon=True)
    thrd.start()
    thrd.join(timeout)
    return box[0] if box else "Timed out after %s seconds" % timeout


# Receive.respond with the diagnostic print and the traceassert uncommented: the source that the
# tutorial's `edit Receive.respond` step patches in (hello_test.osh: `!patch_file()` writes it to
# PATCH_FILE, then `edit Receive.respond < PATCH_FILE`).
Respond_patch = """def respond(self, request):
    # Respond to request by computing reciprocal and returning response string

    # Diagnostic print (initially commented out)
    if self.value <= 0.001:
        print("Client address", request.client_address)

    # Trace assertion (initially commented out)
    traceassert(self.value > 0.001, label="num_check")

    # Compute reciprocal of number
    response = "The reciprocal of %s is %s" % (self.value, 1.0 / self.value)
    return response
"""

PATCH_FILE = os.path.join(tempfile.gettempdir(), "hello_trace-Receive.respond.patch")


def patch_file():
    """Write ``Respond_patch`` to ``PATCH_FILE`` and return that path."""
    with open(PATCH_FILE, "w") as f:
        f.write(Respond_patch)
    return PATCH_FILE


def test_fun():
    # Test function that raises an exception
    raise Exception("TEST EXCEPTION")


def make_server(addr="127.0.0.1", port=8888):
    """Bind the threaded HTTP server (port 0: a free port) and record where it listens in
    ``Http_addr``/``Http_port`` (used by ``submit``). The caller runs ``serve_forever``."""
    global Http_addr, Http_port
    http_server = ThreadingHTTPServer((addr, port), GetHandler)
    http_server.daemon_threads = True
    Http_addr, Http_port = http_server.server_address[:2]
    return http_server


def make_shell(namespace=None):
    """An otrace shell session over ``namespace`` (default: this module's globals)."""
    from otrace_server.shell import Shell

    return Shell(get_engine(), globals() if namespace is None else namespace).session("console")


def _wait_for_stdin_eof():
    while sys.stdin.readline():
        pass


def main(argv=None):
    """Run the demo server with otrace attached; returns the exit status."""
    parser = argparse.ArgumentParser(description="otrace demo: a threaded HTTP server computing reciprocals")
    parser.add_argument("--addr", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8888, help="port to listen on (0: a free port)")
    parser.add_argument("--console", action=argparse.BooleanOptionalAction, default=None,
                        help="start the otrace console (default: when stdin is a terminal)")
    parser.add_argument("--batch", metavar="FILE", help="run otrace shell commands from FILE, then exit")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin is closed")
    opts = parser.parse_args(argv)

    http_server = make_server(opts.addr, opts.port)
    print("Listening on http://%s:%s/ (^C to stop)" % (Http_addr, Http_port), file=sys.stderr, flush=True)
    server_thread = threading.Thread(target=http_server.serve_forever, name="http-server", daemon=True)
    server_thread.start()
    try:
        from otrace_server import app as otrace_app

        running = otrace_app.current()        # already started by `otrace hello_trace.py`
        if opts.batch:
            from otrace_server.console import run_script

            with open(opts.batch) as f:
                session = running.shell.session("batch") if running else make_shell()
                return run_script(session, f, sys.stdout, engine=get_engine())
        console = opts.console if opts.console is not None else sys.stdin.isatty()
        if console and running is None:
            from otrace_server.console import Console

            Console(make_shell(), get_engine()).run()   # says itself that the server keeps running
            if opts.exit_on_stdin_eof:
                return 0
        elif opts.exit_on_stdin_eof:
            _wait_for_stdin_eof()
            return 0
        while server_thread.is_alive():
            server_thread.join(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        http_server.shutdown()
        http_server.server_close()


if __name__ == "__main__":
    sys.exit(main())
