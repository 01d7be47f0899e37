"""A handler method behind a pass-through decorator, as Tornado's guide writes authenticated
handlers (``@tornado.web.authenticated`` over ``async def get``: the decorator's wrapper is a plain
function returning the coroutine): ``trace -a hold Handler.get`` holds in the ``async def`` the
decorator wraps, after the decorator's own check (a request it redirects is not held), served
for real; ``untrace`` puts the very same code back."""

from __future__ import annotations

import http.client

import pytest
import tornado.web

import otrace_server
from tests.frameworks.apps import Served, start_tornado
from tests.support.loops import LoopThread
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)


class Secret(tornado.web.RequestHandler):
    def get_current_user(self):
        return self.get_argument("user", None)

    @tornado.web.authenticated
    async def get(self):
        self.write(f"secret of {self.current_user}")


@pytest.fixture
def served():
    with LoopThread("tornado-app", timeout=10) as loop_thread:
        port, stop = loop_thread.run(start_tornado(tornado.web.Application([(r"/secret", Secret)],
                                                                           login_url="/login")))
        app = otrace_server.start(globals(), app_loop=loop_thread.loop, console=False, lsp=False)
        try:
            yield Served("tornado", loop_thread, port), app
        finally:
            app.stop()
            app.engine.tracer.untrace_all()
            app.engine.settings.set("trace_active", False)
            loop_thread.run(stop(), timeout=10)


def status_of(served: Served, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_trace_hold_of_an_authenticated_async_handler_holds_after_the_login_check(served):
    served, app = served
    session = app.shell.session("test")
    wrapped_code = Secret.get.__wrapped__.__code__
    assert session.execute("trace -a hold Secret.get").output == "Tracing -a hold Secret.get"
    box = served.get_later("/secret?user=bob")
    wait_for(lambda: app.engine.holds.list(), 10, what="the hold")
    assert status_of(served, "/secret") == 302               # the decorator redirects it: not held
    (hold,) = app.engine.holds.list()
    assert str(hold.context.extra["request"]) == "GET /secret?user=bob from 127.0.0.1 as bob"
    assert session.execute(f"resume {hold.id}").output == f"Resuming {hold.id}"
    box["thread"].join(10)
    assert (box["status"], box["body"]) == (200, "secret of bob")
    assert session.execute("untrace Secret.get").output == "untraced Secret.get"
    assert Secret.get.__wrapped__.__code__ is wrapped_code
    assert served.get("/secret?user=ann") == (200, "secret of ann") and not app.engine.holds.list()
