"""What the standard LSP features need to know about a document as the CLIENT counts it: its lines
(LSP ends lines only at ``\\n``, ``\\r\\n`` or ``\\r``; ``str.splitlines``, which pygls uses, also
splits at form feeds, ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028``/``\\u2029`` and so shifts every line
after one), its line ending and whether it is Python. Where a statement goes for a line is
``placement.statement_start`` (the DAP endpoint needs it too).

Pure functions over text; thread-safe.
"""

from __future__ import annotations

import re

__all__ = ["split_lines", "line_ending", "is_python"]

_EOL = re.compile(r"\r\n|\r|\n")
_PYTHON_SUFFIXES = (".py", ".pyw", ".pyi")


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` as LSP counts them, each with its line ending."""
    lines, start = [], 0
    for m in _EOL.finditer(text):
        lines.append(text[start:m.end()])
        start = m.end()
    if start < len(text):
        lines.append(text[start:])
    return lines


def line_ending(lines: list[str]) -> str:
    """The line ending of the first line that has one (``\\n`` when none has)."""
    for text in lines:
        m = _EOL.search(text)
        if m:
            return m.group(0)
    return "\n"


def is_python(path: str, language_id: str | None) -> bool:
    """Whether a document is Python: its languageId says so, or (no languageId) its file name."""
    if language_id:
        return language_id.lower() in ("python", "py")
    return path.lower().endswith(_PYTHON_SUFFIXES)
