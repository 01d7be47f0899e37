"""Read-only requests answered on the control thread itself (``lsp.inline``), over real LSP/TCP
against a real Tornado app (tests/lsp/inline_app.py). Which thread answered is told by the app's
test commands (``thread``: bounded, ``thread_w``: not), never by timing."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from otrace_server.lsp import inline
from tests.lsp.conftest import HERE, AppProcess, _sample_ready, fetch_async

CONTROL = "otrace-control"
_ids = itertools.count(10_000)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    process = AppProcess([str(HERE / "inline_app.py")], tmp_path_factory.mktemp("xdg"), _sample_ready)
    yield process
    process.stop()


def run(client, line: str) -> dict:
    return client.request("otrace/command", {"line": line})


def send(client, method: str, params: dict) -> int:
    """Send a request without waiting for its answer (pipelined); its id."""
    msg_id = next(_ids)
    client.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return msg_id


def answer(client, msg_id: int) -> dict:
    response = client.wait_response(msg_id, timeout=20)
    assert "error" not in response, response
    return response["result"]


def test_a_bounded_command_is_answered_on_the_control_thread_any_other_in_a_worker(app):
    client = app.client()
    assert run(client, "thread")["output"] == CONTROL
    assert run(client, "thread_w")["output"].startswith("otrace-lsp")
    assert run(client, "pwd") == {"output": "/osh/globals", "prompt": "globals> ", "cwd": "/osh/globals",
                                  "error": False}
    assert run(client, "ls /osh")["output"].split() == ["globals", "locals", "patches", "pickled", "recent",
                                                        "saved", "tasks", "threads", "web"]
    bad = run(client, "pwd extra")   # a bounded command's own error: the same answer as ever
    assert bad["error"] is True and bad["output"] == "pwd: expected no argument or -a"


@pytest.mark.parametrize("path,handler", [("/block?s=4", "BLOCKING"), ("/spin?s=4", "SPINNING")])
def test_read_only_requests_are_answered_inline_while_the_app_is_busy(app, path, handler):
    """With the app's loop blocked (time.sleep) or a handler spinning in Python, the read-only
    requests are answered, on the control thread."""
    client = app.client()
    busy = fetch_async(app, path)
    app.read_until(handler)
    assert run(client, "thread")["output"] == CONTROL
    assert run(client, "pwd")["output"] == "/osh/globals"
    assert client.request("otrace/holds", {}) == {"holds": []}
    assert client.request("otrace/complete", {"line": "pw"}) == {"items": ["pwd"]}
    assert run(client, "thread")["output"] == CONTROL
    assert "body" not in busy   # all of it while the app was still busy
    busy["thread"].join(30)


def test_the_cwd_stays_right_across_inline_and_worker_commands(app):
    """An inline answer never overtakes the client's own pending shell request: ``pwd`` sent
    right behind ``cd`` (which runs in a worker) says where ``cd`` went."""
    client = app.client()
    first, then, where = next(_ids), next(_ids), next(_ids)
    client.send_raw(frames((first, "otrace/command", {"line": "cd /osh/recent"}),
                           (then, "otrace/command", {"line": "thread"}), (where, "otrace/command", {"line": "pwd"})))
    assert answer(client, first)["cwd"] == "/osh/recent"
    assert answer(client, then)["output"].startswith("otrace-lsp")   # behind the pending cd: a worker
    assert answer(client, where)["output"] == "/osh/recent"
    assert run(client, "thread") == {"output": CONTROL, "prompt": "recent> ", "cwd": "/osh/recent", "error": False}
    assert run(client, "cd ..; thread_w")["cwd"] == "/osh"
    assert run(client, "pwd")["output"] == "/osh"
    other = app.client()   # each client has its own cwd
    assert run(other, "pwd")["output"] == "/osh/globals"


def frames(*requests: tuple[int, str, dict]) -> bytes:
    """Framed requests ``(id, method, params)``, to send in one write (read in one pass)."""
    return b"".join(b"Content-Length: %d\r\n\r\n%s" % (len(body), body) for body in (
        json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}).encode()
        for i, method, params in requests))


def test_no_inline_answer_overtakes_a_pending_request_of_the_client(app):
    client = app.client()
    pending, behind = next(_ids), next(_ids)
    client.send_raw(frames((pending, "otrace/webClients", {}),     # any request: answered in a worker
                           (behind, "otrace/command", {"line": "thread"})))
    answer_or_error = client.wait_response(pending, timeout=20)
    assert "result" in answer_or_error or "error" in answer_or_error
    assert answer(client, behind)["output"].startswith("otrace-lsp")
    assert run(client, "thread")["output"] == CONTROL


def test_a_slow_command_blocks_neither_another_client_nor_the_inline_answers(app):
    slow, other = app.client(), app.client()
    napping = send(slow, "otrace/command", {"line": "nap 3"})
    behind = send(slow, "otrace/command", {"line": "pwd"})
    assert run(other, "thread")["output"] == CONTROL
    assert run(other, "thread_w")["output"].startswith("otrace-lsp")
    assert run(other, "pwd")["output"] == "/osh/globals"
    assert napping not in slow.responses and behind not in slow.responses
    assert answer(slow, napping)["output"].startswith("otrace-lsp")
    assert answer(slow, behind)["output"] == "/osh/globals"   # in order, after the nap


def test_a_client_flooding_inline_requests_does_not_keep_the_others_waiting(app):
    """3,000 pipelined ``tick`` of one client are answered a few at a time, the control loop
    running between: another client's ``tick``, sent after them, is served long before the flood's
    last one (the count says when)."""
    flood, other = app.client(), app.client()
    start = int(run(other, "tick")["output"])
    ids = [next(_ids) for _ in range(3000)]
    flood.send_raw(frames(*((i, "otrace/command", {"line": "tick"}) for i in ids)))
    served = int(run(other, "tick")["output"]) - start
    assert served < 500, f"{served - 1} of the flood's requests were answered first"
    last = int(answer(flood, ids[-1])["output"]) - start
    assert last == 3001                 # every one of them answered, one tick each


def test_a_client_waiting_for_each_answer_is_never_given_an_extra_pass(app):
    """``inline.IN_A_ROW`` counts the inline answers of one callback: an editor sending one request
    at a time never makes the control loop run a pass of its own after an answer (each pass gives
    the GIL up, and a busy app may keep it a switch interval: the editor's next request would wait
    for it); requests read together still give the loop its pass every ``IN_A_ROW``."""
    client = app.client()
    before = int(run(client, "passes")["output"])
    for _ in range(3 * inline.IN_A_ROW):
        assert run(client, "pwd")["output"] == "/osh/globals"
    assert int(run(client, "passes")["output"]) == before
    ids = [next(_ids) for _ in range(3 * inline.IN_A_ROW)]
    client.send_raw(frames(*((i, "otrace/command", {"line": "pwd"}) for i in ids)))
    assert [answer(client, i)["output"] for i in ids] == ["/osh/globals"] * len(ids)
    assert int(run(client, "passes")["output"]) > before


def test_a_bounded_command_over_the_budget_goes_to_the_workers(app):
    """``heavy`` is declared bounded but spends ~20 ms of CPU: answered inline once, then in
    workers (its kind only: ``pwd`` stays inline)."""
    client = app.client()
    assert run(client, "heavy")["output"] == CONTROL
    assert run(client, "heavy")["output"].startswith("otrace-lsp")
    assert run(client, "thread")["output"] == CONTROL


def test_after_shutdown_no_request_is_answered_inline_either(app):
    client = app.client()
    client.request("shutdown")
    refused = send(client, "otrace/command", {"line": "pwd"})
    assert client.wait_response(refused)["error"]["code"] == -32600   # LSP: InvalidRequest, no result
    client.notify("exit")
    assert client.wait_closed()


def test_requests_the_rule_refuses_go_to_a_worker_with_the_same_answers(app):
    client = app.client()
    assert client.request("otrace/complete", {"line": "ls /osh/gl"}) == {"items": ["/osh/globals/"]}
    with pytest.raises(Exception, match="-32602"):
        client.request("otrace/complete", {"line": "pw", "cursor": 9})
    assert run(client, "thread")["output"] == CONTROL


# ---- the connection's callback answers (no coroutine between the socket and the answer) ---------
def test_an_inline_answer_is_written_in_the_callback_that_read_the_request(app):
    """Inline requests are answered from the connection's ``data_received`` (a plain callback of
    the control loop, no task woken in between), also while a handler spins holding the GIL;
    the others still go to a worker."""
    client = app.client()
    assert run(client, "hop")["output"] == "callback"
    busy = fetch_async(app, "/spin?s=4")
    app.read_until("SPINNING")
    assert [run(client, "hop")["output"] for _ in range(5)] == ["callback"] * 5
    assert run(client, "pwd")["output"] == "/osh/globals"
    assert "body" not in busy
    assert run(client, "hop_w")["output"] == "thread"
    busy["thread"].join(30)


def test_a_request_sent_in_pieces_is_answered_once_whole_and_in_order(app):
    """A request cut anywhere (in its header, in its body) across TCP segments is answered once
    its last byte came, inline; a request whose start came glued to the previous one's end is
    answered after it."""
    client = app.client()
    first, second = next(_ids), next(_ids)
    data = frames((first, "otrace/command", {"line": "hop"}), (second, "otrace/command", {"line": "tick"}))
    cuts = [3, 15, 23, 40, len(data) - 30, len(data) - 1]
    for start, end in zip([0] + cuts, cuts + [len(data)]):
        client.send_raw(data[start:end])
        time.sleep(0.05)   # a segment of its own (TCP_NODELAY): a data_received each
    assert answer(client, first)["output"] == "callback"
    assert answer(client, second)["output"].isdigit()
    answered = [m.get("id") for m in client.messages if m.get("id") in (first, second)]
    assert answered == [first, second]


def test_an_inline_request_read_behind_a_pending_one_waits_for_it(app):
    """The pending request and the inline one come in separate reads (two data_received): the
    inline one is still answered after the pending one, by the same path (a worker)."""
    client = app.client()
    napping, behind = next(_ids), next(_ids)
    client.send({"jsonrpc": "2.0", "id": napping, "method": "otrace/command", "params": {"line": "nap 1"}})
    time.sleep(0.2)
    client.send({"jsonrpc": "2.0", "id": behind, "method": "otrace/command", "params": {"line": "hop"}})
    assert answer(client, behind)["output"] == "thread"
    assert answer(client, napping)["output"].startswith("otrace-lsp")
    answered = [m.get("id") for m in client.messages if m.get("id") in (napping, behind)]
    assert answered == [napping, behind]
    assert run(client, "hop")["output"] == "callback"   # nothing pending any more: inline again


@pytest.mark.parametrize("garbage", [b"Content-Length: 12x\r\n\r\n{}", b"Content-Type: json\r\n\r\n{}",
                                     b"X" * 70_000])
def test_broken_framing_after_login_closes_only_that_connection(app, garbage):
    """After login, framing that cannot go on (a bad Content-Length, none, a header line over
    the limit) closes that connection, after answering what came whole before it; another
    client keeps being answered inline."""
    broken, other = app.client(), app.client()
    ahead = next(_ids)
    broken.send_raw(frames((ahead, "otrace/command", {"line": "pwd"})) + garbage)
    assert answer(broken, ahead)["output"] == "/osh/globals"
    assert broken.wait_closed()
    assert run(other, "hop")["output"] == "callback"
