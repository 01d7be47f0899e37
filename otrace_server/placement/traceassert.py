"""The text edits of the code action "Insert traceassert (hold) here": the statement, placed where
``statements.insertion_point`` says, and the import it needs.

Lines are 0-based (LSP positions); the edits are LSP ``TextEdit`` dicts.

Thread-safety: pure functions over text; any thread.
"""

from __future__ import annotations

import re
from typing import Any

from otrace_server.placement.statements import enclosing, insertion_point

__all__ = ["insert_traceassert_edits"]

_IMPORT = re.compile(r"^\s*from\s+otrace_server\s+import\s+[^#]*\btraceassert\b")


def insert_traceassert_edits(lines: list[str], line: int) -> tuple[str, list[dict[str, Any]]]:
    """The text edits that insert a traceassert for 0-based ``line`` (before the statement
    ``statement_start`` names, indented as that line is): ``await traceassert(True,
    label="...", action="hold")`` inside an async def, ``traceassert(True, label="...")`` elsewhere,
    plus ``from otrace_server import traceassert`` when the file lacks it. Returns (title, edits),
    their text ending in ``\\n``."""
    at, indent = insertion_point(lines, line)
    enc = enclosing(lines, line)
    label = f"{enc.qualname.rsplit('.', 1)[-1] if enc else 'line'}_{at + 1}"
    if enc is not None and enc.is_async:
        title = "Insert traceassert hold here"
        stmt = f'await traceassert(True, label="{label}", action="hold")'
    else:
        title = "Insert traceassert here"
        stmt = f'traceassert(True, label="{label}")'
    edits = [_insert(at, indent + stmt + "\n")]
    if not any(_IMPORT.match(text) for text in lines):
        where = _import_line(lines)
        following = lines[where].lstrip() if where < len(lines) else ""
        text = "from otrace_server import traceassert\n"
        if following and not following.startswith(("import ", "from ")):   # no imports to join: PEP 8 spacing
            text += "\n\n" if following.startswith(("def ", "async def ", "class ", "@")) else "\n"
        edits.insert(0, _insert(where, text))
    return title, edits


def _insert(line: int, text: str) -> dict[str, Any]:
    pos = {"line": line, "character": 0}
    return {"range": {"start": pos, "end": pos}, "newText": text}


def _import_line(lines: list[str]) -> int:
    """The line after a leading docstring, comments and ``from __future__`` imports."""
    i, n = 0, len(lines)
    while i < n:
        text = lines[i].strip()
        if not text or text.startswith("#") or text.startswith("from __future__"):
            i += 1
            continue
        quote = text[:3]
        if quote in ('"""', "'''") and i == _first_code(lines):
            if text.count(quote) >= 2 and len(text) > 3:
                i += 1
                continue
            i += 1
            while i < n and quote not in lines[i]:
                i += 1
            i += 1
            continue
        break
    return min(i, n)


def _first_code(lines: list[str]) -> int:
    for i, text in enumerate(lines):
        s = text.strip()
        if s and not s.startswith("#"):
            return i
    return len(lines)
