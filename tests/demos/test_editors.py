"""The language server and the DAP endpoint work on the framework demos unchanged: one test each
through a real connection (the torna_trace versions: tests/lsp/test_demo.py, tests/dap/test_dap_demo.py)."""

from __future__ import annotations

import pytest

from tests.demos.test_hold_story import ANSWER_77, hold_77

pytestmark = pytest.mark.timeout(60)

#: the request summary of the held GET, as otrace/holds gives it and as the DAP thread name shows it
SUMMARY = {"method": "GET", "uri": "/?number=77", "remote_ip": "127.0.0.1"}
SUMMARY_TEXT = "GET /?number=77 from 127.0.0.1"


def test_otrace_holds_lists_the_held_request_and_otrace_resume_releases_it(demo, editor):
    held, started = hold_77(demo, editor)
    [hold] = editor.request("otrace/holds")["holds"]
    assert hold["id"] == started["id"] and hold["function"] == "get_reciprocal" and hold["label"] == "hold_check"
    assert {key: hold["summary"].get(key) for key in SUMMARY} == SUMMARY, hold
    assert editor.request("otrace/resume", {"ids": [hold["id"]], "value": 4}) == {"resumed": [hold["id"]]}
    status, _, body = held.wait()
    assert status == 200 and "The reciprocal of 4.0 is 0.25" in body
    assert editor.request("otrace/holds") == {"holds": []}


def test_the_held_request_is_a_dap_thread_and_continue_releases_it(demo, editor):
    dap = demo.dap_client()
    held, started = hold_77(demo, editor)
    thread_id = dap.wait_event("thread", lambda body: body["reason"] == "started")["threadId"]
    [thread] = dap.request("threads")["threads"]
    assert thread["id"] == thread_id and thread["name"] == f"{SUMMARY_TEXT} · hold_check", thread
    [top, *_] = dap.request("stackTrace", {"threadId": thread_id})["stackFrames"]
    assert top["name"] == "get_reciprocal" and top["source"]["path"] == started["file"]
    assert dap.request("continue", {"threadId": thread_id}) == {"allThreadsContinued": False}
    status, _, body = held.wait()
    assert status == 200 and ANSWER_77 in body
    dap.wait_event("thread", lambda body: body["reason"] == "exited" and body["threadId"] == thread_id)
    assert dap.request("threads") == {"threads": []}
    dap.request("disconnect", {})
