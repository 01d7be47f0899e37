"""Trace contexts: detached snapshots of a traced event (arguments, locals, stack, exception).

A context never keeps a live frame object: ``capture`` copies what it needs (file, line, function
name and, for the frames nearest the event, a copy of the locals) and drops the frame before
returning (the stack walk and the stack kept are ``core.frames``). Contexts are stored by
``store.ContextStore``, which assigns their ids.

Thread-safety: ``capture`` runs on the thread of the traced call and touches only that thread's
frames. A context is not mutated after it is stored, except ``saved``/``hold``/``extra``.
"""

from __future__ import annotations

import copy
import sys
import threading
import time
from array import array
from collections.abc import Sequence
from types import CodeType, FrameType, TracebackType
from typing import Any

from otrace_server.core.frames import (MAX_FRAMES, FrameSnapshot, FrameStack, PackedStack, is_own, own_files,
                                       walk)
from otrace_server.core.reprs import safe_repr

__all__ = ["CTYPES", "PREFIXES", "MISSING", "TraceContext", "capture", "safe_label", "snapshot"]

#: context types (directories under /osh/recent) and their id prefixes
PREFIXES = {"exceptions": "ex", "asserts": "as", "traces": "tr", "holds": "hd", "breaks": "br", "tags": "tg"}
CTYPES = tuple(PREFIXES)

#: marker for "no return value recorded"
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>", "__bool__": lambda self: False})()

#: characters of an argument's (or a detached frame's) repr kept in a context
_SHORT_REPR = 72


class TraceContext:
    """A recorded trace event. ``stack`` runs outermost -> innermost; ``frame_index`` is the traced
    function's frame in it (``__up`` goes to lower indices, ``__down`` to higher ones).

    Fields (constructor arguments, in this order; all but the first eight have defaults): ctype,
    label, funcname, event (call | return | exception | assert | hold | break | tag | snapshot),
    argvalues, locals, stack (a list of FrameSnapshot, or a FrameStack from capture),
    frame_index, file, line, thread, timestamp, exc_type, exc_message, traceback, return_value
    (MISSING: none), globals, related (ids, list), extra (dict), id, saved, hold (the
    core.holds.Hold while this context is a hold). Contexts compare by identity.

    Cheap to build (``capture`` runs on the traced thread): plain slots, and fields resolved on
    first read: ``line`` (of a stack entry, from its bytecode offset), ``stack`` (the FrameStack
    of a capture), ``argvalues`` (see there), ``locals`` of call/return events (a copy of the
    arguments), ``thread`` (the name of the thread object recorded, read when shown),
    ``related``/``extra`` (created empty on first read; write them through the returned
    list/dict or by assignment)."""

    __slots__ = ("ctype", "label", "funcname", "event", "_argvalues", "_locals", "_stack", "frame_index", "file",
                 "_line", "_thread", "timestamp", "exc_type", "exc_message", "traceback", "return_value",
                 "globals", "_related", "_extra", "id", "saved", "hold")

    def __init__(self, ctype: str, label: str, funcname: str, event: str, argvalues: Any,
                 locals: dict[str, Any] | None, stack: Sequence[FrameSnapshot], frame_index: int, file: str = "",
                 line: Any = 0, thread: Any = "", timestamp: float = 0.0, exc_type: str | None = None,
                 exc_message: str | None = None, traceback: str | None = None, return_value: Any = MISSING,
                 globals: dict[str, Any] | None = None, related: list[str] | None = None,
                 extra: dict[str, Any] | None = None, id: str = "", saved: bool = False, hold: Any = None) -> None:
        given = vars()   # the arguments by name (``locals`` is one of them)
        for name in _FIELDS:
            setattr(self, name, given[name])

    def __repr__(self) -> str:
        return f"<TraceContext {self.id or self.funcname} {self.event} at {self.file}:{self.line}>"

    @property
    def stack(self) -> Sequence[FrameSnapshot]:
        """The stack, outermost first (a FrameStack for captured contexts)."""
        stack = self._stack
        if stack.__class__ is PackedStack:
            stack = self._stack = FrameStack(*stack)
        return stack

    @stack.setter
    def stack(self, value: Sequence[FrameSnapshot]) -> None:
        self._stack = value

    @property
    def line(self) -> int:
        """The line of the event in ``file``."""
        line = self._line
        if line < 0:
            line = self._line = self.stack.line_at(~line)
        return line

    @line.setter
    def line(self, value: int) -> None:
        self._line = value

    @property
    def argvalues(self) -> dict[str, Any]:
        """``{parameter: value}`` of the traced call. Given to the constructor as a dict, or in a
        form resolved on first read: the code object whose parameters to take from ``locals``, or
        ``(bind, args, kwargs)``, the call's own argument tuple and dict (never changed after the
        call, so binding them later gives what binding them at capture would have)."""
        values = self._argvalues
        if values.__class__ is not dict:
            values = self._argvalues = _resolved(values, self)
        return values

    @property
    def first_argument(self) -> Any:
        """The first argument of the traced call (``self`` of a method), or None when there is
        none; cheap: arguments bound on first read stay unbound."""
        values = self._argvalues
        if values.__class__ is tuple:            # (bind, args, kwargs)
            args = values[1]
            return args[0] if args else None
        if values.__class__ is CodeType:         # the parameters among the locals
            if not values.co_argcount:
                return None
            return self.locals.get(values.co_varnames[0])
        return next(iter(values.values()), None) if values else None

    @property
    def keyword_arguments(self) -> dict[str, Any]:
        """The arguments the traced call passed by keyword, as passed (nothing bound); {} when not
        told apart (a context made from a frame's locals, or given its arguments as a dict)."""
        values = self._argvalues
        return values[2] if values.__class__ is tuple else {}

    @property
    def locals(self) -> dict[str, Any]:
        """The traced frame's locals (for call/return events: a copy of the arguments)."""
        local = self._locals
        if local is None:
            local = self._locals = dict(self.argvalues)
        return local

    @locals.setter
    def locals(self, value: dict[str, Any]) -> None:
        self._locals = value

    @argvalues.setter
    def argvalues(self, value: dict[str, Any]) -> None:
        self._argvalues = value

    @property
    def thread(self) -> str:
        """The name of the thread the event happened on."""
        thread = self._thread
        return thread if thread.__class__ is str else thread.name

    @thread.setter
    def thread(self, value: str) -> None:
        self._thread = value

    @property
    def related(self) -> list[str]:
        """Ids of earlier contexts that involved the same tagged objects (see core.tags)."""
        related = self._related
        if related is None:
            related = self._related = []
        return related

    @related.setter
    def related(self, value: list[str]) -> None:
        self._related = value

    @property
    def extra(self) -> dict[str, Any]:
        """Data added by enrichers and endpoints (``request``, ``web_client``, ``dap_breakpoint``)."""
        extra = self._extra
        if extra is None:
            extra = self._extra = {}
        return extra

    @extra.setter
    def extra(self, value: dict[str, Any]) -> None:
        self._extra = value

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
        return ", ".join(f"{k}={safe_repr(v, _SHORT_REPR)}" for k, v in self.argvalues.items())

    @property
    def is_held(self) -> bool:
        """True while a hold on this context waits to be resumed."""
        return self.hold is not None and not self.hold.done


#: the fields of a TraceContext, as named by its constructor (each a slot, or a property over one)
_FIELDS = TraceContext.__init__.__code__.co_varnames[1:TraceContext.__init__.__code__.co_argcount]


def _resolved(values: Any, ctx: TraceContext | None = None) -> dict[str, Any]:
    """The ``{parameter: value}`` dict of a lazy argvalues form (see TraceContext.argvalues)."""
    if values.__class__ is CodeType:
        local = ctx.locals if ctx is not None else {}
        return {n: local[n] for n in _argument_names(values) if n in local}
    if values.__class__ is tuple:
        bind, args, kwargs = values
        return bind(args, kwargs)
    return values


_safe_labels: dict[str, str] = {}


def safe_label(label: str) -> str:
    """A label usable as one path component (no ``/``, no whitespace); cached per label."""
    safe = _safe_labels.get(label)
    if safe is None:
        safe = "".join("_" if (c == "/" or c.isspace()) else c for c in label) or "_"
        if len(_safe_labels) >= 10_000:   # labels of tagged objects vary: stay bounded
            _safe_labels.clear()
        _safe_labels[label] = safe
    return safe


_SPECIAL = (FrameType, TracebackType, BaseException)


def _copy_locals(mapping: dict[str, Any], deep: bool) -> dict[str, Any]:
    """A copy of a frame's locals. A context must keep no live frame: frames and tracebacks held
    in locals become their repr, exceptions a copy without traceback (see ``_detached``). Values
    are judged by their real type (``issubclass(type(v), ...)``: an application object whose
    ``__class__`` raises must not break the capture, nor the traced code)."""
    if not deep:
        for value in mapping.values():
            if issubclass(type(value), _SPECIAL):
                break
        else:
            return dict(mapping)           # the common case: nothing to detach
    out = {}
    for key, value in mapping.items():
        if issubclass(type(value), (FrameType, TracebackType)):
            out[key] = safe_repr(value, _SHORT_REPR)
        elif issubclass(type(value), BaseException) and value.__traceback__ is not None:
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
        return safe_repr(exc, _SHORT_REPR)


def capture(
    frame: FrameType | None,
    *,
    ctype: str,
    label: str,
    funcname: str,
    event: str,
    argvalues: Any = None,
    inner: list[tuple[FrameType, int]] | None = None,
    stack_locals: int = 1,
    deep: bool = False,
    exc: BaseException | None = None,
    return_value: Any = MISSING,
    func_globals: dict[str, Any] | None = None,
) -> TraceContext:
    """Snapshot a trace event into a detached TraceContext (id not yet assigned).

    ``frame`` is the traced function's frame when it exists (exceptions: from the traceback;
    traceassert: the caller), else the frame that called the traced function (``call``/``return``
    events, where ``argvalues`` must be given: a dict, or ``(bind, args, kwargs)`` to bind on first
    read, see TraceContext.argvalues). ``inner`` lists (frame, line) pairs below ``frame``
    (an exception's traceback below the traced function). Otrace's own frames are skipped. Locals
    are copied for the ``stack_locals`` frames nearest the event (shallow, or deep when ``deep``);
    for call/return events the traced function counts as the first (its locals are the arguments).

    The stack ends with the chain of coroutines that awaits the event: once the walk has met a
    coroutine (or async generator) frame, the first ordinary frame above the chain (the event
    loop's ``Handle._run``, which runs the task) is the last one kept: ``run_forever``, the
    thread's bootstrap and the rest are the loop's, not the request's.
    """
    return snapshot(frame, ctype, label, funcname, event, argvalues, inner, stack_locals, deep, exc, return_value,
                    func_globals)


def snapshot(frame: FrameType | None, ctype: str, label: str, funcname: str, event: str,
             argvalues: Any, inner: list[tuple[FrameType, int]] | None, stack_locals: int,
             deep: bool, exc: BaseException | None, return_value: Any,
             func_globals: dict[str, Any] | None) -> TraceContext:
    """``capture`` with every argument positional, in its order (the tracer's hot path: binding
    eleven keyword arguments costs about a microsecond)."""
    # call/return: the nearest frame is the caller, shown through the arguments: its locals are
    # never looked at, so the first frame whose locals are kept is the next one
    calling = argvalues is not None and (event == "call" or event == "return")
    flat, positions, near, depth = walk(frame, own_files, is_own, MAX_FRAMES,
                                        stack_locals if stack_locals > calling else 0)
    nearest_locals = None
    first = depth                    # the outermost frame whose locals are kept (depth: none)
    if len(near) > calling:          # copy the locals of frames calling .. len(near)-1
        kept = [_copy_locals(f.f_locals, deep) for f in near[calling:]]   # nearest first
        if not calling:
            nearest_locals = kept[0]
        kept.reverse()
        flat = flat + kept           # exact size (``+=`` would over-allocate: a context keeps it)
        first = depth - len(near)
    del near                         # a context keeps no frame
    count = depth
    where = depth - 1                # the stack entry of the context's file:line (-1: none)
    if inner:   # an exception's frames below the traced one: pairs go before the kept locals
        codes: list = []
        for i, (fr, lineno) in enumerate(inner):
            codes.append(fr.f_code)
            if i < stack_locals:
                flat.append(_copy_locals(fr.f_locals, deep))
        flat[depth:depth] = codes
        positions += array("i", [~(lineno or 0) for _, lineno in inner]).tobytes()
        count += len(inner)
        if exc is not None:
            where = count - 1
    if calling:
        local_values = None            # a copy of the arguments, made on first read
        if deep:
            argvalues = _copy_locals(_resolved(argvalues), True)
            if return_value is not MISSING:   # the value as returned, like the arguments
                return_value = _copy_locals({"r": return_value}, True)["r"]
    else:
        values: dict[str, Any] = {}
        if frame is not None:
            values = nearest_locals if nearest_locals is not None else _copy_locals(frame.f_locals, deep)
        if argvalues is None:
            argvalues = frame.f_code if frame else {}   # resolved from the locals on first read
        elif deep:
            argvalues = _copy_locals(_resolved(argvalues), True)
        local_values = values if frame is not None else dict(_resolved(argvalues))
    if where >= 0:
        file = flat[where].co_filename
        line = ~where                # the line of stack[where], resolved on first read
    else:
        file = ""
        line = 0
    try:                             # threading.current_thread(), remembered per thread
        thread = _threads.thread
    except AttributeError:
        thread = _threads.thread = threading.current_thread()
    if func_globals is None and frame is not None:
        func_globals = frame.f_globals
    exc_type = exc_message = None
    if exc is not None:
        exc_type = type(exc).__name__
        exc_message = str(exc)
    # the fields set in place (calling TraceContext costs about a fifth more here): the slots of
    # every field of _FIELDS (tests check that a captured context has every one)
    ctx = _new_context(TraceContext)
    ctx.ctype = ctype
    ctx.label = label
    ctx.funcname = funcname
    ctx.event = event
    ctx._argvalues = argvalues       # resolved on first read (see TraceContext.argvalues)
    ctx._locals = local_values       # None: a copy of the arguments, made on first read
    ctx._stack = PackedStack((flat, positions, count, first))   # the FrameStack is made on first read
    ctx.frame_index = depth - 1
    ctx.file = file
    ctx._line = line
    ctx._thread = thread             # the Thread, whose name is read when shown
    ctx.timestamp = _now()
    ctx.return_value = return_value
    ctx.globals = func_globals
    ctx.exc_type = exc_type
    ctx.exc_message = exc_message
    ctx.traceback = ctx._related = ctx._extra = ctx.hold = None
    ctx.id = ""
    ctx.saved = False
    return ctx


_new_context = object.__new__
_now = time.time
_threads = threading.local()   # .thread: the thread's Thread object (a C lookup, not a Python call)


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
