"""The source text a function's code was loaded from, kept when it is first patched.

``inspect.getsource`` reads a function's file as it is on disk now. Once a patch is promoted to its
file (the editor writes the patched text there) and then discarded, the function runs its loaded
code again while the file holds the promoted text: the file no longer tells what runs. So the
patcher calls :func:`remember` before it replaces a function's code, and readers of a function's
live source (/osh as files) ask :func:`loaded_source` first.

Keyed weakly by code object (a code object that is no longer used frees its entry); thread-safe
(one lock; ``remember`` runs on whatever thread patches, readers on the control plane's threads).
"""

from __future__ import annotations

import inspect
import textwrap
import threading
import types
import weakref

_texts: weakref.WeakKeyDictionary[types.CodeType, str] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def remember(func: object) -> None:
    """Keep the source text of ``func``'s current code (dedented), unless it is kept already or
    the function has no readable source."""
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        return
    with _lock:
        if code in _texts:
            return
    try:
        text = textwrap.dedent(inspect.getsource(func))
    except Exception:   # no file, a builtin, attributes that raise: nothing to keep
        return
    with _lock:
        _texts.setdefault(code, text)


def loaded_source(func: object) -> str | None:
    """The text kept for ``func``'s current code by :func:`remember`, else None."""
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        return None
    with _lock:
        return _texts.get(code)
