"""Resolving what to trace (or patch): ``"Receive.respond"``, ``"func"``, ``"mod.Class.meth"`` in a
namespace dict (usually the application's ``globals()``), or a function/method object. A name
the namespace does not resolve is looked up as an imported module's dotted name (the longest
prefix in ``sys.modules``): ``"main.read_item"`` reaches the app module a server imported by name
(``uvicorn main:app``, whose script's own ``main`` is uvicorn's command), ``"app.routers.items.f"``.

    >>> class Receive:
    ...     def respond(self): pass
    >>> t = resolve("Receive.respond", {"Receive": Receive})
    >>> t.owner is Receive, t.attr, t.kind, t.original is Receive.__dict__["respond"]
    (True, 'respond', 'method', True)

A Target says where the attribute lives (``owner``: the namespace dict, a class or a module, and
``attr``) and what is stored there (``original``: the raw object, e.g. the ``classmethod`` object
itself). For a method a class inherits, ``owner`` is the class named and ``inherited`` is True:
installing something sets the attribute on that class, and removing it deletes it again.

Kinds: function, method, classmethod, staticmethod, coroutine, generator, asyncgen (the last three
for ``async def`` / generator functions and methods). ``function`` is the plain Python function
underneath (unwrapped from classmethod/staticmethod, and from a tracing wrapper: see ``untraced``).

Thread-safety: resolve only reads; it may be called from any thread.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from types import FunctionType, MethodType
from typing import Any

from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import exception_text, is_class, is_instance, is_module, type_name
from otrace_server.core.reprs import safe_repr

__all__ = ["Target", "resolve", "from_object", "untraced", "KINDS"]

KINDS = ("function", "method", "classmethod", "staticmethod", "coroutine", "generator", "asyncgen")


@dataclass(frozen=True, eq=False)
class Target:
    """A traceable attribute: ``owner`` (dict, class or module), ``attr``, ``qualname`` (the dotted
    name, e.g. ``Receive.respond``), ``original`` (the object stored there), ``kind`` (see
    ``KINDS``), ``function`` (the Python function underneath) and ``inherited`` (True when a
    class inherits the attribute instead of defining it)."""

    owner: Any = field(repr=False)
    attr: str
    qualname: str
    original: Any
    kind: str
    function: FunctionType | None = None
    inherited: bool = False

    @property
    def key(self) -> tuple[int, str]:
        """Identity of the slot ``(id(owner), attr)``: two Targets with the same key are the same slot."""
        return (id(self.owner), self.attr)

    def current(self) -> Any:
        """What the slot holds now (the inherited object when the class does not define it)."""
        if is_instance(self.owner, dict):
            return self.owner.get(self.attr)
        if is_class(self.owner):
            for klass in self.owner.__mro__:
                if self.attr in klass.__dict__:
                    return klass.__dict__[self.attr]
            return None
        return self.owner.__dict__.get(self.attr)

    def install(self, value: Any) -> None:
        """Store ``value`` in the slot (on the named class itself for an inherited method)."""
        if is_instance(self.owner, dict):
            self.owner[self.attr] = value
        else:
            setattr(self.owner, self.attr, value)

    def restore(self) -> None:
        """Put ``original`` back (for an inherited method: delete the class's own attribute)."""
        if self.inherited:
            if self.attr in self.owner.__dict__:
                delattr(self.owner, self.attr)
        else:
            self.install(self.original)


def untraced(func: Any) -> Any:
    """The function a tracing wrapper of core.tracer stands for (``func`` itself for anything else).

    A traced method that a subclass inherits, or a traced function stored under a second name,
    is reached as the wrapper: tracing or patching it there must use the function underneath
    (its arguments, its module globals), not the wrapper (whose trace may be removed meanwhile)."""
    if not is_instance(func, FunctionType):   # wrappers are functions; other objects' __getattr__ may answer anything
        return func
    trace = func.__dict__.get("__otrace_trace__")
    return func if trace is None else trace.spec.target.function


def _kind(raw: Any, in_class: bool, name: str) -> tuple[str, FunctionType]:
    if is_instance(raw, classmethod):
        func, kind = untraced(raw.__func__), "classmethod"
    elif is_instance(raw, staticmethod):
        func, kind = untraced(raw.__func__), "staticmethod"
    else:
        func, kind = untraced(raw), "method" if in_class else "function"
    if not is_instance(func, FunctionType):
        what = "a class" if is_class(func) else f"a {type_name(func)}"
        raise OTraceError(f"{name} is {what}, not a Python function or method")
    if kind in ("method", "function"):
        if inspect.isasyncgenfunction(func):
            kind = "asyncgen"
        elif inspect.iscoroutinefunction(func):
            kind = "coroutine"
        elif inspect.isgeneratorfunction(func):
            kind = "generator"
    return kind, func


def resolve(name: str, namespace: dict[str, Any] | None) -> Target:
    """Resolve a dotted name in ``namespace``, else from an imported module (see the module's
    docstring). Raises OTraceError (one line; the namespace's error) for an unknown name, an
    empty/malformed name, or a name that is not a Python function or method."""
    if not isinstance(name, str) or not name.strip():
        raise OTraceError(f"expected a dotted name such as Class.method, got {name!r}")
    if namespace is None:
        raise OTraceError(f"cannot resolve {name!r}: no namespace given")
    parts = [p.strip() for p in name.strip().split(".")]
    if not all(p.isidentifier() for p in parts):
        raise OTraceError(f"bad name {name!r}: expected identifiers separated by dots")
    try:
        return _walk(parts, namespace, 0)
    except OTraceError as error:
        for first in range(len(parts) - 1, 0, -1):   # an imported module's dotted name, longest first
            module = sys.modules.get(".".join(parts[:first]))
            if is_module(module):
                try:
                    return _walk(parts, module, first)
                except OTraceError:
                    break
        raise error from None


def _walk(parts: list[str], owner: Any, first: int) -> Target:
    """The Target of ``parts`` from ``owner`` (the namespace dict when ``first`` is 0, else the
    module named by ``parts[:first]``)."""
    for i in range(first, len(parts) - 1):
        part = parts[i]
        try:
            owner = owner[part] if i == 0 else getattr(owner, part)
        except (KeyError, AttributeError):
            raise OTraceError(f"unknown name {'.'.join(parts[:i + 1])!r}") from None
        except Exception as exc:   # the application's __getattr__ or property
            raise OTraceError(f"cannot resolve {'.'.join(parts[:i + 1])!r}: {exception_text(exc)}") from None
    attr, qualname = parts[-1], ".".join(parts)
    try:
        return _target(owner, attr, qualname)
    except OTraceError:
        raise
    except Exception as exc:   # a metaclass or module whose attributes raise
        raise OTraceError(f"cannot resolve {qualname!r}: {exception_text(exc)}") from None


def _target(owner: Any, attr: str, qualname: str) -> Target:
    inherited = False
    if is_instance(owner, dict):
        if attr not in owner:
            raise OTraceError(f"unknown name {qualname!r}")
        raw = owner[attr]
    elif is_class(owner):
        for klass in owner.__mro__:
            if attr in klass.__dict__:
                raw, inherited = klass.__dict__[attr], klass is not owner
                break
        else:
            raise OTraceError(f"unknown name {qualname!r}: {owner.__name__} has no attribute {attr!r}")
    elif is_module(owner):
        if attr not in owner.__dict__:
            raise OTraceError(f"unknown name {qualname!r}")
        raw = owner.__dict__[attr]
    elif type(owner).__module__ == "builtins":   # a function, a number, a list...: nothing to name instead
        raise OTraceError(f"{qualname!r}: {qualname.rpartition('.')[0]!r} is a {type_name(owner)}, "
                          f"not a class or module")
    else:
        raise OTraceError(f"{qualname!r} is reached through a {type_name(owner)} instance: name it on "
                          f"its class ({type_name(owner)}.{attr})")
    kind, func = _kind(raw, is_class(owner), qualname)
    return Target(owner, attr, qualname, raw, kind, func, inherited)


def from_object(obj: Any) -> Target:
    """The Target of a function or method object (a module-level function, a method reached
    through its class, a bound method). Raises OTraceError for anything else, and for functions
    that are not reachable by name (nested functions, lambdas, replaced attributes)."""
    if is_instance(obj, Target):
        return obj
    func = obj.__func__ if is_instance(obj, (MethodType, classmethod, staticmethod)) else obj
    if not is_instance(func, FunctionType):
        raise OTraceError(f"cannot trace {safe_repr(obj, 200)}: not a Python function or method")
    qualname = func.__qualname__
    if "<" in qualname:
        raise OTraceError(f"cannot trace {qualname}: nested functions and lambdas have no name to trace")
    module = sys.modules.get(func.__module__)
    if module is None:
        raise OTraceError(f"cannot trace {qualname}: module {func.__module__!r} is not loaded")
    target = resolve(qualname, vars(module))
    if untraced(func) is not target.function:
        raise OTraceError(f"cannot trace {qualname}: {func.__module__}.{qualname} is no longer this function")
    return target
