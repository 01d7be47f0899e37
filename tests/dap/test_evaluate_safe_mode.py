"""dap.client's evaluate in safe mode shows the result as the shell's ``pr`` does: without running
the application's ``repr`` (``<module.Class object at 0x...>``); with safe_mode off, its repr. Real
demo app in this process, real DAP connection."""

from __future__ import annotations

import pytest

import otrace_server
from tests.dap.dapclient import DapClient
from tests.tornado_holds.demo_server import DemoServer

pytestmark = pytest.mark.timeout(60)


class Spy:
    """An application object whose ``repr`` counts its calls."""

    calls = 0

    def __repr__(self) -> str:
        Spy.calls += 1
        return "Spy(secret)"


def test_evaluate_result_runs_no_application_repr_in_safe_mode():
    server = DemoServer()
    namespace = vars(server.demo)
    namespace["spy"] = Spy()
    app = otrace_server.start(namespace, app_loop=server.loop, console=False, lsp=False)
    dap = DapClient(app.dap_port)
    try:
        dap.attach(app.token)
        for context in ("repl", "watch", "hover"):
            result = dap.request("evaluate", {"expression": "spy", "context": context})["result"]
            assert result.startswith("<") and "Spy object at 0x" in result, result
        assert Spy.calls == 0
        app.engine.settings.set("safe_mode", False)
        assert dap.request("evaluate", {"expression": "spy", "context": "repl"})["result"] == "Spy(secret)"
        assert Spy.calls == 1
    finally:
        app.engine.settings.set("safe_mode", True)
        dap.close()
        app.stop()
        server.stop()
        del namespace["spy"]
