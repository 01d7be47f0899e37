"""Fixtures of the framework adapter tests: ``served`` (each framework's app served for real,
parametrized over tornado, aiohttp, starlette, fastapi) and ``otrace`` (otrace started on that
app's loop: no console, no LSP, safe mode off so that ``resume --value`` evaluates)."""

from __future__ import annotations

import pytest

from tests.frameworks import apps


@pytest.fixture(params=apps.FRAMEWORKS)
def served(request):
    with apps.serving(request.param) as server:
        yield server


@pytest.fixture
def otrace(served):
    import otrace_server

    app = otrace_server.start(vars(apps), app_loop=served.loop, console=False, lsp=False, trace_active=True,
                              safe_mode=False)
    yield app
    app.stop()
    app.engine.settings.set("trace_active", False)
    app.engine.settings.set("safe_mode", True)
