"""web.socket under bad input: /osh/web's websocket against a raw client on a real Tornado app served on
127.0.0.1: malformed, oversized and unexpected messages never raise into Tornado (no traceback in
the app's log) and never break the socket; a browser that leaves fails its pending evaluations at
once; an evaluation nobody answers times out with a clear error; a request held meanwhile stays
held and resumes."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time
import urllib.request

import pytest
import tornado.web

from otrace_server import traceassert
from otrace_server.web import MAX_WEB_MESSAGE, WebRegistry, handlers

from tests.support.waiting import wait_for
from tests.web import servers
from tests.web.servers import on_loop, served

pytestmark = pytest.mark.timeout(60)

REGISTRY = WebRegistry(identity=lambda handler: handler.get_cookie("who"))


class HoldHandler(tornado.web.RequestHandler):
    async def get(self):
        value = await traceassert(False, label="qa_web_hold", action="hold")
        self.write(f"resumed {value}")


@pytest.fixture(scope="module")
def app():
    make_app = lambda: tornado.web.Application([("/hold", HoldHandler)] + handlers("/otrace", REGISTRY))  # noqa: E731
    with served(REGISTRY, make_app) as (server, runtime, shell):
        shell.engine.settings.set("safe_mode", False)
        yield server, shell.engine
        shell.engine.settings.set("safe_mode", True)


def connect(server, user: str):
    ws = servers.connect(server, {"Cookie": f"who={user}"}, max_message_size=4 * MAX_WEB_MESSAGE)
    name = wait_for(lambda: REGISTRY.names_for(user)[0] if REGISTRY.names_for(user) else None,
                    what=f"{user}'s socket to register")
    return ws, name


def answer_one(server, ws, value: str) -> None:
    """Act as the browser: read one eval message and answer it with ``value``."""
    message = json.loads(on_loop(server, ws.read_message))
    on_loop(server, lambda: ws.write_message(json.dumps({"otrace": "result", "id": message["id"], "value": value})))


def tracebacks(records) -> list[str]:
    return [r.getMessage() for r in records if r.exc_info or r.levelno >= logging.ERROR]


def test_malformed_messages_never_break_the_socket_nor_a_held_request(app, caplog):
    server, engine = app
    engine.settings.set("trace_active", True)
    pool = concurrent.futures.ThreadPoolExecutor(1)
    held = pool.submit(lambda: urllib.request.urlopen(f"{server.url}/hold", timeout=30).read())
    hold = wait_for(lambda: next((h for h in engine.holds.list() if h.context.label == "qa_web_hold"), None),
                    what="the hold")
    ws, name = connect(server, "mallory")
    garbage = [b"[" * 100_000 + b"]" * 100_000, "[" * 100_000, b"\xff\xfe\x00binary", "[1, 2]", "null",
               json.dumps({"otrace": ["hello"]}), json.dumps({"otrace": None}), json.dumps({"otrace": "eval", "id": 1}),
               json.dumps({"otrace": "hello", "url": {"a": 1}}), json.dumps({"otrace": "result", "id": [1], "value": 1}),
               json.dumps({"otrace": "result", "id": "1", "error": {"x": 1}}),
               json.dumps({"otrace": "result", "id": 10**30}), json.dumps({"otrace": "result", "value": "x" * MAX_WEB_MESSAGE})]
    with caplog.at_level(logging.INFO):
        for message in garbage:
            on_loop(server, lambda: ws.write_message(message, binary=isinstance(message, bytes)))
        # still registered and evaluating
        future = REGISTRY.submit(name, "1+1", who="qa")
        answer_one(server, ws, "2")
        assert future.result(5) == ("2", None)
    assert tracebacks(caplog.records) == []
    assert name in {c.name for c in REGISTRY.clients()}
    assert not held.done() and hold in engine.holds.list()
    engine.resume([hold.id], None)
    assert held.result(10) == b"resumed None"
    engine.settings.set("trace_active", False)
    pool.shutdown()
    on_loop(server, ws.close)


def test_a_message_over_tornados_limit_closes_only_that_socket(app, caplog):
    server, _ = app
    big, big_name = connect(server, "huge")
    ok, ok_name = connect(server, "fine")
    with caplog.at_level(logging.INFO):
        pending = REGISTRY.submit(big_name, "document.title", who="qa")
        json.loads(on_loop(server, big.read_message))      # the eval reached the "browser"
        on_loop(server, lambda: big.write_message("x" * (2 * MAX_WEB_MESSAGE + 1)))
        assert on_loop(server, big.read_message) is None    # Tornado closed it
        assert pending.result(5) == (None, f"browser {big_name} disconnected")
        wait_for(lambda: big_name not in {c.name for c in REGISTRY.clients()}, what="the big socket to go")
        future = REGISTRY.submit(ok_name, "3", who="qa")
        answer_one(server, ok, "3")
        assert future.result(5) == ("3", None)
    assert tracebacks(caplog.records) == []
    on_loop(server, ok.close)


def test_a_browser_leaving_fails_its_pending_evaluation_at_once(app):
    server, _ = app
    ws, name = connect(server, "leaver")
    pool = concurrent.futures.ThreadPoolExecutor(1)
    started = time.monotonic()
    result = pool.submit(REGISTRY.evaluate, name, "new Promise(() => {})", 30, "qa")
    json.loads(on_loop(server, ws.read_message))   # it was sent; the browser leaves without answering
    on_loop(server, ws.close)
    assert result.result(10) == (None, f"browser {name} disconnected")
    assert time.monotonic() - started < 5           # not the 30 s timeout
    pool.shutdown()


def test_an_evaluation_nobody_answers_times_out_and_a_late_answer_is_dropped(app, caplog):
    server, _ = app
    ws, name = connect(server, "sleepy")
    started = time.monotonic()
    assert REGISTRY.evaluate(name, "1", 0.5, "qa") == (None, f"browser {name} did not answer within 0.5 s")
    assert time.monotonic() - started < 3
    message = json.loads(on_loop(server, ws.read_message))
    with caplog.at_level(logging.INFO, logger="otrace.web"):
        on_loop(server, lambda: ws.write_message(json.dumps({"otrace": "result", "id": message["id"], "value": "1"})))
        wait_for(lambda: any(f"unknown evaluation {message['id']}" in r.getMessage() for r in caplog.records),
                 what="the late answer's log line")
    assert tracebacks(caplog.records) == []
    future = REGISTRY.submit(name, "2", who="qa")     # the socket still works
    answer_one(server, ws, "2")
    assert future.result(5) == ("2", None)
    on_loop(server, ws.close)
