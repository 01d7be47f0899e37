"""Fixtures for the DAP tests: the real torna_trace demo (its DAP port from the discovery file)."""

from __future__ import annotations

import pytest

from tests.dap.dapclient import DapClient
from tests.lsp.conftest import ROOT, AppProcess, _demo_ready


class DemoProcess(AppProcess):
    """The torna_trace demo: ``http``, ``lsp``, ``dap`` ports and ``token``."""

    def __init__(self, tmp) -> None:
        super().__init__([str(ROOT / "demos" / "torna_trace.py"), "--port", "0", "--no-console",
                          "--exit-on-stdin-eof"], tmp, _demo_ready)
        self.dap = self.info["dap_port"]
        self.dap_clients: list[DapClient] = []

    def dap_client(self, attach: bool = True) -> DapClient:
        c = DapClient(self.dap)
        self.dap_clients.append(c)
        if attach:
            c.attach(self.token)
        return c

    def stop(self) -> None:
        for c in self.dap_clients:
            c.close()
        super().stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    app = DemoProcess(tmp_path_factory.mktemp("xdg"))
    yield app
    app.stop()
