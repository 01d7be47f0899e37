r"""Showing text otrace does not own: ``safe_repr``, the one text every front end shows for a value
of the application (trace ids' argument lists, tree listings, ``pr``, the trace database, LSP
variables and hovers, DAP variables), and ``visible``, what makes any foreign text (a repr, a
name, a browser's URL, a JavaScript result, an exception message) safe to show on a terminal.

    >>> safe_repr([1, 2, 3])
    '[1, 2, 3]'
    >>> safe_repr("x" * 100, limit=10)
    "'xxxxxx..."

An application's ``__repr__`` may raise or be huge; ``safe_repr`` never raises (a failure becomes
``<unrepresentable Type: message>``) and cuts the text at ``limit`` characters. Each caller keeps
its own limit (the size of the place it shows the text in). Its text is ``visible``: a
``__repr__`` that returns terminal escapes shows them as ``\x1b[2J``, it cannot clear a screen.

    >>> visible("red \x1b[31mtext\u202e")
    'red \\x1b[31mtext\\u202e'
    >>> visible("two\nlines", one_line=True)
    'two\\nlines'

What ``visible`` escapes (``HIDDEN``): the C0 controls but newline and tab, DEL, the C1 controls
(so ESC/CSI sequences, carriage returns, backspaces and bells), the bidirectional controls and
invisible format characters (U+061C, U+200B, U+200E/F, U+2028-U+202E, U+2060-U+2064,
U+2066-U+206F, U+FEFF, U+FFF9-U+FFFB, tags U+E0000-U+E007F) and lone surrogates. Each becomes
its Python escape (``\x1b``, ``\u202e``, ``\U000e0041``; ``\r``, ``\n``, ``\t``), so
what an operator sees cannot move the cursor, change colours, set the terminal's title, reorder
or hide text. ``one_line=True`` escapes newlines and tabs too (names, URLs, one-line fields). A
backslash is left as it is: the escape is for the screen, not a way back to the original text.
The editors apply the same rule to what they show (vscode-extension ``lineEditor.visible``,
Emacs ``otrace--visible``).

Thread-safety: a pure function, any thread; it runs the value's ``__repr__`` (or ``render``) on the
calling thread, so the caller is the one who decides that thread may touch the object.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from otrace_server.core.objects import exception_message, shown_as_error, type_name

__all__ = ["safe_repr", "visible", "HIDDEN"]

#: the characters ``visible`` escapes, as a regular expression character class body (newline and
#: tab are added by ``one_line=True``)
HIDDEN = ("\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064"
          "\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000e0000-\U000e007f")
_MULTI_LINE = re.compile(f"[{HIDDEN}]")
_ONE_LINE = re.compile(f"[\t\n{HIDDEN}]")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match) -> str:
    char = match.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str, *, one_line: bool = False) -> str:
    """``text`` with every character of ``HIDDEN`` (with ``one_line``: also newline and tab) as
    its Python escape; other text unchanged (so ``visible`` of visible text is itself). Never
    raises for a str; a non-str is shown as ``str(text)`` first."""
    if not isinstance(text, str):
        text = str(text)
    return (_ONE_LINE if one_line else _MULTI_LINE).sub(_escape, text)


def safe_repr(value: Any, limit: int | None = None, render: Callable[[Any], str] = repr) -> str:
    """``render(value)`` (default ``repr``) cut to ``limit`` characters (the last three of them
    ``...``; None: not cut), made ``visible`` (newlines kept). Never raises: an exception of
    ``render`` (a broken ``__repr__``) gives ``<unrepresentable Type: message>``."""
    try:
        text = render(value)
    except BaseException as exc:  # an application's __repr__ must not break what shows it
        if not shown_as_error(exc):
            raise
        text = f"<unrepresentable {type_name(value)}: {exception_message(exc)}>"
    if not isinstance(text, str):   # a render that breaks its contract
        text = f"<unrepresentable {type_name(value)}: not a str>"
    text = visible(text)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
