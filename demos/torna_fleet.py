#!/usr/bin/env python3
"""torna_fleet.py: the torna_trace app served by N worker processes on one port: an otrace fleet.

    python demos/torna_fleet.py [--port 8888] [--workers 3] [--addr 127.0.0.1] [--no-console]

The parent binds the port (``tornado.netutil.bind_sockets``) and forks N workers that all serve it,
as Tornado's ``fork_processes`` does; each worker starts its own otrace (after the fork: threads do
not survive one) with the handlers of demos/torna_trace.py: ``GET /?number=N``, and ``number=77``
HOLDS that request in whichever worker took it. Each answer names its worker (header
``X-Worker-Pid``). ``GET /web`` is a page with otrace's browser script: the browser shows up under
/osh/web of the worker its websocket reached (``browser``, ``browser#2``, ... in each worker). The workers form one fleet (``otrace ps`` shows them under one header; the
editors show every worker's holds in one list, and traces, live holds and breakpoints given as
fleet orders apply in every worker, also in one started later). A worker that dies is started
again (a new pid, same fleet: it applies the fleet's standing orders as it starts).

The parent has no console and starts no otrace; the workers have no terminal console (``--no-console``
is taken like the other demos'). Ctrl-C or SIGTERM to the parent ends every worker (each answers
its held requests first), then the parent. ``--port 0`` picks a free port (the parent prints
"Listening on http://ADDR:PORT"); ``--exit-on-stdin-eof`` ends the fleet when stdin reaches EOF.
"""

import ctypes
import os
import signal
import sys
import threading

import tornado.netutil
import tornado.web

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from demos import reciprocal  # noqa: E402  (the options every reciprocal demo takes)
from demos.torna_trace import GetHandler  # noqa: E402  (the same handler: 77 holds)
import otrace_server.web as otrace_web  # noqa: E402
from otrace_server.serving import serve  # noqa: E402

#: seconds a worker gets to answer its held requests and exit once told to
GRACE = 10.0


class FleetHandler(GetHandler):
    """torna_trace's handler, saying which worker answered."""

    def set_default_headers(self):
        self.set_header("X-Worker-Pid", str(os.getpid()))


#: the page of GET /web: otrace's browser script connects it to /osh/web of one worker
WEB_PAGE = """<html><head><title>Fleet browser</title></head>
<body><p>A browser of the fleet: see /osh/web of the worker its websocket reached.</p>
<script src="/otrace/otrace-web.js"></script></body></html>
"""


class WebPage(tornado.web.RequestHandler):
    """GET /web: a page that connects to /osh/web."""

    def get(self):
        self.write(WEB_PAGE)


def make_app():
    return tornado.web.Application([(r"/", FleetHandler), (r"/web", WebPage)] + otrace_web.handlers("/otrace"))


def _die_with_parent(parent: int) -> None:
    """Linux: this worker gets SIGTERM when the parent dies (even by SIGKILL), so no worker is
    left serving without its supervisor; exits now when the parent is gone already."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(0)


def _worker(args, sockets) -> None:
    """A forked worker: default signal handling (``serve`` installs its own), otrace, serve."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def attach(io_loop):
        from otrace_server import start

        return start(globals(), app_loop=io_loop, **dict(reciprocal.start_options(args), console=False))

    serve(make_app(), args.port, args.addr, attach=None if args.bare else attach, sockets=sockets)


def _supervise(workers: int, exit_on_stdin_eof: bool) -> int | None:
    """The parent: fork ``workers`` workers and start another for each that dies, until SIGTERM,
    SIGINT or (when asked) stdin's EOF; then SIGTERM to every worker and wait for them (SIGKILL
    after ``GRACE`` s). Returns the worker's number in a forked worker, None in the parent once
    every worker ended."""
    parent = os.getpid()
    children: dict[int, int] = {}
    stopping = threading.Event()

    def spawn(number: int) -> int | None:
        pid = os.fork()
        if pid == 0:
            _die_with_parent(parent)
            return number
        children[pid] = number
        return None

    def stop(*_args) -> None:
        if not stopping.is_set():
            stopping.set()
            for pid in list(children):
                _signal(pid, signal.SIGTERM)
            kill = threading.Timer(GRACE, lambda: [_signal(pid, signal.SIGKILL) for pid in list(children)])
            kill.daemon = True
            kill.start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if exit_on_stdin_eof:
        threading.Thread(target=_on_stdin_eof, name="stdin-watchdog", daemon=True).start()
    for number in range(workers):
        if spawn(number) is not None:
            return number
    print(f"{workers} workers: {', '.join(map(str, children))}", flush=True)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        number = children.pop(pid, None)
        if number is None or stopping.is_set():
            continue
        print(f"worker {pid} ended ({_status(status)}): starting another", flush=True)
        if spawn(number) is not None:
            return number
    return None


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _on_stdin_eof() -> None:
    """The parent's watchdog: SIGTERM to itself at stdin's EOF (the test or shell went away)."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv=None):
    args = reciprocal.parse_args(__doc__, argv, extra=lambda parser: parser.add_argument(
        "--workers", type=int, default=3, help="how many worker processes serve the port (default 3)"))
    if args.workers < 1:
        sys.exit("torna_fleet.py: --workers must be at least 1")
    sockets = tornado.netutil.bind_sockets(args.port, args.addr, backlog=1024)
    print(f"Listening on http://{args.addr}:{sockets[0].getsockname()[1]} ({args.workers} workers)", flush=True)
    if _supervise(args.workers, args.exit_on_stdin_eof) is None:
        return   # the parent, every worker ended
    _worker(args, sockets)


if __name__ == "__main__":
    main()
