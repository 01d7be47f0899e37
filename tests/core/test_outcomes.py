"""core.outcomes: the one parser of resume outcomes (shell ``resume --value/--raise/--status`` and
LSP ``otrace/resume``), its rules and its messages."""

from __future__ import annotations

import asyncio

import pytest

from otrace_server.core.errors import OTraceError
from otrace_server.core.holds import Outcome
from otrace_server.core.outcomes import check_outcome, exception_named, outcome_from


def test_nothing_asked_continues():
    assert outcome_from() == Outcome()


def test_a_value_is_kept_as_it_is_even_none():
    assert outcome_from(value=[1, 2]) == Outcome("value", value=[1, 2])
    assert outcome_from(value=None) == Outcome("value", value=None)


def test_an_exception_class_is_instantiated_and_an_instance_kept():
    assert isinstance(outcome_from(exception=KeyError).exception, KeyError)
    error = ValueError("bad")
    assert outcome_from(exception=error) == Outcome("raise", exception=error)


def test_a_status_is_an_int_or_its_decimal_text_with_a_reason():
    assert outcome_from(status=409, reason="in use") == Outcome("status", status=409, reason="in use")
    assert outcome_from(status="404") == Outcome("status", status=404)


@pytest.mark.parametrize("asked, message", [
    ({"value": 1, "status": 404}, "give only one of value, raise, status (got value, status)"),
    ({"exception": KeyError, "value": None}, "give only one of value, raise, status (got value, raise)"),
    ({"exception": 5}, "the exception to raise must be an exception class or instance, got int"),
    ({"status": "abc"}, "the status must be an HTTP status code (an integer, 200-599), got 'abc'"),
    ({"status": True}, "the status must be an HTTP status code (an integer, 200-599), got True"),
    ({"status": 404, "reason": 5}, "the reason must be a string, got int"),
    ({"status": 103}, "cannot answer with HTTP 103: a final status is 200-599"),
    ({"exception": SystemExit}, "cannot raise SystemExit in held code"),
    ({"exception": asyncio.CancelledError()}, "cannot raise CancelledError in held code"),
])
def test_refusals_are_one_line_otrace_errors(asked, message):
    with pytest.raises(OTraceError) as err:
        outcome_from(**asked)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize("text, expected", [
    ("ValueError: bad input", ValueError("bad input")),
    ("KeyError", KeyError()),
    ("NoSuchError: x", RuntimeError("NoSuchError: x")),
    ("SystemExit: 1", RuntimeError("SystemExit: 1")),     # not an Exception: never built from text
])
def test_the_text_form_names_a_builtin_exception(text, expected):
    exc = exception_named(text)
    assert type(exc) is type(expected) and exc.args == expected.args


@pytest.mark.parametrize("text", ["", 5, None])
def test_the_text_form_must_be_a_non_empty_string(text):
    with pytest.raises(OTraceError, match="non-empty string"):
        exception_named(text)


def test_check_outcome_lets_what_ends_only_the_request_through():
    for outcome in (Outcome(), Outcome("value", value=1), Outcome("status", status=599),
                    Outcome("raise", exception=LookupError())):
        check_outcome(outcome)
