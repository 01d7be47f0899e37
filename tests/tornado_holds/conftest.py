"""Fixtures for the Tornado tests: ``server`` (the demo app served on 127.0.0.1 by an IOLoop on its
own thread) and ``otrace`` (otrace started beside it, no console, no LSP)."""

import pytest

from tests.tornado_holds.demo_server import DemoServer


@pytest.fixture
def server():
    srv = DemoServer()
    yield srv
    srv.stop()


@pytest.fixture
def otrace(server):
    """otrace started over the demo's globals, on the demo server's loop (no console, no LSP)."""
    from otrace_server import start

    app = start(vars(server.demo), app_loop=server.loop, console=False, lsp=False, trace_active=True)
    yield app
    app.stop()
    engine = app.engine
    engine.tracer.untrace_all()
    engine.settings.set("hold_timeout", 0.0)
    engine.settings.set("trace_active", False)
