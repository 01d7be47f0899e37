"""The app loop is the loop that runs (issue 16, point 1): real programs, written the way each
framework's own documentation writes them, run as real servers on 127.0.0.1 (under ``otrace
script.py``, or calling ``start()`` themselves before their loop exists); /osh/tasks, read through
the language server, lists the tasks of the loop that actually runs, and ``rm`` of a task (which
crosses with ``Runtime.post_to_app_loop``) reaches it, also after the program made a second loop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.lsp.rpc import Client
from tests.test_cli import otrace
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parent.parent

# Each program serves /slow (waits for /release) and /release on the port given as its argument.

TORNADO_HELLO = '''
import asyncio
import sys

import tornado


class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world")
'''

TORNADO_DOCS = TORNADO_HELLO + '''
release = asyncio.Event()


class SlowHandler(tornado.web.RequestHandler):
    async def get(self):
        await release.wait()
        self.write("released")


class ReleaseHandler(tornado.web.RequestHandler):
    def get(self):
        release.set()


def make_app():
    return tornado.web.Application([(r"/", MainHandler), (r"/slow", SlowHandler), (r"/release", ReleaseHandler)])


async def main():
    app = make_app()
    app.listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
'''

# Tornado as its older documentation starts it: IOLoop.current().start(), no coroutine main.
TORNADO_IOLOOP = TORNADO_DOCS.replace('''async def main():
    app = make_app()
    app.listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())''', '''if __name__ == "__main__":
    app = make_app()
    app.listen(int(sys.argv[1]), "127.0.0.1")
    tornado.ioloop.IOLoop.current().start()''')

AIOHTTP_DOCS = '''
import asyncio
import sys

from aiohttp import web

release = asyncio.Event()


async def hello(request):
    return web.Response(text="Hello, world")


async def slow(request):
    await release.wait()
    return web.Response(text="released")


async def release_slow(request):
    release.set()
    return web.Response(text="ok")


app = web.Application()
app.add_routes([web.get("/", hello), web.get("/slow", slow), web.get("/release", release_slow)])

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]))
'''

UVICORN_DOCS = '''
import asyncio
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

release = asyncio.Event()


async def homepage(request):
    return PlainTextResponse("Hello, world")


async def slow(request):
    await release.wait()
    return PlainTextResponse("released")


async def release_slow(request):
    release.set()
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/", homepage), Route("/slow", slow), Route("/release", release_slow)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]))
'''

# start() before the loop exists, then asyncio.run twice: the second loop is followed.
START_THEN_RUN_TWICE = TORNADO_HELLO + '''
from otrace_server import start

done = asyncio.Event()


class DoneHandler(tornado.web.RequestHandler):
    def get(self):
        done.set()


def make_app():
    return tornado.web.Application([(r"/", MainHandler), (r"/done", DoneHandler)])


async def main():
    server = make_app().listen(int(sys.argv[1]), "127.0.0.1")
    await done.wait()
    server.stop()
    await server.close_all_connections()


async def wait_forever():
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        print("cancelled", asyncio.current_task().get_name(), flush=True)
        raise


async def serve_again():
    make_app().listen(int(sys.argv[1]), "127.0.0.1")
    victim = asyncio.create_task(wait_forever(), name="victim")   # kept: asyncio holds tasks weakly
    await asyncio.Event().wait()
    return victim


start(globals(), console=False, dap_port=None, safe_mode=False)   # rm of a task
asyncio.run(main())
print("first loop done", flush=True)
asyncio.run(serve_again())
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Program:
    """``source`` run for real as ``otrace app.py PORT`` (``under_otrace``) or ``python app.py
    PORT``, once it answers HTTP on 127.0.0.1:PORT, with a language-server client (``command``)
    found through its discovery file. ``stop`` (or leaving its ``with`` block) interrupts it as
    Ctrl-C would; ``output`` is then its (stdout, stderr)."""

    def __init__(self, tmp_path: Path, source: str, under_otrace: bool = True) -> None:
        script = tmp_path / "app.py"
        script.write_text(source)
        self.script = str(script)
        self.port = free_port()
        command = ["-m", "otrace_server.cli", "--no-console"] if under_otrace else []
        env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path), PYTHONPATH=str(ROOT), CI="1")
        self.proc = subprocess.Popen([sys.executable, *command, self.script, str(self.port)], cwd=tmp_path,
                                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.client: Client | None = None
        self.output: tuple[str, str] | None = None
        try:
            wait_for(self._serves, timeout=30, what="the program to serve")
            info = json.loads((tmp_path / "otrace" / f"otrace-{self.proc.pid}.json").read_text())
            self.client = Client(info["lsp_port"])
            self.client.initialize(info["token"])
        except BaseException:
            self.stop()
            raise

    def _serves(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the program ended: {self.proc.communicate()}")
        try:
            return self.get("/", timeout=1) == "Hello, world"
        except (OSError, urllib.error.URLError):
            return False

    def get(self, path: str, timeout: float = 10) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as response:
            return response.read().decode()

    def get_in_background(self, path: str) -> dict:
        """GET ``path`` on a thread; the returned dict gets ``body`` (or ``error``) when it answers."""
        box: dict = {}

        def fetch() -> None:
            try:
                box["body"] = self.get(path, timeout=30)
            except Exception as exc:
                box["error"] = exc

        box["thread"] = threading.Thread(target=fetch, daemon=True)
        box["thread"].start()
        return box

    def command(self, line: str) -> str:
        result = self.client.request("otrace/command", {"line": line})
        assert not result["error"], result
        return result["output"]

    def tasks_until(self, *words: str) -> str:
        """``ls -l /osh/tasks`` once it shows every one of ``words``."""
        return wait_for(lambda: (lambda out: out if all(w in out for w in words) else None)(
            self.command("ls -l /osh/tasks") + "\n"), timeout=15, what=f"/osh/tasks to show {words}")

    def __enter__(self) -> "Program":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        """Interrupt the program (SIGINT) and wait for it (killed after 15 s). Idempotent."""
        if self.output is not None:
            return
        if self.client is not None:
            self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.output = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.output = self.proc.communicate()


def _a_held_request_is_a_task_of_the_listed_loop(program: Program, handler: str) -> None:
    """A slow request in flight: /osh/tasks lists the program's tasks with it, suspended in the
    program's own ``handler``; then released, it answers."""
    slow = program.get_in_background("/slow")
    listing = program.tasks_until(f" {handler}\n")
    assert any(" pending at " + program.script in line and line.endswith(f" {handler}")
               for line in listing.splitlines()), listing
    assert program.get("/release") in ("", "ok")
    slow["thread"].join(10)
    assert slow.get("body") == "released", slow


@pytest.mark.parametrize("source, handler", [(TORNADO_DOCS, "get"), (TORNADO_IOLOOP, "get"), (AIOHTTP_DOCS, "slow"),
                                             (UVICORN_DOCS, "slow")],
                         ids=["tornado-asyncio.run", "tornado-IOLoop.start", "aiohttp-run_app", "starlette-uvicorn.run"])
def test_an_app_run_as_its_framework_documents_it_under_otrace_lists_its_tasks(tmp_path, source, handler):
    """Tornado's documentation today (``asyncio.run(main())``) and before (``IOLoop.current().start()``),
    aiohttp's ``web.run_app``, ``uvicorn.run``: otrace starts before the program makes its loop."""
    with Program(tmp_path, source) as program:
        _a_held_request_is_a_task_of_the_listed_loop(program, handler)


def test_the_main_of_an_asyncio_run_program_is_listed_where_it_waits(tmp_path):
    with Program(tmp_path, TORNADO_DOCS) as program:
        listing = program.tasks_until("main pending")
        assert any(line.endswith(" main") and program.script in line for line in listing.splitlines()), listing


def test_start_before_asyncio_run_follows_the_loop_that_runs_and_then_the_next_one(tmp_path):
    """The program calls start() before any loop exists, then asyncio.run twice: /osh/tasks lists
    the first loop's main, then the second loop's, and ``rm`` of a task cancels it on the loop
    that runs (post_to_app_loop reaches the second loop)."""
    with Program(tmp_path, START_THEN_RUN_TWICE, under_otrace=False) as program:
        program.tasks_until("main pending")
        program.get("/done")
        listing = program.tasks_until("serve_again pending", "victim ")
        assert "main pending" not in listing
        assert program.command("rm /osh/tasks/victim") == "cancelling task victim"
        assert program.proc.stdout.readline() == "first loop done\n"
        assert program.proc.stdout.readline() == "cancelled victim\n"      # on the loop that runs


@pytest.mark.parametrize("source, task", [(TORNADO_DOCS, "main pending"), (AIOHTTP_DOCS, "_run_app pending"),
                                          (UVICORN_DOCS, "Server.serve pending")],
                         ids=["tornado-asyncio.run", "aiohttp-run_app", "starlette-uvicorn.run"])
def test_batch_runs_over_an_app_once_it_serves(tmp_path, source, task):
    """``otrace --batch`` sees the app serve whatever made its loop (uvicorn: a loop factory, no
    event loop policy), runs the batch over it (its tasks listed), then stops it as Ctrl-C would."""
    (tmp_path / "app.py").write_text(source)
    (tmp_path / "cmds.osh").write_text("ls -l /osh/tasks\n")
    proc = otrace("--batch", "cmds.osh", "app.py", str(free_port()), cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert task in proc.stdout
    assert "otrace: --batch cmds.osh done; stopping app.py as Ctrl-C would" in proc.stderr
