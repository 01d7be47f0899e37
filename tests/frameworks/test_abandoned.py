"""Abandoned holds (issue 16 point 6): the client of a held request disconnects. The hold is
marked ``client gone`` (shell listing and ``__trc``, ``otrace/holds`` and the
``otrace/holdClientGone`` notification through a real language-server connection); resuming it
raises nothing inside the application, and the application's own disconnect callback runs as it
would without otrace."""

from __future__ import annotations

import logging
import time

import pytest

import otrace_server
from tests.frameworks import apps
from tests.lsp.rpc import Client
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def otrace(served):
    """otrace started on the served app's loop, with its language server; the loop's exception
    handler collects what would be logged as an error of the application."""
    errors: list = []
    served.loop.call_soon_threadsafe(served.loop.set_exception_handler, lambda loop, context: errors.append(context))
    app = otrace_server.start(vars(apps), app_loop=served.loop, console=False, trace_active=True)
    app.loop_errors = errors
    yield app
    app.stop()
    app.engine.settings.set("trace_active", False)


@pytest.fixture
def editor(otrace):
    client = Client(otrace.lsp_port)
    client.initialize(otrace.token)
    yield client
    client.close()


def abandoned(otrace, served, path="/hold?n=77"):
    """A hold whose client sent ``path`` and then disconnected, once otrace saw it gone."""
    client = served.send(path)
    wait_for(lambda: otrace.engine.holds.list(), 10, what="the hold")
    (hold,) = otrace.engine.holds.list()
    assert not hold.client_gone
    client.close()
    wait_for(lambda: hold.client_gone, 5, what="the client gone")
    return hold


def app_errors(otrace, caplog) -> list:
    """Errors logged with an exception, or given to the loop's exception handler."""
    return otrace.loop_errors + [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("outcome", ["", "--status 503 gone", "--value 5"])
def test_a_hold_whose_client_left_is_marked_and_resumes_quietly(otrace, served, editor, caplog, outcome):
    caplog.set_level(logging.WARNING)
    otrace.engine.settings.set("safe_mode", False)
    hold = abandoned(otrace, served)
    assert editor.wait_notification("otrace/holdClientGone") == {"id": hold.id}
    [listed] = editor.request("otrace/holds", {})["holds"]
    assert listed["id"] == hold.id and listed["clientGone"] is True
    session = otrace.shell.session("test")
    func, label = hold.context.path[-3:-1]
    assert f"{hold.id}  (client gone)" in session.execute(f"ls -l /osh/recent/holds/{func}/{label}").output
    assert "client gone" in hold.describe()
    assert session.execute(f"resume {hold.id} {outcome}").output == f"Resuming {hold.id}"
    time.sleep(0.5)                               # what the application does after the resume
    assert app_errors(otrace, caplog) == []
    otrace.engine.settings.set("safe_mode", True)


@pytest.mark.parametrize("served", ["tornado"], indirect=True)
def test_tornado_on_connection_close_waits_for_the_resumed_handler(otrace, served, caplog):
    """Tornado calls ``on_connection_close`` as soon as it sees the client leave: while the handler
    is held, before it set what that callback uses (AttributeError in the application). It is held
    back: a handler that finishes right after the resume is not told (without otrace it answered
    before the client left); one still running after the resume is told then."""
    caplog.set_level(logging.WARNING)
    apps.closed_log.clear()
    hold = abandoned(otrace, served, "/closing?n=77")
    time.sleep(0.1)
    assert apps.closed_log == []
    otrace.engine.resume([hold.id])
    time.sleep(0.3)
    assert apps.closed_log == [] and app_errors(otrace, caplog) == []

    hold = abandoned(otrace, served, "/closing?n=77&later=1")
    otrace.engine.resume([hold.id])
    wait_for(lambda: apps.closed_log, 5, what="on_connection_close")
    assert apps.closed_log == ["open"] and app_errors(otrace, caplog) == []


@pytest.mark.parametrize("served", ["tornado"], indirect=True)
def test_tornado_close_callback_is_the_handlers_again_when_the_client_stays(otrace, served):
    apps.closed_log.clear()
    client = served.send("/closing?n=77&later=1")
    wait_for(lambda: otrace.engine.holds.list(), 10, what="the hold")
    otrace.engine.resume(None)
    time.sleep(0.1)                               # resumed, now in its sleep: the client leaves
    client.close()
    wait_for(lambda: apps.closed_log, 5, what="on_connection_close")
    assert apps.closed_log == ["open"]


@pytest.mark.parametrize("served", ["tornado"], indirect=True)
def test_tornado_holds_of_one_handler_at_once_all_see_the_client_leave_and_tell_the_handler_once(otrace, served,
                                                                                                 caplog):
    """Two held steps of one handler (``asyncio.gather``) share the connection's one close callback:
    both are marked gone, and ``on_connection_close`` runs once, after the last resume."""
    caplog.set_level(logging.WARNING)
    apps.closed_log.clear()
    client = served.send("/gather")
    wait_for(lambda: len(otrace.engine.holds.list()) == 2, 10, what="both holds")
    holds = otrace.engine.holds.list()
    client.close()
    wait_for(lambda: all(hold.client_gone for hold in holds), 5, what="both clients gone")
    otrace.engine.resume([holds[0].id])
    otrace.engine.resume([holds[1].id])
    wait_for(lambda: "finished" in apps.closed_log, 5, what="the handler's end")
    assert apps.closed_log.count("gather") == 1 and app_errors(otrace, caplog) == []


def test_aiohttp_handler_cancellation_ends_the_hold_as_cancelled(caplog):
    """An aiohttp app run with ``handler_cancellation=True`` has its handler cancelled when the
    client leaves: the hold ends (outcome ``cancelled``), as any await of that handler would."""
    from aiohttp import web

    from tests.frameworks.apps import Served, aiohttp_app
    from tests.support.loops import LoopThread

    async def start():
        runner = web.AppRunner(aiohttp_app(), handler_cancellation=True)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    caplog.set_level(logging.WARNING)
    with LoopThread("aiohttp-app", timeout=10) as loop_thread:
        runner = loop_thread.run(start())
        app = otrace_server.start(vars(apps), app_loop=loop_thread.loop, console=False, lsp=False, trace_active=True)
        try:
            client = Served("aiohttp", loop_thread, runner.addresses[0][1]).send("/hold?n=77")
            wait_for(lambda: app.engine.holds.list(), 10, what="the hold")
            (hold,) = app.engine.holds.list()
            client.close()
            wait_for(lambda: hold.done, 5, what="the hold to end")
            assert hold.outcome.kind == "cancelled" and not app.engine.holds.list()
            assert [r for r in caplog.records if r.exc_info] == []
        finally:
            app.stop()
            app.engine.settings.set("trace_active", False)
            loop_thread.run(runner.cleanup(), timeout=10)
