"""DAP variables: values of a held request shown lazily, repr-limited and paged.

A ``References`` table hands out ``variablesReference`` numbers for expandable values (mappings,
sequences, sets, objects with attributes); ``variables(ref, start, count)`` lists one page of
children. References belong to an owner (a hold's trace id, or ``None`` for global evaluations)
and are dropped when that hold resumes (DAP: references are valid only while stopped).

Containers are read through their builtin type (``dict.items``, ``list.__getitem__``...: a
subclass's hostile ``__len__``/``__iter__``/``keys`` does not run) and values are typed by their
real type (``core.objects``); what an object's own code raises while its children are listed is
shown as one child saying so, never a failed request.

Thread-safety: ``References`` is locked; listing children runs the application's ``repr`` and
attribute reads on the caller's thread (a worker thread of the DAP server).
"""

from __future__ import annotations

import itertools
import threading
import types
from typing import Any, Callable

from otrace_server.core.objects import exception_text, is_instance, type_name
from otrace_server.core.reprs import safe_repr

__all__ = ["References", "children", "expandable", "variable", "page", "REPR_LIMIT", "UNPAGED_LIMIT"]

#: the longest value text sent to the client
REPR_LIMIT = 500
#: the most children a ``variables`` request without ``count`` lists (a client that does not page,
#: e.g. on a list of a million items, would get a reply too big to send; the rest is paged)
UNPAGED_LIMIT = 1000

_SCALARS = (str, bytes, int, float, complex, bool, type(None), range)
_OPAQUE = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.CodeType, types.FrameType)
_CONTAINERS = (dict, list, tuple, set, frozenset)


class _Mapping:
    """A scope: its children are the items of a dict (name -> value), shown as is."""

    __slots__ = ("items",)

    def __init__(self, items: dict[str, Any]) -> None:
        self.items = items


def children(value: Any, start: int = 0, count: int = 0) -> list[tuple[str, Any]]:
    """The (name, value) children of ``value`` from index ``start`` (``count`` of them, 0: all):
    dict items, sequence/set elements (sets in iteration order, as their repr shows them: no
    sorting, so no call into the elements), or the non-dunder attributes of an object's
    ``__dict__`` (and its ``__slots__``). Only the page asked for is built."""
    stop = start + count if count else None
    if is_instance(value, _Mapping):
        return list(itertools.islice(value.items.items(), start, stop))
    if is_instance(value, dict):
        return [(safe_repr(k, 100), v) for k, v in itertools.islice(list(dict.items(value)), start, stop)]
    for kind in (list, tuple):
        if is_instance(value, kind):
            return [(str(i), v) for i, v in enumerate(kind.__getitem__(value, slice(start, stop)), start)]
    for kind in (set, frozenset):
        if is_instance(value, kind):
            return [(str(i), v) for i, v in enumerate(itertools.islice(list(kind.__iter__(value)), start, stop), start)]
    try:
        return _attributes(value)[start:stop]
    except Exception as exc:   # the object's __getattribute__, __dict__ or slots refuse
        return [("<error>", _Unlisted(exc))][start:stop]


def _attributes(value: Any) -> list[tuple[str, Any]]:
    out = []
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, (dict, types.MappingProxyType)):
        out = [(k, v) for k, v in list(attrs.items())
               if isinstance(k, str) and not (k.startswith("__") and k.endswith("__"))]
    for slot in getattr(type(value), "__slots__", ()) or ():
        if isinstance(slot, str) and hasattr(value, slot):
            out.append((slot, getattr(value, slot)))
    return out


class _Unlisted:
    """The one child of an object whose attributes cannot be listed: says why."""

    def __init__(self, exc: Exception) -> None:
        self.text = f"cannot list the attributes: {exception_text(exc)}"

    def __repr__(self) -> str:
        return self.text


def expandable(value: Any) -> bool:
    """True when ``value`` has children worth a reference."""
    if is_instance(value, _Mapping):
        return True
    if is_instance(value, _SCALARS + _OPAQUE + (_Unlisted,)):
        return False
    if is_instance(value, _CONTAINERS):
        return _size(value) > 0
    try:
        return bool(children(value, 0, 1))
    except Exception:
        return False


class References:
    """variablesReference numbers -> (owner, value)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._refs: dict[int, tuple[Any, Any]] = {}

    def add(self, owner: Any, value: Any) -> int:
        """A new reference to ``value`` (0 when it has no children)."""
        if not expandable(value):
            return 0
        with self._lock:
            ref = next(self._ids)
            self._refs[ref] = (owner, value)
        return ref

    def scope(self, owner: Any, items: dict[str, Any]) -> int:
        """A reference to a scope showing ``items`` (name -> value); never 0."""
        with self._lock:
            ref = next(self._ids)
            self._refs[ref] = (owner, _Mapping(dict(items)))
        return ref

    def get(self, ref: int) -> tuple[Any, Any] | None:
        """(owner, value) of ``ref``, or None when unknown or dropped."""
        with self._lock:
            return self._refs.get(ref)

    def drop(self, owner: Any) -> None:
        """Forget every reference of ``owner``."""
        with self._lock:
            for ref in [r for r, (o, _) in self._refs.items() if o == owner]:
                del self._refs[ref]


def variable(name: str, value: Any, refs: References, owner: Any,
             render: Callable[[Any], str] = repr) -> dict[str, Any]:
    """The DAP Variable of ``value`` (its text made by ``render``, bounded by ``core.reprs.safe_repr``)."""
    out = {"name": name, "value": safe_repr(value, REPR_LIMIT, render=render), "type": type_name(value),
           "variablesReference": refs.add(owner, value)}
    if is_instance(value, _CONTAINERS):
        out["indexedVariables" if is_instance(value, (list, tuple)) else "namedVariables"] = _size(value)
    return out


def page(ref: int, refs: References, start: int = 0, count: int = 0) -> list[dict[str, Any]]:
    """One page of the children of ``ref`` as DAP Variables (``count`` 0: all from ``start``, at
    most ``UNPAGED_LIMIT``: then a last entry says how many more there are and how to see them);
    KeyError when the reference is unknown (the hold has resumed)."""
    entry = refs.get(ref)
    if entry is None:
        raise KeyError(ref)
    owner, value = entry
    kids = children(value, start, count or UNPAGED_LIMIT + 1)
    out = [variable(name, v, refs, owner) for name, v in kids[:count or UNPAGED_LIMIT]]
    if not count and len(kids) > UNPAGED_LIMIT:
        total = _size(value)
        more = f"{total - start - UNPAGED_LIMIT} more" if total is not None else "more"
        out.append({"name": "...", "value": f"{more}: ask with start/count (paged variables), or evaluate a slice",
                    "variablesReference": 0, "presentationHint": {"kind": "virtual"}})
    return out


def _size(value: Any) -> int | None:
    """How many children ``value`` has, when known without listing them (a container by its
    builtin type's ``__len__``: a subclass's own ``__len__`` does not run)."""
    if is_instance(value, _Mapping):
        return len(value.items)
    for kind in _CONTAINERS:
        if is_instance(value, kind):
            return kind.__len__(value)
    return None
