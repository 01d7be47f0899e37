"""How the interactive console binds GNU readline: its completer, key bindings and history, put back
as they were when the console stops; the C library handle that redraws the prompt and typed line;
the shaping of completion candidates (bash-like).

Thread-safety: ``bind``/``unbind`` run on the console's thread (readline is process-global: one
console at a time binds it); ``as_word``/``last_component`` are pure.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

__all__ = ["bind", "unbind", "library", "as_word", "last_component"]


def library(rl) -> Any:
    """readline's C library (``ctypes.PyDLL``, so calls hold the GIL) with ``rl_set_prompt`` and
    ``rl_forced_update_display`` usable, or None when it cannot be loaded."""
    try:
        import ctypes
        lib = ctypes.PyDLL(rl.__file__)
        lib.rl_forced_update_display   # noqa: B018 - probe the symbols
        lib.rl_set_prompt.argtypes = [ctypes.c_char_p]
    except (OSError, AttributeError, ImportError):
        return None
    return lib


def bind(rl, complete: Callable[[str, int], str | None], display_matches: Callable[[str, list[str], int], None],
         history_file: str | None) -> tuple:
    """Make TAB complete with ``complete`` (whitespace-delimited words; choices shown by
    ``display_matches``), Ctrl-C discard the line, and load ``history_file`` (when given).
    Returns what ``unbind`` puts back."""
    saved = (rl.get_completer(), rl.get_completer_delims())
    rl.set_completer(complete)
    rl.set_completion_display_matches_hook(display_matches)
    rl.set_completer_delims(" \t\n")
    rl.parse_and_bind("tab: complete")
    rl.parse_and_bind(r'"\C-c": "\C-e\C-u\C-m"')   # discard the line (Ctrl-C is no signal while reading)
    rl.set_history_length(1000)
    if history_file:
        with contextlib.suppress(OSError):
            rl.read_history_file(history_file)
    return saved


def unbind(rl, saved: tuple, history_file: str | None) -> None:
    """Put back the completer ``bind`` replaced and save the history to ``history_file`` (when given)."""
    completer, delims = saved
    rl.set_completer(completer)
    rl.set_completion_display_matches_hook(None)
    rl.set_completer_delims(delims)
    if history_file:
        with contextlib.suppress(OSError):
            rl.write_history_file(history_file)


def as_word(text: str, item: str) -> str:
    """readline replaces the whitespace-delimited ``text``; a candidate naming only the last path
    component (``globals`` for ``/osh/glo``) is joined to the rest of the word."""
    if item.startswith(text):
        return item
    for sep in ("/", "."):
        head, found, _ = text.rpartition(sep)
        if found:
            return head + sep + item
    return item


def last_component(path: str) -> str:
    """``/osh/recent/exceptions/`` -> ``exceptions/``, ``config/port`` -> ``port`` (bash's listing)."""
    name = path.rstrip("/").rpartition("/")[2]
    return (name + "/" if path.endswith("/") else name) if name else path
