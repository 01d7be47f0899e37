"""Where things are in a document's lines: the def around a line, the statement a line belongs to
(and so where a statement inserted for that line goes), the statement a DAP breakpoint line means
in a running function, the word under the cursor.

Lines are 0-based here (LSP positions) unless a function says otherwise; code objects and contexts
use 1-based lines.

Thread-safety: pure functions over text (``next_statement`` also reads the function's source through
``inspect``); any thread.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass
from typing import Any

__all__ = ["Enclosing", "enclosing", "statement_start", "next_statement", "insertion_point", "indentation",
           "word_at"]

_DEF = re.compile(r"^(\s*)(async\s+def|def|class)\s+(\w+)")
_SCOPES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)   # bodies that have a docstring


@dataclass
class Enclosing:
    """The innermost def around a line: its qualified name, 0-based def line, whether it is async,
    and whether it is nested in another function (then not reachable as a live name)."""

    qualname: str
    def_line: int
    is_async: bool
    nested_in_function: bool


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _body_indent(lines: list[str], line: int) -> tuple[int, int]:
    """(insertion line, indentation string length) for a statement placed at ``line``: the line
    itself when it has code, else the next line with code; a def/class line or a decorator
    moves to the first line of the body."""
    n = len(lines)
    i = line
    while i < n and not lines[i].strip():
        i += 1
    if i >= n:
        i = max(0, min(line, n - 1))
        return line, _indent(lines[i]) if lines else 0
    stripped = lines[i].lstrip()
    if _DEF.match(lines[i]) or stripped.startswith("@"):
        j = i
        while j < n and not lines[j].rstrip().endswith(":"):   # decorators / multi-line signatures
            j += 1
        j += 1
        while j < n and not lines[j].strip():
            j += 1
        if j < n:
            return j, _indent(lines[j])
        return i + 1, _indent(lines[i]) + 4
    return i, _indent(lines[i])


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


def statement_start(lines: list[str], line: int) -> int | None:
    """The 0-based line before which a statement for 0-based ``line`` goes, from the document's
    AST (the document's lines, as the editor has them): the start of the
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


def next_statement(func: Any, line: int) -> int | None:
    """The first 1-based file line at or after ``line`` where a statement of ``func``'s body
    starts (a line before the body, such as the def line or a decorator, goes to the first
    statement): never its docstring, an ``else:``/``except:``/``finally:``/``elif`` clause or a
    continuation line (they start no statement), nor the inside of a nested ``def``/``class`` (not
    where the line's code runs). None when no statement of ``func`` starts there or later, or its
    source cannot be read. What a DAP breakpoint line means; ``statement_start`` answers the same
    for any line of a document."""
    try:
        source, first = inspect.getsourcelines(func)
        text = textwrap.dedent("".join(source))
        tree = ast.parse(text)
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    body = node.body[1:] if node.body and _is_docstring(node.body[0]) else node.body
    text_lines = text.splitlines()
    found: set[int] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for stmt in statements:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if not text_lines[stmt.lineno - 1].lstrip().startswith("elif"):   # an elif is a clause
                found.add(stmt.lineno + first - 1)
            for inner in _bodies(stmt):
                visit(inner)

    visit(body)
    return next((n for n in sorted(found) if n >= line), None)


def insertion_point(lines: list[str], line: int) -> tuple[int, str]:
    """(0-based line, indentation as written) where a statement for 0-based ``line`` goes:
    ``statement_start``'s line, or, for a document that does not parse, the nearest code line by
    indentation. The indentation is the target line's own (tabs stay tabs)."""
    at = statement_start(lines, line)
    width = 0
    if at is None:
        at, width = _body_indent(lines, line)
    text = lines[at] if 0 <= at < len(lines) else ""
    return at, indentation(text) if text.strip() else " " * width


def enclosing(lines: list[str], line: int) -> Enclosing | None:
    """The innermost def enclosing 0-based ``line`` (a def line counts as inside its function),
    found by indentation, so it works on code that does not parse; None at module level."""
    if not lines or not 0 <= line < len(lines):
        return None
    start, threshold = _body_indent(lines, line)
    chain: list[tuple[str, str, int]] = []   # (kind: async|def|class, name, line), innermost first
    for i in range(min(start, len(lines)) - 1, -1, -1):
        text = lines[i]
        stripped = text.lstrip()
        if not stripped or stripped.startswith(("#", "@", ")", "]", "}")) or _indent(text) >= threshold:
            continue
        threshold = _indent(text)
        m = _DEF.match(text)
        if m:
            chain.append((m.group(2).split()[0], m.group(3), i))
        if threshold == 0:
            break
    k = next((k for k, c in enumerate(chain) if c[0] != "class"), None)
    if k is None:
        return None
    outer = chain[k + 1:]
    names = [c[1] for c in reversed(outer)] + [chain[k][1]]
    return Enclosing(".".join(names), chain[k][2], chain[k][0] == "async", any(c[0] != "class" for c in outer))


def word_at(text: str, character: int) -> str | None:
    """The identifier under 0-based ``character`` of a line, or None."""
    for m in re.finditer(r"[A-Za-z_]\w*", text):
        if m.start() <= character <= m.end():
            return m.group(0)
    return None
