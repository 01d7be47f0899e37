"""Tracing by watching a function's code object (Python 3.12+ ``sys.monitoring``): nothing changed.

On Python 3.12 and later the tracer (core.tracer) serves exceptions-only traces (the default
condition, action None) from here. The function object and its ``__code__`` stay untouched: its
code object is watched, so every holder of the function (a router, a registry, a
``functools.partial``, a bound method) sees the trace, as with the code swap (core.codeswap), and
a call that raises nothing costs a bare call (no wrapper runs):

    >>> watch = monitoring.watch(handler, hooks)                    # doctest: +SKIP
    >>> handler()           # an exception leaving it: hooks.on_exception(exc, None, None)
    >>> monitoring.unwatch(watch)            # no event of ours left enabled anywhere

Events (``sys.monitoring``, tool name "otrace", the first free id of ``TOOL_IDS``, claimed by the
first watch and freed with the last; DEBUGGER_ID and COVERAGE_ID are left to debugpy and
coverage.py; every id in use: ``watch`` answers None and the tracer uses a wrapper):
    ``PY_UNWIND``: an exception leaving a watched function -> ``hooks.on_exception(exc, None,
        None)`` (subclasses of ``Exception`` only, like the wrapper's ``except Exception``; the
        arguments are read from the frame, as the exception leaves it; a call whose arguments
        do not bind raises in the caller, before the frame exists: not seen). PY_UNWIND is a global
        event on 3.12/3.13 (it cannot be set per code object): while anything is watched, every
        frame an exception leaves, anywhere, runs one callback (a dict lookup of its code); a call
        that raises nothing runs none.

What needs a wrapper stays one (core.wrappers through core.codeswap, decided by the tracer): a hold
(the wrapper must suspend the coroutine before the body runs: a callback cannot), break, tag, a
method a class inherits (its code is shared by every subclass), a function whose code object other
functions may share (``watchable``: a closure, a nested function, a code already watched), and the
conditions that record calls or returns (``call``, argument conditions...): a ``PY_START`` callback
costs more than the wrapper does (measured on 3.12/3.13: an unmatched ``a==77`` 190-270 ns per
call against the wrapper's 160-200; ``-c call`` recording 2.5-2.6 us against 1.9-2.1, reading the
arguments from the frame included). Python 3.11 has no ``sys.monitoring``: ``AVAILABLE`` is False
and ``watch`` is never called.

Thread-safety: ``watch`` and ``unwatch`` are serialised by one lock and may be called from any
thread (the callback too: a count used up unwatches from inside it); the callback runs on any
thread and reads the watch table with one dict lookup.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from types import CodeType, FunctionType
from typing import Any, Protocol

from otrace_server.core.codeswap import copy_of

__all__ = ["AVAILABLE", "TOOL_IDS", "TOOL_NAME", "Hooks", "Watch", "tool_id", "unwatch", "unwatched", "watch", "watchable",
           "watched"]

log = logging.getLogger("otrace")

#: True when this Python has ``sys.monitoring`` (3.12+)
AVAILABLE = hasattr(sys, "monitoring")
TOOL_NAME = "otrace"
#: tool ids tried in order: PROFILER_ID, then the two ids sys.monitoring leaves unnamed
TOOL_IDS = (2, 3, 4)
_CO_NESTED = 0x10


class Hooks(Protocol):
    """What a watch calls (core.tracer's live trace state)."""

    def on_exception(self, exc: BaseException, args: tuple | None, kwargs: dict | None) -> None: ...


@dataclass(eq=False)
class Watch:
    """One watched code object: the function's ``code`` and the ``hooks`` its events call."""

    code: CodeType
    hooks: Hooks


_lock = threading.Lock()
#: id(code) -> its Watch (by identity: equal code objects, e.g. ``unwatched``'s copy, are not watched)
_watches: dict[int, Watch] = {}
_tool: int | None = None      # the claimed tool id while anything is watched
_refused = False              # every tool id was in use (logged once)


def tool_id() -> int | None:
    """The tool id otrace holds now (None: nothing is watched)."""
    return _tool


def watchable(func: Any) -> bool:
    """True when ``func``'s code object can be watched for ``func`` alone: Python 3.12+, a plain
    function that is neither a closure nor nested in another function (functions made by the same
    ``def`` run inside a function share one code object), whose code is not watched already."""
    if not AVAILABLE or not isinstance(func, FunctionType) or func.__closure__:
        return False
    code = func.__code__
    return not code.co_flags & _CO_NESTED and id(code) not in _watches


def watched(code: CodeType) -> bool:
    """True while ``code`` is watched."""
    return id(code) in _watches


def unwatched(func: Any) -> Any:
    """``func``, or when its code object is watched, a copy of it (core.codeswap.copy_of) running
    an equal code object of its own that no watch sees: what a wrapper calls that must not be
    seen by the watch of the function it calls (a subclass's trace of a base method watched)."""
    if not isinstance(func, FunctionType) or id(func.__code__) not in _watches:
        return func
    copy = copy_of(func)
    copy.__code__ = func.__code__.replace()     # a new code object (replace always makes one)
    return copy


def watch(func: FunctionType, hooks: Hooks) -> Watch | None:
    """Watch ``func``'s code object: exceptions leaving it call ``hooks.on_exception``. None
    (nothing changed) when it cannot be watched (see ``watchable``) or every tool id of
    ``TOOL_IDS`` is used by another tool."""
    if not watchable(func):
        return None
    mon = sys.monitoring
    code = func.__code__
    with _lock:
        if id(code) in _watches or (tool := _claim()) is None:
            return None
        watch = _watches[id(code)] = Watch(code, hooks)
        if len(_watches) == 1:
            mon.set_events(tool, mon.events.PY_UNWIND)
    return watch


def unwatch(watch: Watch) -> bool:
    """Stop ``watch``: its code object's events off; with the last watch the global event too and
    the tool id is freed (no event of otrace's stays enabled). False when it was not watched."""
    mon = sys.monitoring
    global _tool
    with _lock:
        if _watches.get(id(watch.code)) is not watch:
            return False
        del _watches[id(watch.code)]
        tool = _tool
        mon.set_local_events(tool, watch.code, 0)
        if not _watches:
            mon.set_events(tool, 0)
            mon.register_callback(tool, mon.events.PY_UNWIND, None)
            mon.free_tool_id(tool)
            _tool = None
    return True


def _claim() -> int | None:
    """The tool id of otrace, claimed now if needed (lock held); None when all are in use."""
    global _tool, _refused
    if _tool is not None:
        return _tool
    mon = sys.monitoring
    for tool in TOOL_IDS:
        if mon.get_tool(tool) is not None:
            continue
        try:
            mon.use_tool_id(tool, TOOL_NAME)
        except ValueError:       # taken meanwhile by another thread's tool
            continue
        mon.register_callback(tool, mon.events.PY_UNWIND, _on_unwind)
        _tool = tool
        return tool
    if not _refused:
        _refused = True
        log.warning("otrace: sys.monitoring tool ids %s are all in use: traces use wrappers", TOOL_IDS)
    return None


# ---- the callback (any thread; it must stay cheap: PY_UNWIND runs for every frame unwound) -------
def _on_unwind(code: CodeType, offset: int, exc: BaseException, _get=_watches.get, _id=id) -> None:
    watch = _get(_id(code))           # (defaults: no global lookup on this path)
    if watch is not None and isinstance(exc, Exception):
        watch.hooks.on_exception(exc, None, None)
