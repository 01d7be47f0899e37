"""What the standard LSP features need to know about a document as the CLIENT counts it: its lines
(LSP ends lines only at ``\\n``, ``\\r\\n`` or ``\\r``; ``str.splitlines``, which pygls uses, also
splits at form feeds, ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028``/``\\u2029`` and so shifts every line
after one), its line ending, whether it is Python, and where a statement may be inserted for a
line (found in the document's AST: never inside a continuation line, a multi-line string or before
a docstring).

Pure functions over text; thread-safe.
"""

from __future__ import annotations

import ast
import re

__all__ = ["split_lines", "line_ending", "is_python", "statement_line", "indentation"]

_EOL = re.compile(r"\r\n|\r|\n")
_PYTHON_SUFFIXES = (".py", ".pyw", ".pyi")
_SCOPES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)   # bodies that have a docstring


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


def indentation(text: str) -> str:
    """The leading whitespace of a line, as written (tabs stay tabs)."""
    return text[: len(text) - len(text.lstrip(" \t\f"))]


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _start(stmt: ast.stmt) -> int:
    decorators = getattr(stmt, "decorator_list", None) or []
    return min([stmt.lineno] + [d.lineno for d in decorators])


def _bodies(stmt: ast.AST) -> list[list[ast.stmt]]:
    out = [getattr(stmt, name) for name in ("body", "orelse", "finalbody") if isinstance(getattr(stmt, name, None), list)]
    out += [h.body for h in getattr(stmt, "handlers", ()) or ()]
    out += [c.body for c in getattr(stmt, "cases", ()) or ()]
    return out


def _first_statement(body: list[ast.stmt]) -> ast.stmt | None:
    """The first statement of a def/class/module body that runs (its docstring skipped)."""
    if body and _is_docstring(body[0]):
        body = body[1:]
    return body[0] if body else None


def statement_line(lines: list[str], line: int) -> int | None:
    """The 0-based line before which a statement for 0-based ``line`` goes: the start of the
    statement that contains ``line`` (a continuation line or a line inside a multi-line string goes
    to its statement's first line); a ``def``/``class`` line or a decorator, a docstring, a blank
    or comment line or a clause (``else:``, ``except:``) go to the next statement of that body.
    ``line`` unchanged at module level outside any statement; None when the document does not parse."""
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        return None
    target = line + 1
    body: list[ast.stmt] = tree.body
    owner: ast.AST = tree
    while True:
        inside = [s for s in body if _start(s) <= target <= (s.end_lineno or s.lineno)]
        if not inside:   # between statements of this body (blank, comment, clause line): the next one
            later = [s for b in _bodies(owner) for s in b if _start(s) >= target] if owner is not tree else []
            return _start(min(later, key=_start)) - 1 if later else line
        stmt = inside[0]
        if _is_docstring(stmt) and isinstance(owner, _SCOPES) and owner.body[0] is stmt:
            nxt = _first_statement(owner.body)   # after the docstring: it stays the docstring
            return _start(nxt) - 1 if nxt is not None else (stmt.end_lineno or stmt.lineno)
        bodies = _bodies(stmt)
        if not bodies:
            return _start(stmt) - 1             # a simple statement: its first line
        first_body = min(_start(s) for b in bodies for s in b)
        if target < first_body:                 # the header (def/class line, decorator, `if (a and`)
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                nxt = _first_statement(stmt.body)
                return _start(nxt) - 1 if nxt is not None else line
            return _start(stmt) - 1
        owner, body = stmt, [s for b in bodies for s in b]
