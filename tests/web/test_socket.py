"""otrace's own websocket (``handlers()``) on a small test app: the script is served, bad messages
are dropped with a log line and never break the socket, cross-origin sockets are refused, and a held
request names the browser of the same user (``ctx.extra["web_client"]``), in real Chromium."""

from __future__ import annotations

import json
import logging

import pytest
import tornado.httpclient
import tornado.web

from otrace_server import traceassert
from otrace_server.web import MAX_WEB_MESSAGE, WebRegistry, handlers

from tests.support.waiting import wait_for
from tests.web import servers
from tests.web.servers import on_loop, served

pytestmark = pytest.mark.timeout(60)

PAGE = """<!DOCTYPE html><html><head><title>t</title></head><body>
<input id="message"><script src="/otrace/otrace-web.js"></script></body></html>"""

REGISTRY = WebRegistry(identity=lambda handler: handler.get_cookie("who"))


class PageHandler(tornado.web.RequestHandler):
    def get(self):
        self.write(PAGE)


class HoldHandler(tornado.web.RequestHandler):
    async def get(self):
        await traceassert(False, label="web_hold", action="hold")
        self.write("resumed")


def make_app():
    return tornado.web.Application([("/", PageHandler), ("/hold", HoldHandler)] + handlers("/otrace", REGISTRY))


@pytest.fixture(scope="module")
def app():
    """The test app with the registry attached to a real Shell + Runtime on the process engine."""
    with served(REGISTRY, make_app) as running:
        yield running


def connect(server, *, user="sock", origin=None):
    """A raw websocket client (run on the app loop) to /otrace/ws; returns the connection."""
    headers = {"Cookie": f"who={user}"} if user else {}
    if origin:
        headers["Origin"] = origin
    return servers.connect(server, headers)


def test_the_script_is_served(app):
    server = app[0]
    response = on_loop(server, lambda: tornado.httpclient.AsyncHTTPClient().fetch(server.url + "/otrace/otrace-web.js"))
    assert response.code == 200
    assert "javascript" in response.headers["Content-Type"]
    assert b"OTraceWeb" in response.body


def test_cross_origin_sockets_are_refused(app):
    with pytest.raises(tornado.httpclient.HTTPClientError, match="403"):
        connect(app[0], origin="http://evil.example")


def test_bad_messages_are_dropped_with_a_log_line_and_the_socket_keeps_working(app, caplog):
    server, runtime, shell = app
    ws = connect(server, user="raw")
    name = wait_for(lambda: next((c.name for c in REGISTRY.clients() if c.name.startswith("raw")), None))
    with caplog.at_level(logging.INFO, logger="otrace.web"):
        on_loop(server, lambda: ws.write_message("not json {"))
        on_loop(server, lambda: ws.write_message(json.dumps({"otrace": "result", "id": 1, "value": "x" * MAX_WEB_MESSAGE})))
        on_loop(server, lambda: ws.write_message(json.dumps({"otrace": "result", "id": 999999, "value": "late"})))
        wait_for(lambda: any("unknown evaluation" in r.getMessage() for r in caplog.records
                             if r.name == "otrace.web"), what="the log line of the late reply")
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "otrace.web")
    assert "dropped a non-otrace message" in text
    assert f"dropped a {len(json.dumps({'otrace': 'result', 'id': 1, 'value': 'x' * MAX_WEB_MESSAGE}))}-byte" in text
    assert "unknown evaluation 999999" in text
    # still registered and answering: act as the browser for one evaluation
    shell.engine.settings.set("safe_mode", False)
    try:
        future = REGISTRY.submit(name, "6*7", who="test")
        message = json.loads(on_loop(server, lambda: ws.read_message()))
        assert message == {"otrace": "eval", "id": future.otrace_id, "expr": "6*7"}
        on_loop(server, lambda: ws.write_message(json.dumps({"otrace": "result", "id": message["id"], "value": "42"})))
        assert future.result(5) == ("42", None)
    finally:
        shell.engine.settings.set("safe_mode", True)
        on_loop(app[0], ws.close)
    wait_for(lambda: name not in {c.name for c in REGISTRY.clients()}, what="socket to unregister")


def test_a_browser_cannot_answer_another_browsers_evaluation(app, caplog):
    server, runtime, shell = app
    a = connect(server, user="one")
    b = connect(server, user="two")
    wait_for(lambda: {"one", "two"} <= {c.name for c in REGISTRY.clients()})
    shell.engine.settings.set("safe_mode", False)
    try:
        future = REGISTRY.submit("one", "1", who="test")
        msg_id = json.loads(on_loop(server, lambda: a.read_message()))["id"]
        with caplog.at_level(logging.INFO, logger="otrace.web"):
            on_loop(server, lambda: b.write_message(json.dumps({"otrace": "result", "id": msg_id, "value": "forged"})))
            wait_for(lambda: any("unknown evaluation" in r.getMessage() for r in caplog.records))
        assert not future.done()
        on_loop(server, lambda: a.write_message(json.dumps({"otrace": "result", "id": msg_id, "value": "1"})))
        assert future.result(5) == ("1", None)
    finally:
        shell.engine.settings.set("safe_mode", True)
        on_loop(app[0], a.close)
        on_loop(app[0], b.close)


def test_an_unidentified_socket_is_not_registered_and_its_messages_are_dropped(app, caplog):
    server = app[0]
    ws = connect(server, user=None)
    with caplog.at_level(logging.INFO, logger="otrace.web"):
        on_loop(server, lambda: ws.write_message(json.dumps({"otrace": "hello", "url": "x"})))
        wait_for(lambda: any("unregistered websocket" in r.getMessage() for r in caplog.records))
    assert REGISTRY.clients() == [] or all(c.url != "x" for c in REGISTRY.clients())
    on_loop(app[0], ws.close)


def test_a_held_request_names_the_same_users_browser(app, browser):
    server, runtime, shell = app
    engine = shell.engine
    context = browser.new_context()
    context.add_cookies([{"name": "who", "value": "dora", "url": server.url}])
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        wait_for(lambda: "dora" in {c.name for c in REGISTRY.clients()}, what="dora's browser")
        engine.settings.set("trace_active", True)
        held = page.evaluate("() => { window.__r = fetch('/hold').then(r => r.text()); return 1; }")
        assert held == 1
        hold = wait_for(lambda: next((h for h in engine.holds.list() if h.context.label == "web_hold"), None),
                        what="the hold")
        assert hold.context.extra["web_client"] == "dora"
        session = shell.session(name="test")
        assert not session.execute("cd ~~").error
        assert "dora" in session.execute("__trc").output
        engine.resume([hold.id])
        assert page.evaluate("() => window.__r") == "resumed"
    finally:
        engine.settings.set("trace_active", False)
        context.close()
