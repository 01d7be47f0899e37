"""/osh/web names on a real Tornado app with raw websocket clients: one name per identity, a second
tab ``<name>#2`` that no other identity can take, and a held request that names the browser of its
very identity (not of a look-alike)."""

from __future__ import annotations

import concurrent.futures
import json
import urllib.request

import pytest
import tornado.web

from otrace_server import traceassert
from otrace_server.web import WebRegistry, handlers
from otrace_server.web import registry as registry_module

from tests.support.waiting import wait_for
from tests.web.servers import connect, on_loop, served

pytestmark = pytest.mark.timeout(60)

REGISTRY = WebRegistry(identity=lambda handler: handler.request.headers.get("X-Who"))


class HoldHandler(tornado.web.RequestHandler):
    async def get(self):
        await traceassert(False, label="who_hold", action="hold")
        self.write("resumed")


@pytest.fixture(scope="module")
def app():
    make_app = lambda: tornado.web.Application([("/hold", HoldHandler)] + handlers("/otrace", REGISTRY))  # noqa: E731
    with served(REGISTRY, make_app) as running:
        yield running


@pytest.fixture
def browsers(app):
    """``open(identity)`` connects a raw websocket as that identity and returns (socket, name)."""
    server = app[0]
    opened = []

    def open_as(identity: str):
        known = {c.name for c in REGISTRY.clients()}
        ws = connect(server, {"X-Who": identity})
        opened.append(ws)
        name = wait_for(lambda: next((c.name for c in REGISTRY.clients() if c.name not in known), None),
                        what=f"the browser of {identity!r} to register")
        return ws, name

    yield open_as
    for ws in opened:
        on_loop(server, ws.close)
    wait_for(lambda: not REGISTRY.clients(), what="the browsers to go")


LOOK_ALIKES = ["user1", "user1", "user1#2", "user1.2", "user1%232", "Ann Lee", "Ann_Lee", "Ann%20Lee", "-l", ".."]


def test_each_identity_has_its_own_name_and_a_second_tab_an_unforgeable_one(app, browsers):
    server, _, shell = app
    names = [browsers(identity)[1] for identity in LOOK_ALIKES]
    assert names == ["user1", "user1#2", "user1%232", "user1.2", "user1%25232", "Ann%20Lee", "Ann_Lee",
                     "Ann%2520Lee", "%2Dl", "%2E%2E"]
    assert len(set(names)) == len(names)
    assert REGISTRY.names_for("user1") == ["user1#2", "user1"]       # most recent first
    assert REGISTRY.names_for("user1#2") == ["user1%232"]
    session = shell.session(name="t")
    assert session.execute("ls /osh/web").output.split() == sorted(names)
    for name in names:                     # each is one path component the shell takes as typed
        assert not session.execute(f"cd /osh/web/{name}").error
        assert session.execute("pwd").output.strip() == f"/osh/web/{name}"


def test_an_evaluation_reaches_the_browser_of_the_name(app, browsers):
    server, _, shell = app
    browsers("user1")
    tab2, tab2_name = browsers("user1")
    forger, forger_name = browsers("user1#2")
    shell.engine.settings.set("safe_mode", False)
    try:
        future = REGISTRY.submit(tab2_name, "1", who="test")
        assert json.loads(on_loop(server, tab2.read_message))["id"] == future.otrace_id
        forged = {"otrace": "result", "id": future.otrace_id, "value": "forged"}
        on_loop(server, lambda: forger.write_message(json.dumps(forged)))
        on_loop(server, lambda: tab2.write_message(json.dumps({**forged, "value": "2"})))
        assert future.result(5) == ("2", None)
    finally:
        shell.engine.settings.set("safe_mode", True)
    assert forger_name == "user1%232"


@pytest.mark.parametrize("who, expected", [("user1#2", "user1%232"), ("Ann Lee", "Ann%20Lee"), ("Ann_Lee", "Ann_Lee"),
                                           ("user1", "user1#2"), ("nobody", None)])
def test_a_held_request_names_the_browser_of_its_very_identity(app, browsers, who, expected):
    server, _, shell = app
    engine = shell.engine
    for identity in ("user1", "Ann_Lee", "Ann Lee", "user1#2", "user1"):
        browsers(identity)
    engine.settings.set("trace_active", True)
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        request = urllib.request.Request(server.url + "/hold", headers={"X-Who": who})
        held = pool.submit(lambda: urllib.request.urlopen(request, timeout=30).read())
        hold = wait_for(lambda: next((h for h in engine.holds.list() if h.context.label == "who_hold"), None),
                        what="the hold")
        assert hold.context.extra.get("web_client") == expected
        engine.resume([hold.id])
        assert held.result(10) == b"resumed"
    finally:
        engine.settings.set("trace_active", False)
        pool.shutdown()


def test_a_name_held_by_another_identity_is_refused(monkeypatch):
    """Only a SHA-256 collision of two long identities could do it: simulated here."""
    registry = WebRegistry()
    monkeypatch.setattr(registry_module, "web_name", lambda identity: "same")
    assert registry.register("one", "agent", lambda text: None) == "same"
    assert registry.register("one", "agent", lambda text: None) == "same#2"
    assert registry.register("two", "agent", lambda text: None) is None
    assert [c.name for c in registry.clients()] == ["same", "same#2"]
