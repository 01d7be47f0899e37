"""``traceassert(condition, label="", action=None)``: record (and optionally hold or break) when a
condition is false and tracing is active.

    await traceassert(number != "77", label="hold_check", action="hold")   # in a coroutine
    traceassert(total >= 0, label="total_check")                            # anywhere

Cost: when the condition is true or tracing is inactive, one call, two tests and a return
(``trace_active`` of the default engine is mirrored in a module global by a
``Settings.after_change`` observer, bound when that engine is made: until then it is False, the
default, and nothing is recorded).

Actions:
    None      record a context under /osh/recent/asserts
    "break"   record under breaks and block the calling thread until ``resume`` from another thread
              (on an event loop thread this blocks the whole loop: use "hold" there)
    "hold"    in a coroutine, ``await`` it: record under holds and suspend only this coroutine until
              ``resume``; the loop keeps running. Needs otrace started (``otrace_server.start``) and a
              running asyncio loop; otherwise the failure is recorded as an assert and a warning is
              logged. When the condition is true (or tracing inactive) the awaitable completes at once.
              Not awaiting the returned object logs a warning and resumes the hold.
A misspelt action raises OTraceError on every call, whether or not the condition holds.
Returns: None, except for "hold" (an awaitable whose result is the resume value) and "break" (the
resume value).
"""

from __future__ import annotations

import sys

from otrace_server.core.context import capture
from otrace_server.core.engine import READY, Engine, when_default_engine
from otrace_server.core.errors import OTraceError

__all__ = ["traceassert"]

_ACTIONS = (None, "hold", "break")
_KINDS = {None: ("asserts", "assert"), "hold": ("holds", "hold"), "break": ("breaks", "break")}  # ctype, event
_engine: Engine | None = None       # the default engine, once made (_active is False until then)
_active: bool = False


def _bind(engine: Engine) -> None:
    """Report to the default engine once it exists and mirror its ``trace_active``."""
    global _engine, _active
    _engine = engine
    _active = engine.settings.trace_active
    engine.settings.after_change(_track)


def _track(name: str, value) -> None:
    """Mirror ``trace_active`` once a new value is stored (a vetoed ``set`` never gets here)."""
    global _active
    if name == "trace_active":
        _active = value


when_default_engine(_bind)


def traceassert(condition, label: str = "", action: str | None = None):
    """Record a trace context when ``condition`` is false and tracing is active (see module doc)."""
    if condition or not _active:
        if action is None:
            return None
        if action == "hold":
            return READY
        if action == "break":
            return None
        _check(action)   # a misspelt action is reported at once, not first when the condition fails
    return _failed(sys._getframe(1), label, action)


def _check(action) -> None:
    if action not in _ACTIONS:
        raise OTraceError(f"traceassert: unknown action {action!r} (None, 'hold' or 'break')")


def _failed(frame, label: str, action: str | None):
    _check(action)
    code = frame.f_code
    ctype, event = _KINDS[action]
    settings = _engine.settings   # bound: _active is True only once the default engine exists
    ctx = capture(frame, ctype=ctype, label=label or f"line{frame.f_lineno}", funcname=code.co_qualname,
                  event=event,
                  stack_locals=settings.stack_locals, deep=settings.deep_copy)
    del frame
    if action == "hold":
        return _engine.start_hold(ctx)
    if action == "break":
        return _engine.start_break(ctx)
    _engine.record_later(ctx)
    return None
