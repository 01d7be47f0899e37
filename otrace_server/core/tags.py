"""Object tagging: mark an object so that later traced calls receiving it can be recognised.

    >>> class Request: pass
    >>> r = Request()
    >>> tag(r)                  # the default tag
    'tag'
    >>> get_tag(r), hasattr(r, "_otrace_tag")
    ('tag', True)
    >>> untag(r)
    'tag'
    >>> get_tag(r) is None
    True

A tag is a short string stored in the object's attribute ``_otrace_tag`` (otrace's convention: it
shows up in ``ls -a`` of the object). Objects that refuse new attributes (``__slots__``, some
extension types) but support weak references are tagged in a side table keyed by identity and
cleaned when the object dies. Objects that allow neither (ints, strings, tuples, ...) cannot be
tagged: ``tag`` raises OTraceError.

Tracing uses tags in two ways (see core.tracer): the condition ``tagged``/``tagged<arg>`` records
calls that receive a tagged object, and the action ``tag`` tags ``self`` when a method returns.
``related``/``add_related`` keep, per tagged object, the ids of the trace contexts that involved it
(the ``trace_related`` setting copies them into a new context's ``related`` list).

No function runs the application's code: the attribute is set, read and removed with ``object``'s
own ``__setattr__``/``__getattribute__``/``__delattr__`` (an application's ``__setattr__``,
``__getattr__``, ``__getattribute__`` or ``__delattr__`` is not called), and an object is known to
be a class from its type alone (``isinstance`` could read an application's ``__class__``).

Thread-safety: every function may be called from any thread. ``get_tag`` takes no lock (one
attribute read and, only if some object lives in the side table, one dict read).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import is_class, type_name

__all__ = ["TAG_ATTR", "DEFAULT_TAG", "tag", "untag", "get_tag", "related", "add_related"]

#: the attribute holding an object's tag
TAG_ATTR = "_otrace_tag"
#: the tag given when none is named
DEFAULT_TAG = "tag"
#: at most this many related context ids are kept per object (oldest dropped first)
MAX_RELATED = 100

#: re-entrant: the weak-reference callbacks (``_forget``) run wherever the garbage collector runs,
#: e.g. during an allocation made while this thread holds the lock in ``add_related``
_lock = threading.RLock()
# id(obj) -> (weakref to obj, tag) for objects that refuse attributes
_side: dict[int, tuple[weakref.ref, str]] = {}
# id(obj) -> (weakref to obj, [context ids]) for tagged objects that support weak references
_history: dict[int, tuple[weakref.ref, list[str]]] = {}


def tag(obj: Any, tag: str | None = None) -> str:
    """Tag ``obj`` with the string ``tag`` (default ``DEFAULT_TAG``) and return the tag.

    Re-tagging replaces the tag. Raises OTraceError (nothing changed) when ``tag`` is not a
    non-empty string or when ``obj`` accepts neither an attribute nor a weak reference.
    """
    value = DEFAULT_TAG if tag is None else tag
    if not isinstance(value, str) or not value:
        raise OTraceError(f"a tag must be a non-empty string, got {value!r}")
    if not is_class(obj):  # a class attribute would tag every instance: classes use the side table
        try:
            object.__setattr__(obj, TAG_ATTR, value)
            return value
        except (AttributeError, TypeError):
            pass
    key = id(obj)
    try:
        ref = weakref.ref(obj, lambda _r, key=key: _forget(_side, key, _r))
    except TypeError:
        raise OTraceError(f"cannot tag {type_name(obj)} objects (no attributes, no weak references)") from None
    with _lock:
        _side[key] = (ref, value)
    return value


def untag(obj: Any) -> str | None:
    """Remove ``obj``'s tag and its related-context history; returns the old tag (None if untagged)."""
    old = get_tag(obj)
    if not is_class(obj):
        try:
            object.__delattr__(obj, TAG_ATTR)
        except (AttributeError, TypeError):
            pass
    key = id(obj)
    with _lock:
        entry = _side.get(key)
        if entry is not None and entry[0]() is obj:
            del _side[key]
        entry = _history.get(key)
        if entry is not None and entry[0]() is obj:
            del _history[key]
    return old


def get_tag(obj: Any) -> str | None:
    """The tag of ``obj``, or None when it is not tagged. Never raises."""
    value = None
    if type(obj) not in _UNTAGGABLE and not is_class(obj):
        try:
            value = object.__getattribute__(obj, TAG_ATTR)
        except Exception:  # not tagged, or a strange descriptor: never break a traced call
            value = None
    if value is not None:
        return value if isinstance(value, str) else None
    if _side:
        entry = _side.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return entry[1]
    return None


#: types whose instances take no attribute (the common arguments of a traced call: no lookup)
_UNTAGGABLE = frozenset({int, float, str, bytes, bool, type(None), tuple, complex, frozenset})


def related(obj: Any) -> list[str]:
    """Ids of the trace contexts recorded so far that involved ``obj`` (oldest first)."""
    entry = _history.get(id(obj))
    if entry is None or entry[0]() is not obj:
        return []
    with _lock:
        return list(entry[1])


def add_related(obj: Any, context_id: str) -> None:
    """Note that the context ``context_id`` involved ``obj``. Objects that do not support weak
    references keep no history (ids could otherwise be confused after the object dies)."""
    key = id(obj)
    with _lock:
        entry = _history.get(key)
        if entry is None or entry[0]() is not obj:
            try:
                ref = weakref.ref(obj, lambda _r, key=key: _forget(_history, key, _r))
            except TypeError:
                return
            entry = _history[key] = (ref, [])
        ids = entry[1]
        ids.append(context_id)
        if len(ids) > MAX_RELATED:
            del ids[: len(ids) - MAX_RELATED]


def _forget(table: dict, key: int, ref: weakref.ref) -> None:
    with _lock:
        entry = table.get(key)
        if entry is not None and entry[0] is ref:
            del table[key]
