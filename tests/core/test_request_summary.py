"""core.request_summary.RequestSummary: the structured request summary, its one display text, its
protocol fields (its trip through the trace database: tests/core/test_tracedb.py)."""

from __future__ import annotations

from otrace_server.core.request_summary import RequestSummary


def test_the_text_consoles_show():
    assert str(RequestSummary("POST", "/a?b=c%20d", "::1")) == "POST /a?b=c%20d from ::1"
    assert str(RequestSummary("GET", "/holds")) == "GET /holds"          # no remote address
    assert f"id  {RequestSummary('GET', '/')}" == "id  GET /"


def test_the_protocol_fields_are_those_present():
    assert RequestSummary("POST", "/a", "::1").fields() == {"method": "POST", "uri": "/a", "remote_ip": "::1"}
    assert RequestSummary("GET", "/holds").fields() == {"method": "GET", "uri": "/holds"}


def test_user_and_framework():
    summary = RequestSummary("GET", "/me", "::1", user="alice", framework="starlette")
    assert str(summary) == "GET /me from ::1 as alice"
    assert summary.fields() == {"method": "GET", "uri": "/me", "remote_ip": "::1", "user": "alice"}
    assert RequestSummary("GET", "/").framework == "" and str(RequestSummary("GET", "/", user="bob")) == "GET / as bob"
