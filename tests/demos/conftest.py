"""Fixtures of the framework demos' tests: one demo process per (test module, demo)."""

from __future__ import annotations

import pytest

from tests.demos.process import DEMOS, DemoProcess


@pytest.fixture(scope="module", params=DEMOS, ids=[demo_id for demo_id, _, _ in DEMOS])
def demo(request, tmp_path_factory):
    """A demo served for real (``--no-console``: no terminal here), with ``framework`` set to the
    name its page shows; stopped at the end of the module."""
    _, script, framework = request.param
    process = DemoProcess(script, tmp_path_factory.mktemp("xdg"), "--no-console")
    process.framework = framework
    yield process
    process.stop()


@pytest.fixture
def editor(demo):
    """A language-server client of ``demo``; what a test left held is resumed after it (so one
    failure does not leave the next test of the module a second hold)."""
    client = demo.lsp_client()
    yield client
    if not client.closed:
        client.request("otrace/resume", {"all": True})
    client.close()
