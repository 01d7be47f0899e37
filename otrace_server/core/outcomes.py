"""Resume outcomes from what a front end was given: THE place that turns "continue with this value",
"raise this", "answer with this status" into a checked ``holds.Outcome``, with the same one-line
messages for every front end (the shell's ``resume --value/--raise/--status``, the language
server's ``otrace/resume``).

    >>> outcome_from(status=409, reason="in use").describe()
    'answered with HTTP 409'
    >>> outcome_from(exception=exception_named("KeyError: gone")).exception
    KeyError('gone')
    >>> outcome_from()   # nothing asked: the held code simply continues
    Outcome(kind='continue', value=None, exception=None, status=0, reason='')

Each front end reads its own syntax (the shell evaluates expressions, the LSP reads JSON) and hands
the values here; ``check_outcome`` is also what ``Engine.resume`` applies to any outcome.

Failures: ``OTraceError`` with a one-line message (the shell prefixes ``resume: ``).
Thread-safety: pure functions, any thread (an exception class given is instantiated on the caller's
thread).
"""

from __future__ import annotations

import builtins
import inspect
import sys
from typing import Any, Iterable

from otrace_server.core.errors import OTraceError
from otrace_server.core.holds import Outcome

__all__ = ["outcome_from", "exception_named", "check_outcome", "STATUS_RANGE"]

#: the HTTP statuses a hold can be answered with (inclusive): final statuses only (a 1xx would
#: leave the client waiting for the real answer); editors read it from the initialize result
STATUS_RANGE = (200, 599)
_RANGE_TEXT = f"{STATUS_RANGE[0]}-{STATUS_RANGE[1]}"

_NOT_GIVEN: Any = object()


def outcome_from(*, value: Any = _NOT_GIVEN, exception: Any = _NOT_GIVEN, status: Any = _NOT_GIVEN,
                 reason: Any = "") -> Outcome:
    """The checked Outcome of a resume given at most one of ``value`` (what ``await traceassert(...)``
    returns), ``exception`` (an exception instance, or a class instantiated without arguments:
    raised in the held code) or ``status`` (an int or its decimal text: the held request is
    answered with it, ``reason`` its text); none of them: continue.

    OTraceError when more than one is given, the exception is not one, the status is not an
    integer or the reason not a string, and for what ``check_outcome`` refuses."""
    asked = {"value": value, "raise": exception, "status": status}
    given = [name for name, v in asked.items() if v is not _NOT_GIVEN]
    if len(given) > 1:
        raise OTraceError(f"give only one of value, raise, status (got {', '.join(given)})")
    if value is not _NOT_GIVEN:
        outcome = Outcome("value", value=value)
    elif exception is not _NOT_GIVEN:
        outcome = Outcome("raise", exception=_exception(exception))
    elif status is not _NOT_GIVEN:
        outcome = Outcome("status", status=_status(status), reason=_reason(reason))
    else:
        outcome = Outcome()
    check_outcome(outcome)
    return outcome


def exception_named(text: Any, namespaces: Iterable[dict[str, Any] | None] = ()) -> Exception:
    """The exception of the text form ``"Name"`` or ``"Name: message"`` (what editors send): the
    ``Exception`` subclass ``Name`` names in the first of ``namespaces`` that has it (the held
    code's globals, the shell's), else a builtin one, else a class reached by a dotted name
    (``"pkg.mod.Error"``) from a loaded module; made with the message, or without arguments.

    OTraceError when ``text`` is not a non-empty string, or names no ``Exception`` class (an
    unknown name is an error the user sees, not a RuntimeError the held code gets)."""
    if not isinstance(text, str) or not text.strip():
        raise OTraceError('the exception to raise must be a non-empty string such as "ValueError: bad input"')
    name, _, message = text.partition(":")
    name = name.strip()
    cls = _exception_class(name, namespaces)
    if cls is None:
        raise OTraceError(f"no exception class named {name!r} in the held code's module, the shell's globals, "
                          f"the builtins or a loaded module (e.g. ValueError, myapp.errors.Conflict)")
    return cls(message.strip()) if message else cls()


def _exception_class(name: str, namespaces: Iterable[dict[str, Any] | None]) -> type | None:
    """The ``Exception`` subclass ``name`` (dotted or not) names, or None. Reads dicts and
    attributes statically (``inspect.getattr_static``): no application code runs to find it."""
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    head, rest = parts[0], parts[1:]
    roots = [ns[head] for ns in namespaces if ns is not None and head in ns]
    if hasattr(builtins, head):
        roots.append(getattr(builtins, head))
    for root in roots:
        found = _attribute_path(root, rest)
        if _is_exception_class(found):
            return found
    for i in range(len(parts) - 1, 0, -1):   # "pkg.mod.Error": the longest loaded module of it
        module = sys.modules.get(".".join(parts[:i]))
        if module is not None:
            found = _attribute_path(module, parts[i:])
            return found if _is_exception_class(found) else None
    return None


def _is_exception_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, Exception)


def _attribute_path(obj: Any, names: list[str]) -> Any:
    for attr in names:
        try:
            obj = inspect.getattr_static(obj, attr)
        except AttributeError:
            return None
    return obj


def check_outcome(outcome: Outcome) -> None:
    """OTraceError (one line) for a resume outcome no held code should get: raising an exception
    that is not an ``Exception`` (SystemExit, KeyboardInterrupt, GeneratorExit, CancelledError:
    in a coroutine they stop the application's loop or leave the request unanswered) or answering
    with a status that is not a final HTTP status (1xx: the client would wait for the real answer)."""
    if outcome.kind == "raise" and outcome.exception is not None and not isinstance(outcome.exception, Exception):
        raise OTraceError(f"cannot raise {type(outcome.exception).__name__} in held code: it would stop the "
                          f"application, not the request; raise an Exception")
    if outcome.kind == "status" and not (isinstance(outcome.status, int)
                                         and STATUS_RANGE[0] <= outcome.status <= STATUS_RANGE[1]):
        raise OTraceError(f"cannot answer with HTTP {outcome.status!r}: a final status is {_RANGE_TEXT}")


def _exception(exc: Any) -> BaseException:
    if inspect.isclass(exc) and issubclass(exc, BaseException):
        exc = exc()
    if not isinstance(exc, BaseException):
        raise OTraceError(f"the exception to raise must be an exception class or instance, got {type(exc).__name__}")
    return exc


def _status(status: Any) -> int:
    if isinstance(status, str) and status.isascii() and status.isdigit():
        return int(status)
    if not isinstance(status, int) or isinstance(status, bool):
        raise OTraceError(f"the status must be an HTTP status code (an integer, {_RANGE_TEXT}), got {status!r}")
    return status


def _reason(reason: Any) -> str:
    if not isinstance(reason, str):
        raise OTraceError(f"the reason must be a string, got {type(reason).__name__}")
    return reason
