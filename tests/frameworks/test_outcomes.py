"""Holds in each framework's own endpoints, served for real: the request summary of the hold, and
every resume outcome answered as that framework answers it (``--status`` as its own HTTP error
response, ``--raise``, ``--value``)."""

from __future__ import annotations

import pytest

from tests.frameworks import apps
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)


def held(otrace, served):
    """GET /hold?n=77 on a thread; (the box of its answer, the hold once it waits)."""
    box = served.get_later("/hold?n=77")
    wait_for(lambda: otrace.engine.holds.list(), 10, what="the hold")
    (hold,) = otrace.engine.holds.list()
    return box, hold


def answer(box) -> tuple[int, str]:
    box["thread"].join(10)
    assert "error" not in box, box.get("error")
    return box["status"], box["body"]


def test_a_hold_shows_the_request_summary(otrace, served):
    box, hold = held(otrace, served)
    summary = hold.context.extra["request"]
    assert (summary.method, summary.uri, summary.remote_ip) == ("GET", "/hold?n=77", "127.0.0.1")
    assert summary.framework == apps.ADAPTER[served.framework]
    session = otrace.shell.session("test")
    assert not session.execute("cd ~~").error
    assert "GET /hold?n=77 from 127.0.0.1" in session.execute("pr __trc").output
    assert session.execute(f"resume {hold.id}").output == f"Resuming {hold.id}"
    assert answer(box) == (200, "done 77 None")


#: what each framework answers to ``resume --status 503 try again later``
STATUS_BODY = {
    "tornado": "503: try again later",       # Tornado's error page: <title>503: try again later</title>
    "aiohttp": "503: try again later",       # aiohttp's HTTPException text
    "starlette": "try again later",          # Starlette's plain-text HTTPException handler
    "fastapi": '{"detail":"try again later"}',
}


def test_resume_status_is_the_frameworks_own_error_response(otrace, served):
    box, hold = held(otrace, served)
    result = otrace.shell.session("test").execute(f"resume {hold.id} --status 503 try again later")
    assert not result.error, result.output
    status, body = answer(box)
    assert status == 503
    if served.framework in ("starlette", "fastapi"):
        assert body == STATUS_BODY[served.framework]
    else:
        assert STATUS_BODY[served.framework] in body


def test_resume_status_without_a_body(otrace, served):
    box, hold = held(otrace, served)
    assert not otrace.shell.session("test").execute(f"resume {hold.id} --status 204").error
    assert answer(box) == (204, "")


def test_resume_raise_is_the_frameworks_500(otrace, served):
    box, hold = held(otrace, served)
    assert not otrace.shell.session("test").execute(f"resume {hold.id} --raise ValueError('boom')").error
    status, body = answer(box)
    assert status == 500 and "done" not in body


def test_resume_value_is_what_the_hold_returns(otrace, served):
    box, hold = held(otrace, served)
    assert not otrace.shell.session("test").execute(f"resume {hold.id} --value 6*7").error
    assert answer(box) == (200, "done 77 42")
