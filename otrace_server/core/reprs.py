"""Showing application objects: ``safe_repr``, the one text every front end shows for a value it
does not own (trace ids' argument lists, tree listings, ``pr``, the trace database, LSP
variables and hovers, DAP variables).

    >>> safe_repr([1, 2, 3])
    '[1, 2, 3]'
    >>> safe_repr("x" * 100, limit=10)
    "'xxxxxx..."

An application's ``__repr__`` may raise or be huge; ``safe_repr`` never raises (a failure becomes
``<unrepresentable Type: message>``) and cuts the text at ``limit`` characters. Each caller keeps
its own limit (the size of the place it shows the text in).

Thread-safety: a pure function, any thread; it runs the value's ``__repr__`` (or ``render``) on the
calling thread, so the caller is the one who decides that thread may touch the object.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["safe_repr"]


def safe_repr(value: Any, limit: int | None = None, render: Callable[[Any], str] = repr) -> str:
    """``render(value)`` (default ``repr``) cut to ``limit`` characters (the last three of them
    ``...``; None: not cut). Never raises: an exception of ``render`` (a broken ``__repr__``)
    gives ``<unrepresentable Type: message>``."""
    try:
        text = render(value)
    except Exception as exc:  # an application's __repr__ must not break what shows it
        text = f"<unrepresentable {type(value).__name__}: {exc}>"
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
