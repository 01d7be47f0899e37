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
    ("json.JSONDecodeError", None),                        # a class of a loaded module: needs arguments
    ("email.errors.MessageError: m", __import__("email.errors").errors.MessageError("m")),
])
def test_the_text_form_names_a_builtin_or_a_loaded_modules_exception(text, expected):
    if expected is None:
        with pytest.raises(TypeError):                     # found, and made as asked (no arguments)
            exception_named(text)
        return
    exc = exception_named(text)
    assert type(exc) is type(expected) and exc.args == expected.args


class Conflict(Exception):
    """An application's own exception."""


def test_the_applications_own_exception_class_is_found_in_the_held_codes_globals():
    held = {"Conflict": Conflict, "errors": type("errors", (), {"Gone": type("Gone", (Exception,), {})})}
    exc = exception_named("Conflict: taken", [None, held])
    assert type(exc) is Conflict and exc.args == ("taken",)
    assert type(exception_named("errors.Gone", [held])).__name__ == "Gone"
    shadow = {"ValueError": Conflict}                      # the held code's name wins over the builtin
    assert type(exception_named("ValueError", [shadow])) is Conflict


@pytest.mark.parametrize("text", ["NoSuchError: x", "SystemExit: 1", "len", "os.path", "a b", "Conflict"])
def test_an_unknown_or_non_exception_name_is_an_error_for_the_user(text):
    with pytest.raises(OTraceError, match="no exception class named"):
        exception_named(text)                               # was RuntimeError(text) raised in held code


@pytest.mark.parametrize("text", ["", 5, None])
def test_the_text_form_must_be_a_non_empty_string(text):
    with pytest.raises(OTraceError, match="non-empty string"):
        exception_named(text)


def test_check_outcome_lets_what_ends_only_the_request_through():
    for outcome in (Outcome(), Outcome("value", value=1), Outcome("status", status=599),
                    Outcome("raise", exception=LookupError())):
        check_outcome(outcome)
