"""reciprocal.py: what the reciprocal demos share (torna_trace.py and the aiohttp, Starlette and
FastAPI demos): the command line, what they pass to ``otrace_server.start``, and, for the demos of
the asyncio frameworks, the page and its answer.

The story: a page asks for a number and answers its reciprocal. Entering 77 HOLDS that request (the
page waits) while every other request is served; in the otrace console (the aiohttp demo)::

    globals> ls ~~
    /osh/recent/holds/get_reciprocal/hd-hold_check/21-06-24
    globals> cd ~~
    get_reciprocal..06-24> number
    '77'
    get_reciprocal..06-24> resume      (or: resume --value 4, resume --raise ValueError, resume --status 409 Taken)

Entering 0 raises ZeroDivisionError: ``trace get_reciprocal`` records it under /osh/recent/exceptions.
The page includes ``/otrace/otrace-web.js``: the browser showing it appears under /osh/web (as
``browser``: the demos give no identity), and with ``set safe_mode False`` JavaScript typed there
runs in it (``document.body.style.background = "red"``).
``torna_trace.trc`` (next to this file) is sourced at start: it sets ``trace_active True``, without
which ``traceassert`` holds nothing.

    args = reciprocal.parse_args(__doc__, argv)
    otrace = None if args.bare else start(globals(), **reciprocal.start_options(args))
    reciprocal.announce(otrace, args)            # the control line; the --exit-on-stdin-eof watchdog
    text = reciprocal.page("aiohttp", "4")       # "The reciprocal of 4.0 is 0.25" in the page

Thread-safety: ``page`` and ``answer`` are pure; ``announce`` runs on the main thread before the
server starts; its watchdog is a daemon thread that only reads stdin and, at EOF, stops otrace
(``App.stop``: any thread) and signals the process.
"""

from __future__ import annotations

import argparse
import html
import os
import signal
import threading
from typing import Callable

__all__ = ["PAGE", "TRC", "page", "answer", "parse_args", "start_options", "announce"]

#: the shell commands every demo sources at start (``set trace_active True``: 77 is held)
TRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torna_trace.trc")

PAGE = """<html>
<head><title>Reciprocal trace ({framework})</title></head>
<body>
  <h2>Reciprocal trace, served by {framework}</h2>
  <form method="get" action="/">
    Find the reciprocal of: <input id="number" name="number" type="text" autocomplete="off" autofocus>
    <input type="submit" value="Submit">
  </form>
  <p><span id="answer">{answer}</span></p>
  <script src="/otrace/otrace-web.js"></script>
</body>
</html>
"""


def page(framework: str, number: str | None = None) -> str:
    """The demo page served by ``framework``: the form, and the answer for ``number`` unless None."""
    text = "" if number is None else answer(number)
    return PAGE.format(framework=framework, answer=html.escape(text, quote=False))


def answer(number: str) -> str:
    """The answer text for ``number``; "0" raises ZeroDivisionError (on purpose: something to trace)."""
    try:
        value = float(number)
    except ValueError:
        return f"{number!r} is not a number"
    return f"The reciprocal of {value} is {1.0 / value}"


def parse_args(doc: str, argv: list[str] | None = None,
               extra: Callable[[argparse.ArgumentParser], object] | None = None) -> argparse.Namespace:
    """The demos' options: ``--port`` (0: a free one), ``--addr``, ``--no-console``, ``--no-lsp``,
    ``--exit-on-stdin-eof`` (exit when stdin reaches EOF, so a test that started the demo with a
    pipe as stdin never leaves it behind; implies ``--no-console``), ``--bare`` (no otrace: a
    benchmark baseline). ``args.console`` is ``start``'s (False, or None: when stdin is a TTY).
    ``doc``: the demo's docstring (its first line describes it); ``extra(parser)`` adds a demo's
    own options."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--port", type=int, default=8888, help="port to listen on (0: a free port)")
    parser.add_argument("--addr", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--no-console", action="store_true", help="do not start the terminal console")
    parser.add_argument("--no-lsp", action="store_true", help="do not start the language server")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin reaches EOF")
    parser.add_argument("--bare", action="store_true", help="run without otrace (benchmark baseline)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    args.console = False if (args.no_console or args.exit_on_stdin_eof) else None
    return args


def start_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``otrace_server.start`` for the demo's options: console, language
    server, host, and the init file ``TRC``."""
    return {"console": args.console, "lsp": not args.no_lsp, "host": args.addr, "init_file": TRC}


def announce(otrace, args: argparse.Namespace) -> None:
    """After ``start`` (for the demos that do not use ``otrace_server.serving.serve``, which does
    the same): print the App's control line (where the language server listens), and with
    ``--exit-on-stdin-eof`` start the watchdog. ``otrace``: the App, or None (``--bare``)."""
    if otrace is not None and otrace.control_line():
        print(otrace.control_line(), flush=True)
    if args.exit_on_stdin_eof:
        _exit_on_stdin_eof(otrace.stop if otrace is not None else lambda: None)


def _exit_on_stdin_eof(before: Callable[[], object]) -> None:
    """At stdin's EOF (the parent process closed the pipe or went away), call ``before()`` (otrace
    stops: held requests are answered) and send this process SIGINT: the server stops as it does on
    Ctrl-C. A daemon thread waits for it."""
    def watch() -> None:
        try:   # os.read: no lock of sys.stdin is held while waiting (see otrace_server.serving)
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        before()
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="stdin-watchdog", daemon=True).start()
