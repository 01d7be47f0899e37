"""Holds in a real Tornado server: one request pauses, the server keeps serving, resume completes it."""

from __future__ import annotations

import asyncio
import http.client
import logging
import re
import socket
import threading
import time

import pytest

from otrace_server.core.holds import Outcome
from otrace_server.core.request_summary import RequestSummary

from tests.support.waiting import wait_for
from tests.tornado_holds.demo_server import wait_holds

pytestmark = pytest.mark.timeout(60)

ANSWER_77 = "The reciprocal of 77.0 is 0.012987012987012988"


def test_hold_pauses_one_request_while_200_others_complete(server, otrace):
    held = server.get_in_thread("?number=77")
    (hold,) = wait_holds(otrace.engine, 1)
    assert hold.id.startswith("GetHandler.get:hd-hold_check:")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for i in range(100, 300):                       # (never 77: that one would hold too)
        conn.request("GET", f"/?number={i}")
        resp = conn.getresponse()
        body = resp.read().decode()
        assert resp.status == 200 and f"The reciprocal of {float(i)} is" in body
    conn.close()
    assert not held.done and otrace.engine.holds.get(hold.id) is hold
    otrace.engine.resume([hold.id])
    status, _, body = held.wait()
    assert status == 200 and ANSWER_77 in body


def test_shell_shows_the_seed_transcript_and_resume_completes_the_request(server, otrace):
    held = server.get_in_thread("?number=77")
    (hold,) = wait_holds(otrace.engine, 1)
    session = otrace.shell.session("test")
    result = session.execute("ls ~~")
    assert not result.error, result.output
    assert re.fullmatch(r"/osh/recent/holds/GetHandler\.get/hd-hold_check/\d\d-\d\d-\d\d(\.\d+)?", result.output.strip())
    assert not session.execute("cd ~~").error
    assert session.execute("ls").output.split() == ["__down", "__trc", "number", "self"]
    assert session.execute("number").output.strip() == "'77'"
    result = session.execute("resume")
    assert not result.error, result.output
    status, _, body = held.wait()
    assert status == 200 and ANSWER_77 in body
    assert hold.outcome.kind == "continue"


def test_resume_from_another_thread_with_a_value_is_what_await_returns(server, otrace):
    held = server.get_in_thread("?number=77")
    (hold,) = wait_holds(otrace.engine, 1)
    t = threading.Thread(target=otrace.engine.resume, args=([hold.id], Outcome("value", value=4)))
    t.start()
    t.join(5)
    status, _, body = held.wait()
    assert status == 200 and "The reciprocal of 4.0 is 0.25" in body


def test_resume_raising_an_exception_raises_it_in_the_held_handler(server, otrace):
    held = server.get_in_thread("?number=77")
    (hold,) = wait_holds(otrace.engine, 1)
    otrace.engine.resume([hold.id], Outcome("raise", exception=LookupError("stop here")))
    status, _, _ = held.wait()
    assert status == 500


def test_resume_with_a_status_answers_the_request_with_it(server, otrace):
    held = server.get_in_thread("?number=77")
    (hold,) = wait_holds(otrace.engine, 1)
    otrace.engine.resume([hold.id], Outcome("status", status=409, reason="Held by otrace"))
    status, reason, _ = held.wait()
    assert (status, reason) == (409, "Held by otrace")


def test_hold_timeout_resumes_by_itself_and_describe_shows_age_and_remaining(server, otrace):
    otrace.engine.settings.set("hold_timeout", 0.5)
    started = time.monotonic()
    held = server.get_in_thread("?number=77")
    (hold,) = wait_holds(otrace.engine, 1)
    assert re.fullmatch(re.escape(hold.id) + r"  held \d+\.\ds, resumes in 0\.\ds", hold.describe())
    status, _, body = held.wait()
    elapsed = held.finished_at - started
    assert status == 200 and ANSWER_77 in body
    assert hold.outcome.kind == "timeout"
    assert 0.45 < elapsed < 5


def test_stop_resumes_every_hold_so_no_request_hangs(server, otrace):
    pending = [server.get_in_thread("?number=77") for _ in range(3)]
    holds = wait_holds(otrace.engine, 3)
    otrace.stop()
    for p in pending:
        status, _, body = p.wait()
        assert status == 200 and ANSWER_77 in body
    assert [h.outcome.kind for h in holds] == ["shutdown"] * 3
    assert otrace.engine.holds.list() == []


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_disconnected_client_leaves_the_hold_listed_and_resuming_it_is_harmless(server, otrace):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(b"GET /?number=77 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    (hold,) = wait_holds(otrace.engine, 1)
    handler = hold.context.locals["self"]
    sock.close()
    wait_for(lambda: handler.request.connection.stream.closed(), 5, "server did not see the disconnect")
    assert otrace.engine.holds.get(hold.id) is hold            # still listed
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    try:
        otrace.engine.resume([hold.id])
        wait_for(lambda: handler._finished, 5, "the handler did not finish")
        time.sleep(0.1)                                       # a window in which no error may be logged
    finally:
        logging.getLogger().removeHandler(errors)
    assert errors.records == []
    assert server.get("?number=2")[0] == 200                  # the app still serves


def test_thousand_concurrent_holds_resumed_at_once(server, otrace):
    n = 1000
    results: list[bytes] = []
    done = threading.Event()
    client_loop = asyncio.new_event_loop()

    async def many():
        sem = asyncio.Semaphore(200)  # pace the connects; all stay open once sent

        async def paced():
            async with sem:
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(b"GET /?number=77 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                await writer.drain()
            data = await reader.read()
            writer.close()
            return data

        results.extend(await asyncio.gather(*(paced() for _ in range(n))))
        done.set()

    thread = threading.Thread(target=client_loop.run_until_complete, args=(many(),), daemon=True)
    thread.start()
    try:
        wait_holds(otrace.engine, n, timeout=30)
        started = time.monotonic()
        resumed = otrace.engine.resume()          # all
        assert done.wait(30)
        elapsed = time.monotonic() - started
    finally:
        thread.join(30)
        client_loop.close()
    assert len(resumed) == n and len(results) == n
    assert all(r.startswith(b"HTTP/1.1 200") and ANSWER_77.encode() in r for r in results)
    assert elapsed < 5, f"1,000 holds took {elapsed:.2f}s from resume to the last response"


def test_trace_with_hold_action_holds_an_async_method_before_its_body(server, otrace):
    demo = server.demo
    session = otrace.shell.session("test")
    result = session.execute("trace -a hold GetHandler.get")
    assert not result.error, result.output
    count = demo.Request_stats["count"]
    held = server.get_in_thread("?number=3")
    (hold,) = wait_holds(otrace.engine, 1)
    assert hold.context.funcname == "GetHandler.get" and hold.context.ctype == "holds"
    time.sleep(0.05)                                            # a window in which the body must not run
    assert demo.Request_stats["count"] == count                 # the body has not run
    otrace.engine.resume([hold.id])
    status, _, body = held.wait()
    assert status == 200 and "The reciprocal of 3.0 is 0.333" in body
    assert demo.Request_stats["count"] == count + 1


def test_exceptions_in_coroutine_handlers_are_traced_with_a_request_summary(server, otrace):
    session = otrace.shell.session("test")
    result = session.execute("trace GetHandler.get")
    assert not result.error, result.output
    status, _, _ = server.get("?number=0")
    assert status == 500
    ctx = wait_for(lambda: [c for c in otrace.engine.store.recent("exceptions") if c.funcname == "GetHandler.get"])[-1]
    assert ctx.id.startswith("GetHandler.get:ex-ZeroDivisionError:")
    assert ctx.extra["request"] == RequestSummary("GET", "/?number=0", "127.0.0.1", framework="tornado")
    assert str(ctx.extra["request"]) == "GET /?number=0 from 127.0.0.1"
    assert session.execute(f"cd /osh/{'/'.join(ctx.path)}").error is False
    assert session.execute("pr __trc['request']").output == "'GET /?number=0 from 127.0.0.1'"   # the shell shows its text
