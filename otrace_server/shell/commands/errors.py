"""How commands report what they cannot do: one-line OTraceErrors that name the command.

    name = one_argument(call, "one name, * or all")   # else "untrace: specify one name, * or all"
    with application_errors("tag"):                     # "tag: TypeError: ..." from the app's code
        tags.tag(obj, label)

Thread-safety: plain functions, run on the caller's thread.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import exception_text, shown_as_error

__all__ = ["one_argument", "application_errors"]


def one_argument(call, wanted: str) -> str:
    """The one argument of ``call`` (a ``shell.Call``); OTraceError ``"<command>: specify
    <wanted>"`` when it has none or several."""
    if len(call.args) != 1:
        raise OTraceError(f"{call.name}: specify {wanted}")
    return call.args[0]


@contextmanager
def application_errors(what: str) -> Iterator[None]:
    """Run the block; an exception other than OTraceError (from the application's objects or
    files it touches: a broken ``__hash__``, an unreadable file) becomes
    ``OTraceError("<what>: <Type>: <message>")``."""
    try:
        yield
    except OTraceError:
        raise
    except BaseException as exc:
        if not shown_as_error(exc):
            raise
        raise OTraceError(f"{what}: {exception_text(exc)}") from None
