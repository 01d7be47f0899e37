"""The story of torna_trace.py on each framework's demo, served for real: the page answers, 77 is
held while every other request is served, listed, and resumed with each outcome (the HTTP answer
checked), as a user does it in the shell (here through ``otrace/command`` of the language server)."""

from __future__ import annotations

import socket

import pytest

from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

ANSWER_77 = "The reciprocal of 77.0 is 0.012987012987012988"


def hold_77(demo, editor):
    """GET /?number=77 on a thread, once it is held: (the pending request, its holdStarted params)."""
    held = demo.get_in_thread("?number=77")
    started = editor.wait_notification("otrace/holdStarted")
    return held, started


def command(editor, line: str) -> str:
    """Run a shell command line through the language server; its output (AssertionError on error)."""
    result = editor.request("otrace/command", {"line": line})
    assert not result["error"], (line, result)
    return result["output"]


def test_the_page_asks_for_a_number_and_answers(demo):
    status, _, body = demo.get()
    assert status == 200 and '<form method="get" action="/">' in body and f"served by {demo.framework}" in body
    assert "The reciprocal of 4.0 is 0.25" in demo.get("?number=4")[2]
    assert "'abc' is not a number" in demo.get("?number=abc")[2]


def test_77_is_held_listed_and_continued_while_others_are_served(demo, editor):
    held, started = hold_77(demo, editor)
    assert started["id"].startswith("get_reciprocal:hd-hold_check:") and started["label"] == "hold_check"
    assert started["file"].endswith("_trace.py")
    for number in range(2, 6):                                       # served meanwhile
        assert f"The reciprocal of {float(number)} is" in demo.get(f"?number={number}")[2]
    assert not held.done
    assert command(editor, "ls /osh/recent/holds/get_reciprocal/hd-hold_check") == started["id"].rsplit(":", 1)[1]
    command(editor, "cd ~~")
    assert command(editor, "number") == "'77'"                        # the held request's local
    assert command(editor, "resume") == f"Resuming {started['id']}"
    status, _, body = held.wait()
    assert status == 200 and ANSWER_77 in body
    assert editor.request("otrace/holds") == {"holds": []}


def test_osh_tasks_shows_the_held_request_waiting_in_its_endpoint(demo, editor):
    """The app loop is the loop that runs (issue 16 point 1), whether the demo started otrace before
    web.run_app / uvicorn.run or inside asyncio.run(main()): /osh/tasks lists its tasks."""
    held, started = hold_77(demo, editor)
    where = f"{started['file']}:{started['line']} get_reciprocal"
    listing = wait_for(lambda: (lambda text: text if where in text else None)(command(editor, "ls -l /osh/tasks")),
                       what=f"a task waiting at {where}")   # read while the request may still be on its way there
    [task] = [line.split()[0] for line in listing.splitlines() if line.endswith(where)]
    assert where in command(editor, f"view /osh/tasks/{task}").splitlines()[-1]   # the end of its await chain
    command(editor, "resume all")
    assert held.wait()[0] == 200


@pytest.mark.parametrize("line, status, text", [
    ("resume --value 4", 200, "The reciprocal of 4.0 is 0.25"),      # the value replaces the number
    ("resume --value '0.5'", 200, "The reciprocal of 0.5 is 2.0"),
    ("resume --raise ValueError", 500, ""),                           # the app's own error answer
    ("resume --status 409 Taken", 409, "Taken"),                      # the framework's own HTTP error
], ids=["value", "quoted-value", "raise", "status"])
def test_resume_outcomes_answer_the_held_request(demo, editor, line, status, text):
    held, started = hold_77(demo, editor)
    command(editor, "cd ~~")
    assert command(editor, line) == f"Resuming {started['id']}"
    got, _, body = held.wait()
    assert got == status and text in body


def test_the_endpoint_function_the_router_holds_is_traced_held_and_untraced(demo, editor):
    """``trace -a hold get_reciprocal``: the function object the framework's router (RouteTableDef,
    Route, FastAPI's decorator) holds is traced, not only the module's name (issue 16 point 2)."""
    assert command(editor, "trace -a hold get_reciprocal") == "Tracing -a hold get_reciprocal"
    try:
        held = demo.get_in_thread("?number=5")
        started = editor.wait_notification("otrace/holdStarted")
        assert started["function"] == "get_reciprocal" and started["label"] != "hold_check"   # before the body
        assert not held.done
        command(editor, "resume all")
        assert "The reciprocal of 5.0 is 0.2" in held.wait()[2]
    finally:
        command(editor, "untrace get_reciprocal")
    assert "The reciprocal of 5.0 is 0.2" in demo.get("?number=5", timeout=5)[2]   # untraced: not held


def test_trace_records_the_endpoints_exception(demo, editor):
    """Entering 0 raises ZeroDivisionError: ``trace get_reciprocal`` records it."""
    command(editor, "trace get_reciprocal")
    try:
        assert demo.get("?number=0")[0] == 500
        assert "get_reciprocal" in command(editor, "ls /osh/recent/exceptions").split()
    finally:
        command(editor, "untrace get_reciprocal")


def test_a_held_request_whose_client_went_away_is_marked_and_resumes_harmlessly(demo, editor):
    """The client of a held 77 disconnects: otrace/holdClientGone, the hold listed with clientGone
    (issue 16 point 6); resuming it raises nothing inside the app, which goes on serving."""
    client = socket.create_connection(("127.0.0.1", demo.http), timeout=10)
    client.sendall(b"GET /?number=77 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    started = editor.wait_notification("otrace/holdStarted")
    client.close()
    assert editor.wait_notification("otrace/holdClientGone") == {"id": started["id"]}
    [hold] = editor.request("otrace/holds")["holds"]
    assert hold["id"] == started["id"] and hold["clientGone"] is True
    before = len(demo.lines)
    assert editor.request("otrace/resume", {"all": True}) == {"resumed": [started["id"]]}
    assert "The reciprocal of 4.0 is 0.25" in demo.get("?number=4")[2]
    assert "Traceback" not in "".join(demo.lines[before:]), demo.output
