"""Engine events reach the control thread only while an editor is connected: the language server
and the DAP endpoint subscribe at a client's accept and unsubscribe when the last one leaves, so
with nobody connected a hold, a resume or a traced call costs the control thread nothing. Real
demo app on 127.0.0.1, otrace started in this process, real LSP and DAP TCP connections."""

from __future__ import annotations


import pytest

import otrace_server
from tests.dap.dapclient import DapClient
from tests.lsp.rpc import Client
from tests.support.appserver import wait_for
from tests.tornado_holds.demo_server import DEMO_PATH, DemoServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def started():
    server = DemoServer()
    app = otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=True,
                              trace_active=True)
    try:
        yield server, app
    finally:
        app.stop()
        server.stop()
        app.engine.tracer.untrace_all()
        app.engine.settings.set("trace_active", False)


def hold_line() -> int:
    """0-based line of the demo's hold."""
    return next(i for i, text in enumerate(DEMO_PATH.read_text().splitlines()) if 'label="hold_check"' in text)


def test_events_are_subscribed_only_while_an_editor_is_connected(started):
    server, app = started
    engine = app.engine
    assert app.lsp_port and app.dap_port
    assert not engine.events.has_subscribers        # both endpoints listen; nobody is connected

    first = server.get_in_thread("?number=77")      # held with no editor connected
    wait_for(lambda: len(engine.holds) == 1, what="the first hold")
    assert not engine.events.has_subscribers
    assert engine.site_counts()[(str(DEMO_PATH), hold_line() + 1)] == {"holds": 1}

    lsp = Client(app.lsp_port)
    lsp.initialize(app.token)
    assert engine.events.has_subscribers
    uri = DEMO_PATH.as_uri()
    lsp.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": DEMO_PATH.read_text()}})
    lenses = lsp.request("textDocument/codeLens", {"textDocument": {"uri": uri}})
    [count] = [lens["command"]["title"] for lens in lenses
               if lens["range"]["start"]["line"] == hold_line() and lens["command"]["command"] == "otrace.showTraces"]
    assert count == "traceassert: 0 violations, 1 hold"   # counted before the editor connected

    second = server.get_in_thread("?number=77")     # now the editor hears of it
    started_hold = lsp.wait_notification("otrace/holdStarted")
    assert started_hold["id"] != engine.holds.list()[0].id

    dap = DapClient(app.dap_port)
    dap.attach(app.token)
    lsp.close()
    wait_for(lambda: not app._lsp.hub.clients, what="the language server to see its client leave")
    assert engine.events.has_subscribers            # the DAP client still listens
    dap.close()
    wait_for(lambda: not engine.events.has_subscribers, what="the last editor's subscription to end")

    engine.resume()                                 # no editor: nothing published, both answered
    for pending in (first, second):
        wait_for(lambda: pending.result is not None or pending.error is not None, what="the held response")
        assert pending.result[0] == 200 and "The reciprocal of 77.0 is 0.0129" in pending.result[2]
    assert engine.site_counts()[(str(DEMO_PATH), hold_line() + 1)] == {"holds": 2}
