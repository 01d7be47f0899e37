"""otrace/webEval's params against the real chat demo (its /osh/web set up, no browser needed): a
wait the client asks for must be bounded (each waits in the language server's shared worker pool),
and every bad param is a -32602 naming it, before anything is sent."""

from __future__ import annotations

import pytest

from otrace_server.lsp.methods import MAX_WEB_TIMEOUT_MS
from tests.lsp.rpc import RpcError

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("params, names", [
    ({"client": "alice", "expression": "1", "timeoutMs": -5}, "timeoutMs"),
    ({"client": "alice", "expression": "1", "timeoutMs": 0}, "timeoutMs"),
    ({"client": "alice", "expression": "1", "timeoutMs": MAX_WEB_TIMEOUT_MS + 1}, "timeoutMs"),
    ({"client": "alice", "expression": "1", "timeoutMs": "5"}, "timeoutMs"),
    ({"client": 5, "expression": "1"}, "client"),
    ({"client": "alice"}, "expression"),
])
def test_bad_web_eval_params_are_invalid_params(chat, params, names):
    c = chat.client()
    with pytest.raises(RpcError) as err:
        c.request("otrace/webEval", params)
    assert err.value.code == -32602 and names in err.value.message
    assert c.request("otrace/command", {"line": "set safe_mode False"})["error"] is False
    try:   # in range: a clear refusal for an unknown browser, not a wait
        answer = c.request("otrace/webEval", {"client": "nobody", "expression": "1", "timeoutMs": MAX_WEB_TIMEOUT_MS})
        assert "no browser named 'nobody'" in answer["error"]
    finally:
        c.request("otrace/command", {"line": "set safe_mode True"})
