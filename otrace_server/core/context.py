"""Trace contexts: detached snapshots of a traced event (arguments, locals, stack, exception).

A context never keeps a live frame object: ``capture`` copies what it needs (file, line, function
name and, for the frames nearest the event, a copy of the locals) and drops the frame before
returning. Contexts are stored by ``store.ContextStore``, which assigns their ids.

Thread-safety: ``capture`` runs on the thread of the traced call and touches only that thread's
frames. A context is not mutated after it is stored, except ``saved``/``hold``/``extra``.
"""

from __future__ import annotations

import copy
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any

__all__ = ["CTYPES", "PREFIXES", "MISSING", "FrameSnapshot", "TraceContext", "capture",
           "frames_from_traceback"]

#: context types (directories under /osh/recent) and their id prefixes
PREFIXES = {"exceptions": "ex", "asserts": "as", "traces": "tr", "holds": "hd", "breaks": "br", "tags": "tg"}
CTYPES = tuple(PREFIXES)

#: marker for "no return value recorded"
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>", "__bool__": lambda self: False})()

_OWN_MODULE_PREFIX = "otrace_server.core"
_MAX_FRAMES = 64


@dataclass(slots=True)
class FrameSnapshot:
    """One stack frame, detached: file, line, function name, and a copy of its locals (or None)."""

    file: str
    line: int
    function: str
    locals: dict[str, Any] | None = None


@dataclass(slots=True, eq=False)
class TraceContext:
    """A recorded trace event. ``stack`` runs outermost -> innermost; ``frame_index`` is the traced
    function's frame in it (``__up`` goes to lower indices, ``__down`` to higher ones)."""

    ctype: str
    label: str
    funcname: str
    event: str                      # call | return | exception | assert | hold | break | tag | snapshot
    argvalues: dict[str, Any]
    locals: dict[str, Any]
    stack: list[FrameSnapshot]
    frame_index: int
    file: str = ""
    line: int = 0
    thread: str = ""
    timestamp: float = 0.0
    exc_type: str | None = None
    exc_message: str | None = None
    traceback: str | None = None
    return_value: Any = MISSING
    globals: dict[str, Any] | None = field(default=None, repr=False)
    related: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    saved: bool = False
    hold: Any = None                # the core.holds.Hold while this context is a hold

    @property
    def prefix(self) -> str:
        """Two-letter id prefix of the context type (``ex``, ``as``, ``tr``, ``hd``, ``br``, ``tg``)."""
        return PREFIXES[self.ctype]

    @property
    def time_label(self) -> str:
        """The ``HH-MM-SS[.n]`` part of the id (the last path component)."""
        return self.id.rsplit(":", 1)[-1]

    @property
    def path(self) -> list[str]:
        """Path components below /osh: ``recent/<ctype>/<funcname>/<prefix>-<label>/<time>``."""
        return ["recent", self.ctype, self.funcname, f"{self.prefix}-{safe_label(self.label)}", self.time_label]

    @property
    def where(self) -> str:
        """The call chain up to the traced function, ``a-->b-->c``."""
        names = [f.function for f in self.stack[: self.frame_index + 1]]
        return "-->".join(names)

    @property
    def argstr(self) -> str:
        """``name=repr, ...`` of the arguments (each repr truncated)."""
        return ", ".join(f"{k}={_short_repr(v)}" for k, v in self.argvalues.items())

    @property
    def is_held(self) -> bool:
        """True while a hold on this context waits to be resumed."""
        return self.hold is not None and not self.hold.done


def safe_label(label: str) -> str:
    """A label usable as one path component (no ``/``, no whitespace)."""
    return "".join("_" if (c == "/" or c.isspace()) else c for c in label) or "_"


def _short_repr(value: Any, limit: int = 72) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break tracing
        text = f"<unrepresentable {type(value).__name__}: {exc}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


_FRAME_TYPES = (FrameType, TracebackType)


def _copy_locals(mapping: dict[str, Any], deep: bool) -> dict[str, Any]:
    """A copy of a frame's locals. A context must keep no live frame: frames and tracebacks held
    in locals become their repr, exceptions a copy without traceback (see ``_detached``)."""
    out = {}
    for key, value in mapping.items():
        if isinstance(value, _FRAME_TYPES):
            out[key] = _short_repr(value)
        elif isinstance(value, BaseException) and value.__traceback__ is not None:
            out[key] = _detached(value)
        elif deep:
            try:
                out[key] = copy.deepcopy(value)
            except Exception:
                out[key] = value
        else:
            out[key] = value
    return out


def _detached(exc: BaseException) -> BaseException | str:
    """A copy of ``exc`` (same type, args and attributes) without traceback, cause or context, so
    it holds no frame; its repr when it cannot be copied."""
    try:
        twin = copy.copy(exc)
        twin.__traceback__ = twin.__cause__ = twin.__context__ = None
        return twin
    except Exception:
        return _short_repr(exc)


def _is_own(frame: FrameType) -> bool:
    name = frame.f_globals.get("__name__", "")
    return isinstance(name, str) and name.startswith(_OWN_MODULE_PREFIX)


def frames_from_traceback(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    """The (frame, line) pairs of a traceback, outermost first, skipping otrace's own wrapper
    frames (the ``inner`` argument of ``capture``)."""
    frames = []
    while tb is not None:
        if not _is_own(tb.tb_frame):
            frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def capture(
    frame: FrameType | None,
    *,
    ctype: str,
    label: str,
    funcname: str,
    event: str,
    argvalues: dict[str, Any] | None = None,
    inner: list[tuple[FrameType, int]] | None = None,
    stack_locals: int = 4,
    deep: bool = False,
    exc: BaseException | None = None,
    return_value: Any = MISSING,
    func_globals: dict[str, Any] | None = None,
) -> TraceContext:
    """Snapshot a trace event into a detached TraceContext (id not yet assigned).

    ``frame`` is the traced function's frame when it exists (exceptions: from the traceback;
    traceassert: the caller), else the frame that called the traced function (``call``/``return``
    events, where ``argvalues`` must be given). ``inner`` lists (frame, line) pairs below ``frame``
    (an exception's traceback below the traced function). Otrace's own frames are skipped. Locals
    are copied for the ``stack_locals`` frames nearest the event (shallow, or deep when ``deep``).
    """
    outer: list[FrameSnapshot] = []
    f = frame
    depth = 0
    while f is not None and depth < _MAX_FRAMES:
        if not _is_own(f):
            keep = depth < stack_locals
            code = f.f_code
            outer.append(FrameSnapshot(code.co_filename, f.f_lineno, code.co_name,
                                       _copy_locals(f.f_locals, deep) if keep else None))
            depth += 1
        f = f.f_back
    outer.reverse()
    frame_index = len(outer) - 1
    below = []
    for i, (fr, lineno) in enumerate(inner or ()):
        code = fr.f_code
        below.append(FrameSnapshot(code.co_filename, lineno, code.co_name,
                                   _copy_locals(fr.f_locals, deep) if i < stack_locals else None))
    stack = outer + below
    own = stack[frame_index] if frame_index >= 0 else None
    frame_locals: dict[str, Any] = {}
    if frame is not None:
        frame_locals = own.locals if own is not None and own.locals is not None else _copy_locals(frame.f_locals, deep)
    if argvalues is None:
        argvalues = {n: frame_locals[n] for n in _argument_names(frame.f_code) if n in frame_locals} if frame else {}
    elif deep:
        argvalues = _copy_locals(argvalues, True)
    local_values = frame_locals if frame is not None and event not in ("call", "return") else dict(argvalues)
    where = stack[-1] if (exc is not None and stack) else own
    ctx = TraceContext(
        ctype=ctype, label=label, funcname=funcname, event=event,
        argvalues=argvalues, locals=local_values, stack=stack, frame_index=frame_index,
        file=where.file if where else "", line=where.line if where else 0,
        thread=threading.current_thread().name, timestamp=time.time(),
        return_value=return_value,
        globals=func_globals if func_globals is not None else (frame.f_globals if frame is not None else None),
    )
    if exc is not None:
        ctx.exc_type = type(exc).__name__
        ctx.exc_message = str(exc)
    return ctx


def _argument_names(code) -> list[str]:
    """The parameter names of a code object in signature order (``a, *args, b, **kw``)."""
    names = code.co_varnames
    n, k = code.co_argcount, code.co_kwonlyargcount
    out = list(names[:n])
    extra = n + k
    if code.co_flags & 0x04:  # CO_VARARGS: its name follows the keyword-only ones
        out.append(names[extra])
        extra += 1
    out.extend(names[n:n + k])
    if code.co_flags & 0x08:  # CO_VARKEYWORDS
        out.append(names[extra])
    return out


def caller_frame(depth: int = 2) -> FrameType:
    """The frame ``depth`` levels above the caller of this function (a cheap ``sys._getframe``)."""
    return sys._getframe(depth)
