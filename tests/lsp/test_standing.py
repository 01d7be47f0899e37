"""lsp.standing: which requests and command lines stand fleet-wide, what the log keeps of them and
how an order is described."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from otrace_server.lsp import standing

IN_OSH = SimpleNamespace(session=SimpleNamespace(in_osh=True))


@pytest.mark.parametrize("line", ["trace GetHandler.get", "trace -c 'number == 77' GetHandler.get",
                                  "untrace GetHandler.get", "set max_recent 20", "set hold_timeout 30"])
def test_these_lines_stand(line):
    assert standing.why_not(IN_OSH, "otrace/command", {"line": line}) is None


@pytest.mark.parametrize("line, why", [
    ("resume", "only trace NAME"), ("trace", "only trace NAME"), ("ls /osh", "only trace NAME"),
    ("x = 1", "only trace NAME"), ("set max_recent", "not a display"), ("set safe_mode False", "security-related"),
    ("set password hunter2", "security-related"), ("trace 'unbalanced", "does not parse"),
])
def test_other_lines_run_in_their_worker_only(line, why):
    assert why in standing.why_not(IN_OSH, "otrace/command", {"line": line})


def test_outside_osh_or_with_input_a_line_does_not_stand():
    outside = SimpleNamespace(session=SimpleNamespace(in_osh=False))
    assert "Unix command" in standing.why_not(outside, "otrace/command", {"line": "trace f"})
    assert "input" in standing.why_not(IN_OSH, "otrace/command", {"line": "edit f", "stdin": "def f(): pass"})
    assert standing.why_not(outside, "otrace/trace", {"name": "f"}) is None     # requests always stand


def test_the_log_keeps_the_requests_own_params_and_a_summary():
    params = {"name": "f", "condition": "x > 1", "fleetOrder": "id", "count": None}
    assert standing.order_params("otrace/trace", params) == {"name": "f", "condition": "x > 1"}
    assert standing.summary("otrace/trace", {"name": "f", "condition": "x > 1"}) == "trace f condition x > 1"
    assert standing.summary("otrace/unpatch", {"name": "*"}) == "unpatch *"
    assert standing.summary("otrace.holdHere", {"uri": "file:///srv/app.py", "line": 11}) == "hold here app.py:12"
    assert standing.summary("breakpoints", {"path": "/a.py", "breakpoints": [{"line": 3}]}) == "breakpoints /a.py: 3"
