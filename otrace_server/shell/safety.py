"""Is this application code? The one decision safe mode rests on, and the net that enforces it.

"Library code" is the interpreter's own: builtins and C slots of builtin types, and Python functions
whose code lives under the standard library's directory (``sysconfig`` ``stdlib``/``platstdlib``,
``<frozen ...>`` modules; never ``site-packages``). Everything else is application code, third-party
packages included. The decision is made from where a function's code lives, never from a class's
``__module__`` (a class may claim any module).

    refuse_special(value, names, what)   OTraceError when one of the special methods ``names`` of
                                          ``type(value)`` is not library code (a call)
    special_of(cls, name)                 the attribute Python would use, found without running code
    with NoAppCode(): ...                 while active on this thread, a Python frame of application
                                          code is stopped before its first instruction (OTraceError
                                          on exit), even when C code or a library function calls it
    repr_without_app_code(value)          repr without application code (``<mod.Cls object at 0x..>``
                                          where a repr would run it)

A special method counts as library code only when it is a builtin (a C slot, a function of a module,
never a builtin method bound to some object, whose state it could change) or a plain function whose
code is library code; any other kind (a wrapper, ``functools.partial``/``partialmethod``, an
``lru_cache``, a callable object, a descriptor) is treated as a call. ``NoAppCode`` lets frames of
library code, of otrace itself and of the evaluated expression run; frames started by the garbage
collector (an application's ``__del__``, a ``gc.callbacks`` entry) and the application's signal
handlers run unhindered, as they would without otrace.

Thread-safety: every function may be called from any thread; ``NoAppCode`` acts on the calling
thread only (``sys.setprofile``) and restores the thread's previous profile function on exit.
"""

from __future__ import annotations

import functools
import gc
import os
import signal
import sys
import sysconfig
import threading
import types
from typing import Any, Iterable

from otrace_server.core.errors import OTraceError
from otrace_server.core.policy import refused

__all__ = ["NOT_FOUND", "NoAppCode", "refuse_special", "special_of", "is_library_special",
           "is_iterator", "repr_without_app_code", "type_name"]

# Attribute reads on a class that no metaclass can intercept (type's own descriptors).
_mro = type.__dict__["__mro__"].__get__
_class_dict = type.__dict__["__dict__"].__get__
_qualname = type.__dict__["__qualname__"].__get__

_SITE = frozenset({"site-packages", "dist-packages"})
_LIBRARY_ROOTS = tuple(sorted({os.path.realpath(p) for p in (
    sysconfig.get_paths().get("stdlib"), sysconfig.get_paths().get("platstdlib"),
    os.path.dirname(os.__file__)) if p}))
_OTRACE_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
#: exact builtin types whose operators, hashing, truth and iteration run no Python code
_PLAIN = frozenset({int, float, complex, bool, str, bytes, type(None), tuple, list, dict, set, frozenset,
                    range, slice, bytearray, type(Ellipsis), type(NotImplemented)})


def type_name(cls: type) -> str:
    """``cls.__qualname__`` read without running a metaclass's code."""
    return str(_qualname(cls))


@functools.lru_cache(maxsize=4096)
def _under(filename: str, root: str) -> bool:
    real = os.path.realpath(filename)
    if not real.startswith(root + os.sep):
        return False
    return not _SITE.intersection(real[len(root) + 1:].split(os.sep))


def _library_file(filename: str) -> bool:
    if filename.startswith("<frozen "):
        return True
    return os.path.isabs(filename) and any(_under(filename, root) for root in _LIBRARY_ROOTS)


def _library_code(code: types.CodeType) -> bool:
    if _library_file(code.co_filename):
        return True
    # the standard library's dataclasses generate __repr__/__eq__/... with exec: code "<string>"
    return code.co_filename == "<string>" and code.co_qualname.startswith("__create_fn__.<locals>.")


def is_library_special(attr: Any) -> bool:
    """True when ``attr``, found as a special method on a class, is library code (see module doc);
    False for anything that would run application code or change an object's state."""
    if attr is None:                         # e.g. __hash__ = None: unhashable, no code
        return True
    kind = type(attr)
    if kind in (types.WrapperDescriptorType, types.MethodDescriptorType, types.ClassMethodDescriptorType):
        return True
    if kind in (types.BuiltinFunctionType, types.MethodWrapperType):
        owner = attr.__self__
        return owner is None or type(owner) is types.ModuleType
    if kind is types.FunctionType:
        return _library_code(attr.__code__)
    if kind in (staticmethod, classmethod):
        return is_library_special(attr.__func__)
    return False


#: what ``special_of`` answers for an attribute that is not there
NOT_FOUND = object()


def special_of(cls: type, name: str) -> Any:
    """The attribute ``name`` of class ``cls`` as Python finds a special method (along the MRO,
    without running any code); a module-private sentinel when absent."""
    for klass in _mro(cls):
        namespace = _class_dict(klass)
        if name in namespace:
            return namespace[name]
    return NOT_FOUND


def is_iterator(value: Any) -> bool:
    """True when ``value`` is an iterator (its type has ``__next__``): reading it consumes it."""
    return special_of(type(value), "__next__") is not NOT_FOUND


def refuse_special(value: Any, names: Iterable[str], what: str) -> None:
    """Raise OTraceError when ``what`` on ``value`` may run one of the special methods ``names`` of
    its class and that method is not library code (a call, in safe mode)."""
    cls = type(value)
    if cls in _PLAIN:
        return
    for name in names:
        attr = special_of(cls, name)
        if attr is not NOT_FOUND and not is_library_special(attr):
            raise OTraceError(refused("calls", f"{what} on a {type_name(cls)} may run its {name}"))


class _Blocked(BaseException):
    """Raised into a frame of application code before it runs (a BaseException, so that library
    code's ``except Exception`` does not swallow it)."""


class _ThreadState(threading.local):
    collecting = 0      # > 0 while the garbage collector runs on this thread


_state = _ThreadState()


def _gc_phase(phase: str, info: dict) -> None:
    _state.collecting = max(0, _state.collecting + (1 if phase == "start" else -1))   # never stuck below 0


gc.callbacks.append(_gc_phase)


def _signal_handlers() -> set[types.CodeType]:
    handlers = set()
    for number in signal.valid_signals():
        try:
            handler = signal.getsignal(number)
        except (ValueError, OSError):
            continue
        code = getattr(getattr(handler, "__func__", handler), "__code__", None)
        if code is not None:
            handlers.add(code)
    return handlers


def _describe(code: types.CodeType) -> str:
    where = f"{code.co_qualname} ({os.path.basename(code.co_filename)}:{code.co_firstlineno})"
    return where.encode("ascii", "backslashreplace").decode("ascii")


class NoAppCode:
    """A context manager: while active, application code on this thread is stopped before it runs
    (see the module doc); on exit, OTraceError names the first function stopped. ``allowed`` is a
    code object that may run (the evaluated expression). Re-entrant: an inner guard restores the
    outer one."""

    def __init__(self, allowed: types.CodeType | None = None) -> None:
        self.allowed = allowed
        self.stopped: str | None = None
        self._previous: Any = None

    def _profile(self, frame: types.FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        if code is self.allowed or _state.collecting:
            return
        filename = code.co_filename
        if _library_code(code) or (os.path.isabs(filename) and _under(filename, _OTRACE_ROOT)):
            return
        if any(getattr(getattr(callback, "__func__", callback), "__code__", None) is code for callback in gc.callbacks):
            return                # a collection's callback, at its start or end: not ours to stop
        if threading.current_thread() is threading.main_thread() and code in _signal_handlers():
            return                # the application's signal handler, called between two instructions
        if self.stopped is None:
            self.stopped = _describe(code)
        raise _Blocked(self.stopped)

    def check(self) -> None:
        """Raise OTraceError now when application code was stopped (something may have swallowed
        the exception, and CPython removes a profile function that raised: nothing more may run)."""
        if self.stopped is not None:
            raise OTraceError(refused("calls", f"this would run application code: {self.stopped}"))

    def __enter__(self) -> NoAppCode:
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        sys.setprofile(self._previous)
        if kind is not None and issubclass(kind, _Blocked) or self.stopped is not None:
            self.check()
        return False


def _guarded_repr(value: Any) -> str | None:
    try:
        with NoAppCode():
            return repr(value)
    except OTraceError:
        return None


def repr_without_app_code(value: Any, limit: int = 100_000) -> str:
    """``repr(value)`` when it runs no application code; otherwise builtin containers are shown
    item by item and an object whose repr would run application code as ``object.__repr__`` does
    (``<module.Class object at 0x...>``). Stops adding items past ``limit`` characters."""
    text = _guarded_repr(value)
    return text if text is not None else _fallback(value, limit, 0)


def _fallback(value: Any, limit: int, depth: int) -> str:
    cls = type(value)
    if depth > 20 or cls not in (list, tuple, set, frozenset, dict):
        return object.__repr__(value)
    parts: list[str] = []
    size = 0
    items = value.items() if cls is dict else value
    for item in items:
        if size > limit:
            parts.append("...")
            break
        if cls is dict:
            text = f"{_one(item[0], limit, depth)}: {_one(item[1], limit, depth)}"
        else:
            text = _one(item, limit, depth)
        parts.append(text)
        size += len(text) + 2
    body = ", ".join(parts)
    if cls is list:
        return f"[{body}]"
    if cls is tuple:
        return f"({body},)" if len(parts) == 1 else f"({body})"
    if cls is dict:
        return "{" + body + "}"
    if not parts:
        return f"{cls.__name__}()"
    return "{" + body + "}" if cls is set else f"frozenset({{{body}}})"


def _one(value: Any, limit: int, depth: int) -> str:
    text = _guarded_repr(value)
    return text if text is not None else _fallback(value, limit, depth + 1)
