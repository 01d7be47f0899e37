"""Looking at application objects without trusting them: type checks and names that run none of
the object's code, and the text of an exception an object raised.

    >>> class Liar:
    ...     @property
    ...     def __class__(self):
    ...         raise RuntimeError("no")
    >>> is_instance(Liar(), dict), is_class(Liar), type_name(Liar())
    (False, True, 'Liar')
    >>> exception_text(KeyError("x"))
    "KeyError: 'x'"

``isinstance(obj, cls)`` reads ``obj.__class__`` when the real type does not match, which runs an
application's ``__getattribute__`` or ``__class__`` property (that may raise or lie), and
``type(obj).__name__`` runs its metaclass's ``__getattribute__``. These functions look at the real
type only and never raise: what the shell, the trace database and the editors' payloads use to
decide how to show a value they do not own.

Thread-safety: pure functions, any thread.
"""

from __future__ import annotations

import threading
import types
from typing import Any

from otrace_server.core.errors import MAX_ERROR_CHARS

__all__ = ["is_instance", "is_class", "is_module", "is_routine", "type_name", "exception_message",
           "exception_text", "shown_as_error"]

_type_name = type.__dict__["__name__"].__get__
_ROUTINES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.MethodDescriptorType,
             types.WrapperDescriptorType, types.MethodWrapperType, types.ClassMethodDescriptorType)


def is_instance(value: Any, cls: type | tuple[type, ...]) -> bool:
    """True when the real type of ``value`` is ``cls`` (a class or a tuple of classes) or a subclass
    of it. Unlike ``isinstance`` it never reads ``value.__class__``; it never raises (False)."""
    try:
        return issubclass(type(value), cls)
    except Exception:   # an ABC's subclass hook reading a hostile metaclass's attributes
        return False


def is_class(value: Any) -> bool:
    """True when ``value`` really is a class (``inspect.isclass`` without reading ``__class__``)."""
    return is_instance(value, type)


def is_module(value: Any) -> bool:
    """True when ``value`` really is a module (of ``types.ModuleType`` or a subclass)."""
    return is_instance(value, types.ModuleType)


def is_routine(value: Any) -> bool:
    """True for functions, methods and builtin/method descriptors (``inspect.isroutine`` by the
    real type: an object whose ``__getattr__`` answers ``__get__`` is not a routine)."""
    return is_instance(value, _ROUTINES)


def type_name(value: Any) -> str:
    """The ``__name__`` of ``value``'s real type, read without its metaclass's code."""
    return _type_name(type(value))


def exception_message(exc: BaseException) -> str:
    """``str(exc)`` (cut at ``errors.MAX_ERROR_CHARS``), or ``"<unprintable message>"`` when the
    exception's ``__str__`` fails."""
    try:
        message = str(exc)
    except Exception:
        return "<unprintable message>"
    return message if len(message) <= MAX_ERROR_CHARS else message[:MAX_ERROR_CHARS] + "..."


def exception_text(exc: BaseException) -> str:
    """``"Type: message"`` (``"Type"`` alone for an empty message; see ``exception_message``).
    Never raises."""
    message = exception_message(exc)
    name = type_name(exc)
    return f"{name}: {message}" if message else name


def shown_as_error(exc: BaseException) -> bool:
    """Whether an exception raised while otrace ran application code (a ``__repr__``, a property,
    an expression) is shown as that command's error rather than let through: every ``Exception``,
    ``SystemExit`` (an object's code cannot end the debugger's console or the control plane), and
    ``KeyboardInterrupt`` off the main thread (there it cannot be the user's Ctrl-C)."""
    if isinstance(exc, (Exception, SystemExit)):
        return True
    return isinstance(exc, KeyboardInterrupt) and threading.current_thread() is not threading.main_thread()
