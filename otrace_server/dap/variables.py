"""DAP variables: values of a held request shown lazily, repr-limited and paged.

A ``References`` table hands out ``variablesReference`` numbers for expandable values (mappings,
sequences, sets, objects with attributes); ``variables(ref, start, count)`` lists one page of
children. References belong to an owner (a hold's trace id, or ``None`` for global evaluations)
and are dropped when that hold resumes (DAP: references are valid only while stopped).

Thread-safety: ``References`` is locked; listing children runs the application's ``repr`` and
attribute reads on the caller's thread (a worker thread of the DAP server).
"""

from __future__ import annotations

import itertools
import threading
import types
from typing import Any

from otrace_server.core.reprs import safe_repr

__all__ = ["References", "children", "expandable", "variable", "page", "REPR_LIMIT", "UNPAGED_LIMIT"]

#: the longest value text sent to the client
REPR_LIMIT = 500
#: the most children a ``variables`` request without ``count`` lists (a client that does not page,
#: e.g. on a list of a million items, would get a reply too big to send; the rest is paged)
UNPAGED_LIMIT = 1000

_SCALARS = (str, bytes, int, float, complex, bool, type(None), range)
_OPAQUE = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.CodeType, types.FrameType)


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
    if isinstance(value, _Mapping):
        return list(itertools.islice(value.items.items(), start, stop))
    if isinstance(value, dict):
        return [(safe_repr(k, 100), v) for k, v in itertools.islice(list(value.items()), start, stop)]
    if isinstance(value, (list, tuple)):
        return [(str(i), v) for i, v in enumerate(value[start:stop], start)]
    if isinstance(value, (set, frozenset)):
        return [(str(i), v) for i, v in enumerate(itertools.islice(list(value), start, stop), start)]
    out = []
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, (dict, types.MappingProxyType)):
        out = [(k, v) for k, v in list(attrs.items()) if not (k.startswith("__") and k.endswith("__"))]
    for slot in getattr(type(value), "__slots__", ()) or ():
        if isinstance(slot, str) and hasattr(value, slot):
            out.append((slot, getattr(value, slot)))
    return out[start:stop]


def expandable(value: Any) -> bool:
    """True when ``value`` has children worth a reference."""
    if isinstance(value, _Mapping):
        return True
    if isinstance(value, _SCALARS) or isinstance(value, _OPAQUE):
        return False
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return len(value) > 0
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


def variable(name: str, value: Any, refs: References, owner: Any) -> dict[str, Any]:
    """The DAP Variable of ``value``."""
    out = {"name": name, "value": safe_repr(value, REPR_LIMIT), "type": type(value).__name__,
           "variablesReference": refs.add(owner, value)}
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        out["indexedVariables" if isinstance(value, (list, tuple)) else "namedVariables"] = len(value)
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
    """How many children ``value`` has, when known without listing them."""
    if isinstance(value, _Mapping):
        return len(value.items)
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return len(value)
    return None
