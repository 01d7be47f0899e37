"""A thread break in a threaded ``http.server`` (no framework otrace knows: the plain adapter):
``resume --status`` is refused with one line, by the shell and by the language server, before
anything is resumed, and the break keeps waiting; ``--value`` and ``--raise`` work."""

from __future__ import annotations

import http.client
import http.server
import threading

import pytest

import otrace_server
from otrace_server import traceassert
from tests.lsp.rpc import Client, RpcError
from tests.support.loops import LoopThread
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

REFUSAL = ("resume --status: {id} is not an HTTP request handled by a known framework (a thread break); "
           "use continue, --value or --raise")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            got = traceassert("77" not in self.path, label="thread_break", action="break")
        except ValueError as exc:
            got = f"raised {exc}"
        body = f"done {got}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def threaded():
    """A ThreadingHTTPServer on 127.0.0.1, otrace started beside it (its loop: a LoopThread)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with LoopThread("plain-app") as loop_thread:
        app = otrace_server.start(globals(), app_loop=loop_thread.loop, console=False, trace_active=True,
                                  safe_mode=False)
        try:
            yield server.server_address[1], app
        finally:
            app.stop()
            app.engine.settings.set("trace_active", False)
            app.engine.settings.set("safe_mode", True)
            server.shutdown()
            server.server_close()


def get_later(port: int) -> dict:
    box: dict = {}

    def run():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/?n=77")
        response = conn.getresponse()
        box["answer"] = (response.status, response.read().decode())
        conn.close()

    box["thread"] = threading.Thread(target=run, daemon=True)
    box["thread"].start()
    return box


def the_break(app):
    wait_for(lambda: app.engine.holds.list(), 10, what="the break")
    (hold,) = app.engine.holds.list()
    assert hold.context.ctype == "breaks" and "request" not in hold.context.extra
    return hold


def test_status_is_refused_by_shell_and_language_server_and_the_break_waits(threaded):
    port, app = threaded
    box = get_later(port)
    hold = the_break(app)
    session = app.shell.session("test")
    for line in (f"resume {hold.id} --status 503 try later", "resume all --status 503"):
        result = session.execute(line)
        assert result.error and result.output == REFUSAL.format(id=hold.id)
    client = Client(app.lsp_port)
    try:
        client.initialize(app.token)
        with pytest.raises(RpcError) as refused:
            client.request("otrace/resume", {"ids": [hold.id], "status": 503})
        assert refused.value.message == REFUSAL.format(id=hold.id)
        assert [h["id"] for h in client.request("otrace/holds", {})["holds"]] == [hold.id]
    finally:
        client.close()
    assert app.engine.holds.list() == [hold] and box["thread"].is_alive()
    assert session.execute(f"resume {hold.id} --value 'go'").output == f"Resuming {hold.id}"
    box["thread"].join(10)
    assert box["answer"] == (200, "done go")


def test_raise_reaches_the_thread(threaded):
    port, app = threaded
    box = get_later(port)
    hold = the_break(app)
    assert not app.shell.session("test").execute(f"resume {hold.id} --raise ValueError('no')").error
    box["thread"].join(10)
    assert box["answer"] == (200, "done raised no")


def test_status_is_refused_for_an_asyncio_hold_outside_any_request(threaded):
    """Bare asyncio (no framework request on its stack): the same refusal, naming why."""
    import asyncio

    port, app = threaded

    async def job():
        return await traceassert(False, label="job_hold", action="hold")

    future = asyncio.run_coroutine_threadsafe(job(), app.runtime.app_loop)
    wait_for(lambda: app.engine.holds.list(), 10, what="the hold")
    (hold,) = app.engine.holds.list()
    result = app.shell.session("test").execute(f"resume {hold.id} --status 500")
    assert result.error and result.output == (
        f"resume --status: {hold.id} is not an HTTP request handled by a known framework (no request found); "
        "use continue, --value or --raise")
    app.engine.resume([hold.id])
    assert future.result(10) is None
