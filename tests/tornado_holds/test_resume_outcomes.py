"""Resume outcomes of Tornado holds (core.outcomes, the Tornado glue) as a user drives them from the shell against a real Tornado server: resume outcomes that
would harm the server are refused, odd statuses and places (after a flush, in ``prepare``, inside
``asyncio.wait_for``), two front ends resuming at once, and ``hold_timeout`` changed while a
request is held."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import tornado.web

from otrace_server import start, traceassert

from tests.tornado_holds.demo_server import DemoServer, wait_holds

pytestmark = pytest.mark.timeout(60)


class Held(tornado.web.RequestHandler):
    async def get(self):
        value = await traceassert(False, label="qa", action="hold")
        self.write(f"value={value!r}")


class Flushed(tornado.web.RequestHandler):
    async def get(self):
        self.write("part1 ")
        await self.flush()
        value = await traceassert(False, label="flushed", action="hold")
        self.write(f"value={value!r}")


class Prepared(tornado.web.RequestHandler):
    async def prepare(self):
        await traceassert(False, label="prep", action="hold")

    def get(self):
        self.write("got")


class WaitFor(tornado.web.RequestHandler):
    async def get(self):
        try:
            await asyncio.wait_for(traceassert(False, label="wf", action="hold"), 0.2)
            self.write("resumed")
        except asyncio.TimeoutError:
            self.write("timed out")


def make_app():
    return tornado.web.Application([("/", Held), ("/flushed", Flushed), ("/prepared", Prepared), ("/wf", WaitFor)])


@pytest.fixture
def qa():
    server = DemoServer(make_app)
    app = start({"Held": Held}, app_loop=server.loop, console=False, lsp=False, trace_active=True)
    yield server, app, app.shell.session("qa")
    app.stop()
    server.stop()
    app.engine.settings.set("hold_timeout", 0.0)
    app.engine.settings.set("trace_active", False)


@pytest.mark.parametrize("exc", ["SystemExit", "KeyboardInterrupt", "GeneratorExit"])
def test_resume_raise_of_a_non_exception_is_refused_and_the_server_keeps_serving(qa, exc):
    server, app, session = qa
    held = server.get_in_thread("")
    (hold,) = wait_holds(app.engine, 1)
    result = session.execute(f"resume {hold.id} --raise {exc}")
    assert result.error and f"cannot raise {exc} in held code" in result.output
    assert app.engine.holds.get(hold.id) is hold and not held.done
    second = server.get_in_thread("")                  # the loop still runs: a new request is held
    wait_holds(app.engine, 2)
    assert session.execute("resume all --value 5").output.count("Resuming") == 2
    assert held.wait() == second.wait() == (200, "OK", "value=5")


def test_resume_status_1xx_is_refused_and_204_answers_with_no_body(qa):
    server, app, session = qa
    held = server.get_in_thread("")
    (hold,) = wait_holds(app.engine, 1)
    result = session.execute(f"resume {hold.id} --status 103")
    assert result.error and "200-599" in result.output and not held.done   # the shell says it first
    assert not session.execute(f"resume {hold.id} --status 204").error
    status, _, body = held.wait()
    assert (status, body) == (204, "")


def test_status_after_the_response_was_flushed_finishes_what_was_sent(qa):
    server, app, session = qa
    held = server.get_in_thread("flushed")
    (hold,) = wait_holds(app.engine, 1)
    assert not session.execute(f"resume {hold.id} --status 409 'too late'").error
    assert held.wait() == (200, "OK", "part1 ")        # headers were sent: the answer is just ended


def test_hold_in_prepare_answered_with_a_status_skips_the_handler(qa):
    server, app, session = qa
    held = server.get_in_thread("prepared")
    (hold,) = wait_holds(app.engine, 1)
    assert hold.id.startswith("Prepared.prepare:hd-prep:")
    assert not session.execute(f"resume {hold.id} --status 403 'not now'").error
    status, reason, body = held.wait()
    assert (status, reason) == (403, "not now") and "got" not in body


def test_wait_for_around_a_hold_ends_it_cancelled_and_unlisted(qa):
    server, app, session = qa
    held = server.get_in_thread("wf")
    (hold,) = wait_holds(app.engine, 1)
    assert held.wait() == (200, "OK", "timed out")
    assert hold.outcome.kind == "cancelled" and len(app.engine.holds) == 0
    assert "nothing is held" in session.execute("resume").output


def test_two_front_ends_resuming_the_same_hold_at_once_resume_it_once(qa):
    server, app, session = qa
    other = app.shell.session("qa2")
    held = server.get_in_thread("")
    (hold,) = wait_holds(app.engine, 1)
    results = []
    barrier = threading.Barrier(2)

    def resume(s, value):
        barrier.wait(5)
        results.append(s.execute(f"resume {hold.id} --value {value}"))

    threads = [threading.Thread(target=resume, args=(s, v)) for s, v in ((session, 1), (other, 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(r.error for r in results) == [False, True]
    winner = next(r for r in results if not r.error)
    status, _, body = held.wait()
    assert status == 200 and body == f"value={hold.outcome.value!r}" and winner.output == f"Resuming {hold.id}"


def test_hold_timeout_set_while_a_request_is_held_answers_it(qa):
    server, app, session = qa
    held = server.get_in_thread("")
    (hold,) = wait_holds(app.engine, 1)
    assert hold.remaining is None
    assert not session.execute("set hold_timeout 0.3").error
    started = time.monotonic()
    assert held.wait() == (200, "OK", "value=None")
    assert time.monotonic() - started < 3 and hold.outcome.kind == "timeout"
