"""/osh/web served by aiohttp and by Starlette/FastAPI under uvicorn (apps in tests/web/apps, written as
each framework's documentation writes them), with real headless Chromium: the script is served, a
page appears under /osh/web/<user> and evaluates JavaScript typed in the shell, a held request of the
same user names that browser (``web_client``), and bad messages (invalid JSON, too large,
cross-origin) are dropped with a clear log line while the app keeps serving."""

from __future__ import annotations

import json
import logging
import urllib.request
from types import SimpleNamespace

import pytest
import tornado.httpclient

from otrace_server.web import MAX_WEB_MESSAGE, get_registry
from otrace_server.web.protocol import SOCKET_LIMIT

from tests.support.waiting import wait_for
from tests.web import servers
from tests.web.frameworks import AiohttpServer, UvicornServer, uvicorn_serves_websockets
from tests.web.servers import on_loop, served

pytestmark = pytest.mark.timeout(60)


def aiohttp_site():
    from tests.web.apps import aiohttp_app
    return aiohttp_app, aiohttp_app.make_app, lambda make_app: AiohttpServer(make_app()), SOCKET_LIMIT


def uvicorn_site(module_name: str):
    if not uvicorn_serves_websockets():
        pytest.skip("uvicorn has no websocket implementation here (pip install otrace-server[starlette])")
    module = pytest.importorskip(f"tests.web.apps.{module_name}")
    return module, lambda: module.app, lambda make_app: UvicornServer(make_app()), UvicornServer.MAX_MESSAGE


SITES = {"aiohttp": aiohttp_site, "starlette": lambda: uvicorn_site("starlette_app"),
         "fastapi": lambda: uvicorn_site("fastapi_app")}


@pytest.fixture(scope="module", params=sorted(SITES))
def site(request):
    """One framework's app served for real, its registry attached to a real Shell + Runtime:
    a namespace of server, runtime, shell, registry, engine, limit (the largest message the
    server takes on a socket)."""
    module, make_app, serve, limit = SITES[request.param]()
    registry = get_registry()
    registry.identity = module.identity     # the app's, whichever app of this process set it last
    with served(registry, make_app, serve) as (server, runtime, shell):
        yield SimpleNamespace(server=server, runtime=runtime, shell=shell, registry=registry, engine=shell.engine,
                              limit=limit)


@pytest.fixture(autouse=True)
def fresh_log_window(site):
    """Each test starts a new window of the registry's log limiter (the process-wide default
    registry counts every test's log lines otherwise)."""
    site.registry.warnings.flush()


@pytest.fixture
def user_page(site, browser):
    """``open(user)``: a fresh Chromium context with cookie who=<user> showing ``/``; returns (page,
    its /osh/web name) once registered. Closed after the test, safe_mode restored."""
    contexts = []

    def open_as(user: str):
        context = browser.new_context()
        contexts.append(context)
        context.add_cookies([{"name": "who", "value": user, "url": site.server.url}])
        page = context.new_page()
        page.goto(site.server.url + "/")
        name = wait_for(lambda: next(iter(site.registry.names_for(user)), None), what=f"{user}'s browser")
        return page, name

    yield open_as
    for context in contexts:
        context.close()
    site.engine.settings.set("safe_mode", True)
    wait_for(lambda: not site.registry.clients(), what="the browsers to disconnect")


def get(site, path: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(site.server.url + path, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_the_script_is_served(site):
    status, content_type, body = get(site, "/otrace/otrace-web.js")
    assert status == 200 and "javascript" in content_type
    assert b"OTraceWeb" in body


def test_a_page_appears_under_osh_web_and_evaluates_javascript_typed_in_the_shell(site, user_page):
    page, name = user_page("ann")
    assert name == "ann"
    session = site.shell.session(name="test")
    assert session.execute("ls /osh/web").output.split() == ["ann"]
    wait_for(lambda: site.registry.clients()[0].url == site.server.url + "/", what="the page's hello")
    assert not session.execute("set safe_mode False").error
    assert not session.execute("cd /osh/web/ann").error
    result = session.execute('document.body.style.background = "red"')
    assert (result.error, result.output) == (False, '"red"')
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 0, 0)"
    page.fill("#message", "typing")
    assert session.execute('document.querySelector("#message").value').output == '"typing"'


def test_a_held_request_names_the_same_users_browser(site, user_page):
    page, name = user_page("dora")
    engine = site.engine
    engine.settings.set("trace_active", True)
    try:
        page.evaluate("() => { window.__r = fetch('/hold').then(r => r.text()); }")
        hold = wait_for(lambda: next((h for h in engine.holds.list() if h.context.label == "web_hold"), None),
                        what="the hold")
        assert hold.context.extra.get("web_client") == name
        session = site.shell.session(name="test")
        assert not session.execute("cd ~~").error
        assert f"'web_client': '{name}'" in session.execute("__trc").output
        engine.resume([hold.id])
        assert page.evaluate("() => window.__r") == "resumed"
    finally:
        engine.settings.set("trace_active", False)


def connect(site, user: str | None = "raw", origin: str | None = None):
    headers = {"Cookie": f"who={user}"} if user else {}
    if origin:
        headers["Origin"] = origin
    return servers.connect(site.server, headers)


def registered(site, user: str):
    """A raw socket of ``user`` and its /osh/web name, once registered."""
    ws = connect(site, user=user)
    return ws, wait_for(lambda: next(iter(site.registry.names_for(user)), None), what=f"{user}'s socket")


def answer_one(site, ws, value: str) -> None:
    """Act as the browser: read one eval message and answer it with ``value``."""
    message = json.loads(on_loop(site.server, ws.read_message))
    on_loop(site.server, lambda: ws.write_message(json.dumps({"otrace": "result", "id": message["id"], "value": value})))


def tracebacks(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def otrace_lines(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "otrace.web")


def test_bad_messages_are_dropped_with_a_log_line_and_the_app_keeps_serving(site, caplog):
    server = site.server
    with caplog.at_level(logging.INFO):
        with pytest.raises(tornado.httpclient.HTTPClientError, match="403"):
            connect(site, origin="http://evil.example")
        ws, name = registered(site, "mallory")
        big = json.dumps({"otrace": "result", "id": 1, "value": "x" * MAX_WEB_MESSAGE})
        for message in ["not json {", big, b"\xff\xfe binary", "[" * 100_000,
                        json.dumps({"otrace": "result", "id": 999999, "value": "late"})]:
            on_loop(server, lambda: ws.write_message(message, binary=isinstance(message, bytes)))
        wait_for(lambda: "unknown evaluation 999999" in otrace_lines(caplog), what="the late reply's log line")
        lines = otrace_lines(caplog)
        assert "refused a websocket from origin 'http://evil.example'" in lines
        assert "dropped a non-otrace message (10 bytes) from mallory" in lines
        assert f"dropped a {len(big)}-byte websocket message from mallory (limit {MAX_WEB_MESSAGE})" in lines
        # the socket still evaluates (the test acts as the browser) and the app still serves
        site.engine.settings.set("safe_mode", False)
        try:
            future = site.registry.submit(name, "6*7", who="test")
            answer_one(site, ws, "42")
            assert future.result(5) == ("42", None)
        finally:
            site.engine.settings.set("safe_mode", True)
        assert get(site, "/")[0] == 200
        on_loop(server, ws.close)
        wait_for(lambda: name not in site.registry.names_for("mallory"), what="the socket to unregister")
    assert tracebacks(caplog) == []


def test_a_message_over_the_servers_limit_closes_only_that_socket(site, caplog):
    server = site.server
    big, big_name = registered(site, "huge")
    ok, ok_name = registered(site, "fine")
    site.engine.settings.set("safe_mode", False)
    try:
        with caplog.at_level(logging.INFO):
            pending = site.registry.submit(big_name, "document.title", who="test")
            json.loads(on_loop(server, big.read_message))            # the eval reached the "browser"
            on_loop(server, lambda: big.write_message("x" * (site.limit + 1)))
            assert on_loop(server, big.read_message) is None          # the server closed it
            assert pending.result(5) == (None, f"browser {big_name} disconnected")
            wait_for(lambda: big_name not in site.registry.names_for("huge"), what="the big socket to go")
            future = site.registry.submit(ok_name, "3", who="test")
            answer_one(site, ok, "3")
            assert future.result(5) == ("3", None)
    finally:
        site.engine.settings.set("safe_mode", True)
        on_loop(server, ok.close)
    wait_for(lambda: not site.registry.clients(), what="the sockets to unregister")
    assert tracebacks(caplog) == []


def test_an_unidentified_socket_is_not_registered(site, caplog):
    with caplog.at_level(logging.INFO, logger="otrace.web"):
        ws = connect(site, user=None)
        on_loop(site.server, lambda: ws.write_message(json.dumps({"otrace": "hello", "url": "x"})))
        wait_for(lambda: "dropped a message from unregistered websocket 127.0.0.1" in otrace_lines(caplog),
                 what="the dropped hello's log line")
    assert "not identified; not registered" in otrace_lines(caplog)
    assert site.registry.clients() == []
    on_loop(site.server, ws.close)
