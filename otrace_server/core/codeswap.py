"""Changing a function in place: its code swapped, its identity kept.

A router (``router.add_get("/", handler)``, ``Route("/", endpoint)``), a decorator's registry, a
``functools.partial`` or a bound method stored somewhere holds the function OBJECT: rebinding the
name that defined it changes nothing for them. Changing the object itself does, for every holder
at once. The tracer (core.tracer) and the patcher (core.patching) do it through this module:

    >>> copy = copy_of(handler)                                          # doctest: +SKIP
    >>> change = swap(handler, wrapper_code, {"__wrapped__": copy}, runs=copy)
    >>> handler.__code__ is wrapper_code, underneath(handler) is copy     # same object, new code
    (True, True)
    >>> restore(change)                   # the very same code object, defaults, __dict__ back
    True

``copy_of(func)``: a new function running ``func``'s code with its globals, closure (the same
cells), defaults, names and attributes: what a tracing wrapper swapped into ``func`` calls.

``constant_code(code, values, nfree)``: code compiled inside a factory whose parameters are the
names of ``values`` (``code`` reads them with ``LOAD_DEREF``), rewritten so each such read loads
the object itself as a constant of the code (``LOAD_CONST``: the same size, as fast) and given
``nfree`` unused free variables, so it can become the code of any function whose closure has
``nfree`` cells (``func.__closure__`` cannot change: the code must fit it). A code swapped in
runs with the function's own globals (the application's module, whose names may shadow
builtins), so it must read nothing from globals: builtins it uses are values too. Raises
CodeSwapError when the result cannot be proved to read nothing but its constants and locals.
(Why not compile placeholder constants directly: a string constant called or compared with
``is`` makes the compiler warn -- a SyntaxError under ``-W error`` -- and silencing it means
changing the process-wide warning filters while the application runs.)

``underneath(func)``: the function running ``func``'s own code -- its copy while a code of
otrace's that calls it is swapped in, else ``func`` itself; what tracing a traced function again,
patching it, or tracing a subclass's inherited method must read (arguments, cells, source).

Thread-safety: ``swap`` and ``restore`` are serialised by one lock and may be called from any
thread; assigning ``__code__`` is atomic, and a call already running keeps the code it started
with (frames hold their own code); calls started after the assignment run the new code.
"""

from __future__ import annotations

import dis
import threading
from dataclasses import dataclass
from types import CodeType, FunctionType
from typing import Any

from otrace_server.core.errors import OTraceError

__all__ = ["Change", "CodeSwapError", "constant_code", "copy_of", "restore", "swap", "underneath"]

_ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "<absent>"})()   # attribute not set
#: function attributes kept outside ``__dict__`` that a swap may set (a patch's new defaults...)
_FIELDS = ("__defaults__", "__kwdefaults__", "__doc__", "__annotations__")
_OP = dis.opmap
#: instructions reaching a function's closure, its globals or builtins: none may be left in code swapped in
_NOT_CONSTANT = {_OP[n] for n in ("LOAD_DEREF", "STORE_DEREF", "DELETE_DEREF", "LOAD_CLOSURE", "LOAD_CLASSDEREF",
                                  "MAKE_CELL", "LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME",
                                  "STORE_NAME", "DELETE_NAME", "EXTENDED_ARG") if n in _OP}

_lock = threading.Lock()
_underneath: dict[FunctionType, FunctionType] = {}   # function -> the function running its own code


class CodeSwapError(OTraceError):
    """Code that cannot be swapped into a function (the caller falls back to rebinding a name)."""


@dataclass(eq=False)
class Change:
    """One swap: ``function`` got ``code`` and the attributes ``applied``; ``saved`` holds what
    ``restore`` puts back (``__code__``, the fields and ``__dict__`` entries; an entry that was
    absent is removed again), ``runs`` what ``underneath(function)`` answers meanwhile."""

    function: FunctionType
    code: CodeType
    applied: dict[str, Any]
    saved: dict[str, Any]
    runs: FunctionType | None


def copy_of(func: FunctionType) -> FunctionType:
    """A new function running ``func``'s code: the same globals, closure cells, defaults, names,
    annotations and (a copy of) its ``__dict__``."""
    copy = FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__qualname__ = func.__qualname__
    copy.__module__ = func.__module__
    copy.__doc__ = func.__doc__
    copy.__annotations__ = func.__annotations__
    copy.__dict__.update(func.__dict__)
    return copy


def underneath(func: Any) -> Any:
    """The function running ``func``'s own code: the copy its swapped-in code calls while one is
    swapped in by ``swap(..., runs=copy)``, else ``func`` (anything else: itself)."""
    return _underneath.get(func, func) if isinstance(func, FunctionType) else func


def swap(func: FunctionType, code: CodeType, attrs: dict[str, Any] | None = None, *,
         runs: FunctionType | None = None, replacing: Change | None = None) -> Change:
    """Give ``func`` the code ``code`` and the attributes ``attrs`` (function fields such as
    ``__defaults__``, or ``__dict__`` entries), in place; ``runs``: the function that runs
    ``func``'s own code meanwhile (``underneath``). ``replacing``: the Change this one replaces
    (a trace replaced by another, a name patched again): what ``restore`` puts back stays what
    was there before it. Raises CodeSwapError (nothing changed) when ``code`` does not fit
    ``func``'s closure."""
    attrs = dict(attrs or {})
    nfree = len(func.__closure__ or ())
    if len(code.co_freevars) != nfree:
        raise CodeSwapError(f"{func.__qualname__}: the new code has {len(code.co_freevars)} free variable(s), "
                            f"the function's closure {nfree}")
    with _lock:
        if replacing is not None and func.__code__ is replacing.code:
            saved = dict(replacing.saved)
            for key in attrs.keys() - saved.keys():
                saved[key] = _read(func, key)
        else:
            saved = {"__code__": func.__code__, **{key: _read(func, key) for key in attrs}}
            if func in _underneath:
                saved["runs"] = _underneath[func]
        for key, value in attrs.items():
            _write(func, key, value)
        func.__code__ = code
        if runs is not None:
            _underneath[func] = runs
        else:
            _underneath.pop(func, None)
    return Change(func, code, attrs, saved, runs)


def restore(change: Change) -> bool:
    """Undo ``change``: the function's ``__code__`` is the saved code object again, its fields and
    ``__dict__`` entries as they were. False (nothing but our own attributes undone) when its code
    was changed by someone else meanwhile: that code stays."""
    func = change.function
    with _lock:
        ours = func.__code__ is change.code
        for key, value in change.applied.items():
            if ours or _read(func, key) is value:
                _write(func, key, change.saved[key])
        if not ours:
            return False
        func.__code__ = change.saved["__code__"]
        if "runs" in change.saved:
            _underneath[func] = change.saved["runs"]
        else:
            _underneath.pop(func, None)
    return True


def _read(func: FunctionType, key: str) -> Any:
    if key in _FIELDS:
        return getattr(func, key)
    return func.__dict__.get(key, _ABSENT)


def _write(func: FunctionType, key: str, value: Any) -> None:
    if key in _FIELDS:
        setattr(func, key, value)
    elif value is _ABSENT:
        func.__dict__.pop(key, None)
    else:
        func.__dict__[key] = value


def constant_code(code: CodeType, values: dict[str, Any], nfree: int) -> CodeType:
    """``code`` (compiled in a factory whose parameters are ``values``' names) reading each of
    them as a constant, with ``nfree`` unused free variables (see the module doc). Raises
    CodeSwapError when ``code`` has nested scopes, cells, an argument too large for one
    instruction, or reads anything but ``values`` and its locals."""
    if code.co_cellvars or any(isinstance(c, CodeType) for c in code.co_consts):
        raise CodeSwapError(f"{code.co_name}: nested scopes cannot be made constant")
    raw = bytearray(code.co_code)
    consts = list(code.co_consts)
    index: dict[str, int] = {}
    left = set()
    for ins in dis.get_instructions(code):
        if ins.opcode == _OP["LOAD_DEREF"] and ins.argval in values:
            if ins.argval not in index:
                index[ins.argval] = len(consts)
                consts.append(values[ins.argval])
            raw[ins.offset:ins.offset + 2] = bytes((_OP["LOAD_CONST"], index[ins.argval]))
        elif ins.opcode == _OP["COPY_FREE_VARS"]:
            raw[ins.offset:ins.offset + 2] = bytes((_OP["COPY_FREE_VARS"], nfree) if nfree else (_OP["NOP"], 0))
        elif ins.opcode in _NOT_CONSTANT:
            left.add(f"{ins.opname} {ins.argval}")
    if left:
        raise CodeSwapError(f"{code.co_name}: reads names that are not constants: {', '.join(sorted(left))}")
    if len(consts) > 256 or nfree > 255:
        raise CodeSwapError(f"{code.co_name}: too many constants or free variables")
    if nfree and not code.co_freevars:   # no COPY_FREE_VARS to give the count to
        raise CodeSwapError(f"{code.co_name}: compiled without free variables")
    free = tuple(f"_otrace_free{i}" for i in range(nfree))
    return code.replace(co_code=bytes(raw), co_consts=tuple(consts), co_freevars=free)
