"""otrace_server.shutdown: at SIGINT/SIGTERM the holds are answered (outcome ``shutdown``) before the
program's own handling of the signal, whichever framework installed it; the process then ends as
it would have. Real servers of each framework, run under ``otrace``, written as their docs write
them; the in-process tests check the signal module stays truthful to the program."""

from __future__ import annotations

import signal
import sys
import threading
import time

import pytest

from otrace_server import shutdown
from otrace_server.core.engine import Engine
from otrace_server.core.context import capture
from tests.support.served import ServedScript, http_get

#: each app's handler prints "held" once its hold waits (the line runs after the hold is made)
HELD = 'asyncio.get_running_loop().call_soon(lambda: print("held", flush=True))'

TORNADO_HANDLER = f'''
import asyncio, sys
import tornado.ioloop
import tornado.web
from otrace_server import traceassert

class MainHandler(tornado.web.RequestHandler):
    async def get(self):
        {HELD}
        await traceassert(self.get_argument("n", "") != "77", label="hold_check", action="hold")
        self.write("done")
'''

TORNADO_ASYNCIO_RUN = TORNADO_HANDLER + '''
async def main():
    app = tornado.web.Application([(r"/", MainHandler)])
    app.listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()

if __name__ == "__main__":
    asyncio.run(main())
'''

TORNADO_IOLOOP = TORNADO_HANDLER + '''
if __name__ == "__main__":
    app = tornado.web.Application([(r"/", MainHandler)])
    app.listen(int(sys.argv[1]), "127.0.0.1")
    tornado.ioloop.IOLoop.current().start()
'''

AIOHTTP = f'''
import asyncio, sys
from aiohttp import web
from otrace_server import traceassert

async def handle(request):
    {HELD}
    await traceassert(request.query.get("n") != "77", label="hold_check", action="hold")
    return web.Response(text="done")

app = web.Application()
app.router.add_get("/", handle)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]))
'''

STARLETTE_UVICORN = f'''
import asyncio, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from otrace_server import traceassert

async def homepage(request):
    {HELD}
    await traceassert(request.query_params.get("n") != "77", label="hold_check", action="hold")
    return PlainTextResponse("done")

app = Starlette(routes=[Route("/", homepage)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]))
'''

PLAIN_ASYNCIO = f'''
import asyncio, sys
from otrace_server import traceassert

async def handle(reader, writer):
    request = await reader.readline()
    if not request:                       # a connection that sent nothing (a port probe)
        writer.close()
        return
    while await reader.readline() not in (b"\\r\\n", b""):
        pass
    {HELD}
    await traceassert(b"n=77" not in request, label="hold_check", action="hold")
    writer.write(b"HTTP/1.0 200 OK\\r\\nContent-Length: 4\\r\\n\\r\\ndone")
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()

if __name__ == "__main__":
    asyncio.run(main())
'''

THREADED_HTTP_SERVER = '''
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from otrace_server import get_engine, traceassert

get_engine().events.subscribe(lambda event: event.kind == "hold_started" and print("held", flush=True))

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        traceassert("n=77" not in self.path, label="break_check", action="break")   # this thread waits
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"done")

if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''

#: name: (source, {signal: the exit status the app has at that signal, held request or not})
#: 1: Ctrl-C's KeyboardInterrupt (otrace's status for it); -15: SIGTERM's default action (uvicorn
#: raises it again once drained); aiohttp's GracefulExit ends run_app normally: 0.
APPS = {
    "tornado-asyncio-run": (TORNADO_ASYNCIO_RUN, {signal.SIGINT: 1, signal.SIGTERM: -15}),
    "tornado-ioloop-start": (TORNADO_IOLOOP, {signal.SIGINT: 1, signal.SIGTERM: -15}),
    "aiohttp-run-app": (AIOHTTP, {signal.SIGINT: 0, signal.SIGTERM: 0}),
    "starlette-uvicorn-run": (STARLETTE_UVICORN, {signal.SIGINT: 0, signal.SIGTERM: -15}),
    "plain-asyncio-run": (PLAIN_ASYNCIO, {signal.SIGINT: 1, signal.SIGTERM: -15}),
    "threaded-http-server": (THREADED_HTTP_SERVER, {signal.SIGINT: 1, signal.SIGTERM: -15}),
}

OTRACE_OPTIONS = ["--no-lsp", "--no-console", "-s", "trace_active=True"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("name", list(APPS))
def test_a_held_request_is_answered_before_the_server_shuts_down(tmp_path, name, signum):
    source, statuses = APPS[name]
    (tmp_path / "app.py").write_text(source)
    with ServedScript(tmp_path / "app.py", otrace=OTRACE_OPTIONS) as app:
        answers = []
        client = threading.Thread(target=lambda: answers.append(http_get(app.url + "/?n=77")))
        client.start()
        app.wait_line("held")
        sent = time.monotonic()
        app.process.send_signal(signum)
        status = app.wait(10)
        took = time.monotonic() - sent
        client.join(10)
    assert answers == [(200, "done")], app.output           # the handler went on (outcome shutdown)
    assert status == statuses[signum], app.output
    assert took < 5, app.output                              # no drain waiting for the held request


UVICORN_STARTING_OTRACE = f'''
import asyncio, contextlib, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from otrace_server import start, traceassert

async def homepage(request):
    {HELD}
    await traceassert(request.query_params.get("n") != "77", label="hold_check", action="hold")
    return PlainTextResponse("done")

@contextlib.asynccontextmanager
async def lifespan(app):
    start(globals(), console=False, lsp=False, trace_active=True)   # uvicorn's handlers are set by now
    print("otrace started", flush=True)
    yield

app = Starlette(routes=[Route("/", homepage)], lifespan=lifespan)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]))
'''


AIOHTTP_STARTING_OTRACE = f'''
import asyncio, sys
from aiohttp import web
from otrace_server import start, traceassert

async def handle(request):
    {HELD}
    await traceassert(request.query.get("n") != "77", label="hold_check", action="hold")
    return web.Response(text="done")

async def on_startup(app):
    start(globals(), console=False, lsp=False, trace_active=True)   # after run_app's loop signal handlers
    print("otrace started", flush=True)

app = web.Application()
app.router.add_get("/", handle)
app.on_startup.append(on_startup)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]))
'''


@pytest.mark.parametrize("source", [UVICORN_STARTING_OTRACE, AIOHTTP_STARTING_OTRACE], ids=["uvicorn", "aiohttp"])
def test_otrace_started_after_the_framework_set_its_handlers_still_answers_first(tmp_path, source):
    """A program that starts otrace itself, once its framework has installed its signal handlers
    (uvicorn: signal.signal; aiohttp: the loop's add_signal_handler)."""
    (tmp_path / "app.py").write_text(source)
    with ServedScript(tmp_path / "app.py") as app:
        app.wait_line("otrace started")
        answers = []
        client = threading.Thread(target=lambda: answers.append(http_get(app.url + "/?n=77")))
        client.start()
        app.wait_line("held")
        app.process.send_signal(signal.SIGINT)
        status = app.wait(10)
        client.join(10)
    assert answers == [(200, "done")], app.output
    assert status == 0, app.output


# ---- in process: the signal module as the program sees it ---------------------------------------

@pytest.fixture
def guarded():
    """An isolated engine guarded on this (the main) thread; the guard is removed afterwards."""
    engine = Engine()
    remove = shutdown.guard(engine)
    yield engine
    remove()


def test_the_program_sees_its_own_handlers(guarded):
    def mine(signum, frame):
        pass

    before = signal.getsignal(signal.SIGINT)
    assert signal.signal(signal.SIGINT, mine) is before
    assert signal.getsignal(signal.SIGINT) is mine
    assert signal.signal(signal.SIGINT, before) is mine
    assert signal.getsignal(signal.SIGINT) is before
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    signal.signal(signal.SIGINT, before)
    with pytest.raises(TypeError):
        signal.signal(signal.SIGINT, "not a handler")


def test_removing_the_guard_puts_the_handlers_and_the_module_back():
    real_signal, real_getsignal = signal.signal, signal.getsignal
    before = signal.getsignal(signal.SIGTERM)
    calls = []
    remove = shutdown.guard(Engine())
    assert signal.signal is not real_signal
    try:
        signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    finally:
        remove()
    assert (signal.signal, signal.getsignal) == (real_signal, real_getsignal)
    assert signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None) is None and calls == [signal.SIGTERM]
    signal.signal(signal.SIGTERM, before)


def breaking(engine, outcomes: list) -> threading.Thread:
    """A thread that breaks (``start_break``) and appends what it returns to ``outcomes``."""
    def worker():
        ctx = capture(sys._getframe(), ctype="breaks", label="b", funcname="worker", event="break")
        outcomes.append(engine.start_break(ctx))

    return threading.Thread(target=worker)


def test_a_waiting_break_is_resumed_before_the_programs_handler_runs(guarded):
    outcomes, seen_by_handler = [], []
    thread = breaking(guarded, outcomes)
    held = threading.Event()
    guarded.events.subscribe(lambda event: event.kind == "hold_started" and held.set())
    thread.start()
    assert held.wait(5)
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen_by_handler.append(len(guarded.holds)))
    try:
        signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    thread.join(5)
    assert seen_by_handler == [0]                     # the break was resumed before the handler ran
    assert outcomes == [None] and not thread.is_alive()


def test_with_nothing_held_the_programs_handler_runs_at_once(guarded):
    calls = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(time.monotonic()))
    try:
        sent = time.monotonic()
        signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(calls) == 1 and calls[0] - sent < shutdown.ANSWER_GRACE / 2


def test_a_hold_starting_after_the_signal_is_resumed_at_once(guarded):
    """A request the framework lets finish while it drains may reach a hold only then."""
    resumed = []
    guarded.events.subscribe(lambda event: event.kind == "hold_resumed" and resumed.append(event.data["outcome"].kind))
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)   # a server that drains
    try:
        signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    outcomes = []
    thread = breaking(guarded, outcomes)
    thread.start()
    thread.join(5)
    assert outcomes == [None] and resumed == ["shutdown"]
