"""Source-level helpers for the editor front ends (the language server's features and the DAP
endpoint's breakpoints): where a line is (enclosing def/class), the edits of "Insert traceassert",
the live function behind a file line, whether the running code still matches the document, and the
source of a running function with statements inserted at document lines (what "Hold here live" and
DAP breakpoints patch in). Pure functions over text lines plus read-only looks at ``sys.modules``.

Lines are 0-based here (LSP positions); code objects and contexts use 1-based lines.

Thread-safety: the functions read ``sys.modules``, ``linecache`` and ``inspect`` only; they may be
called from any thread.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import os
import re
import sys
import textwrap
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from otrace_server.core.errors import OTraceError

__all__ = ["Enclosing", "CHANGED", "enclosing", "statement_start", "next_statement", "indentation",
           "insert_traceassert_edits", "module_for_file", "live_function", "code_matches", "line_matches",
           "statement_line", "insert_statements", "hold_source", "word_at", "same_file", "remember_patch_lines",
           "source_position"]

#: what the editor features say when the document no longer matches the running code
CHANGED = "file changed since the code was loaded"

_DEF = re.compile(r"^(\s*)(async\s+def|def|class)\s+(\w+)")
_IMPORT = re.compile(r"^\s*from\s+otrace_server\s+import\s+[^#]*\btraceassert\b")
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


def _placement(lines: list[str], line: int) -> tuple[int, str]:
    """(0-based line, indentation as written) where a statement for 0-based ``line`` goes:
    ``statement_start``'s line, or, for a document that does not parse, the nearest code line by
    indentation (``_body_indent``). The indentation is the target line's own (tabs stay tabs)."""
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


def insert_traceassert_edits(lines: list[str], line: int) -> tuple[str, list[dict[str, Any]]]:
    """The text edits that insert a traceassert for 0-based ``line`` (before the statement
    ``statement_start`` names, indented as that line is): ``await traceassert(True,
    label="...", action="hold")`` inside an async def, ``traceassert(True, label="...")`` elsewhere,
    plus ``from otrace_server import traceassert`` when the file lacks it. Returns (title, edits),
    their text ending in ``\n``."""
    at, indent = _placement(lines, line)
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


def same_file(a: str, b: str) -> bool:
    """True when two paths name the same file (after resolving links)."""
    if not a or not b:
        return False
    return os.path.realpath(a) == os.path.realpath(b)


def module_for_file(path: str) -> ModuleType | None:
    """The loaded module whose ``__file__`` is ``path`` (``__main__`` included), or None."""
    real = os.path.realpath(path)
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.realpath(file) == real:
            return module
    return None


def live_function(path: str, qualname: str) -> tuple[ModuleType, Any]:
    """(module, function) for ``qualname`` in the module loaded from ``path``; the tracer's wrappers
    are unwrapped. OTraceError when the module is not loaded or the name is not a function there."""
    module = module_for_file(path)
    if module is None:
        raise OTraceError(f"{os.path.basename(path)} is not loaded in the running process")
    obj: Any = module
    for part in qualname.split("."):
        attrs = getattr(obj, "__dict__", {})
        if part not in attrs:
            raise OTraceError(f"{qualname} not found in module {module.__name__}")
        obj = attrs[part]
    obj = getattr(obj, "__func__", obj)   # staticmethod / classmethod
    obj = inspect.unwrap(obj)
    if not inspect.isfunction(obj):
        raise OTraceError(f"{qualname} in module {module.__name__} is not a function")
    return module, obj


def code_matches(func: Any, lines: list[str]) -> bool:
    """True when the document ``lines`` hold ``func``'s source at the lines its code came from."""
    try:
        source, first = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return False
    start = max(first - 1, 0)
    doc = lines[start:start + len(source)]
    return [s.rstrip("\r\n") for s in source] == [d.rstrip("\r\n") for d in doc]


def line_matches(file: str, line: int, lines: list[str]) -> bool:
    """True when 1-based ``line`` of the document ``lines`` equals that line of the running code
    (as ``linecache`` has it, which is what tracebacks show)."""
    loaded = linecache.getline(file, line)
    if not loaded or not 0 < line <= len(lines):
        return False
    return loaded.rstrip("\r\n") == lines[line - 1].rstrip("\r\n")


def statement_line(func: Any, lines: list[str], line: int) -> tuple[int, str]:
    """(0-based document line, its indentation as written) where a statement for 0-based ``line``
    goes inside ``func`` (``statement_start``: before the statement the line belongs to; a def
    line, docstring, clause, blank or comment line moves to the next statement). OTraceError when
    the document does not match the running code or the line is outside ``func``."""
    if not code_matches(func, lines):
        raise OTraceError(f"{func.__qualname__}: {CHANGED}")
    source, first = inspect.getsourcelines(func)
    at, indent = _placement(lines, line)
    if not 0 < at - (first - 1) <= len(source):
        raise OTraceError(f"line {line + 1} is not inside {func.__qualname__}")
    return at, indent


def insert_statements(func: Any, lines: list[str], statements: dict[int, str]) -> tuple[str, list[int]]:
    """``func``'s source (dedented) with ``statements`` inserted: ``{0-based document line: text}``
    where each line goes where ``statement_line`` says and the text is one statement without
    indentation (it gets the indentation of the line it precedes, tabs included). Returns (source, line_map):
    ``line_map[i]`` is the 1-based document line of line ``i + 1`` of the source (an inserted
    statement maps to the line it precedes). OTraceError as ``statement_line``."""
    source, first = inspect.getsourcelines(func)
    placed = {}
    for line, text in statements.items():
        at, indent = statement_line(func, lines, line)
        placed.setdefault(at, []).append(indent + text.strip() + "\n")
    out, line_map = [], []
    for i, text in enumerate(source):
        doc_line = first + i
        for stmt in placed.get(doc_line - 1, ()):
            out.append(stmt)
            line_map.append(doc_line)
        out.append(text)
        line_map.append(doc_line)
    return textwrap.dedent("".join(out)), line_map


def hold_source(func: Any, lines: list[str], line: int, label: str) -> tuple[str, int, list[int]]:
    """``func``'s source (dedented) with a hold statement inserted before 0-based document ``line``
    (moved into the body when ``line`` is the def line); returns (source, 0-based document line of
    the statement the hold precedes, line map as ``insert_statements``).

    OTraceError when the document does not match the running code or the line is outside it.
    """
    at, _ = statement_line(func, lines, line)
    stmt = f'await __import__("otrace_server").traceassert(False, label="{label}", action="hold")'
    source, line_map = insert_statements(func, lines, {at: stmt})
    return source, at, line_map


def word_at(text: str, character: int) -> str | None:
    """The identifier under 0-based ``character`` of a line, or None."""
    for m in re.finditer(r"[A-Za-z_]\w*", text):
        if m.start() <= character <= m.end():
            return m.group(0)
    return None


# ---- positions in patched code -------------------------------------------------------------------
#: pseudo file of a patch (``Patch.filename``) -> (that Patch, real source path, line map)
_patch_lines: dict[str, tuple[Any, str, list[int]]] = {}
_patch_lines_lock = threading.Lock()


def remember_patch_lines(patch: Any, path: str, line_map: list[int]) -> None:
    """Record that ``patch`` (a ``core.patching.Patch`` whose source came from
    ``insert_statements``) runs the code of the file ``path``: ``line_map[i]`` is the 1-based file
    line of line ``i + 1`` of the patched source. Replaces an older map of the same pseudo file."""
    with _patch_lines_lock:
        _patch_lines[patch.filename] = (patch, os.path.realpath(path), list(line_map))


def source_position(patcher: Any, file: str, line: int) -> tuple[str, int]:
    """(source file, 1-based line) of a position: inside code patched by "Hold here live" or DAP
    breakpoints, the file line it came from (an inserted statement: the line it precedes); any
    other position unchanged. A map stays valid after its patch is undone (a held request may
    still run that code) until ``patcher`` (``core.patching.Patcher``) has another patch of that
    name, whose code shares the pseudo file: then the map is dropped."""
    with _patch_lines_lock:
        entry = _patch_lines.get(file)
    if entry is None:
        return file, line
    patch, path, line_map = entry
    if patcher.get(patch.name) not in (patch, None):   # patched again without a map (edit, otrace/patch)
        with _patch_lines_lock:
            if _patch_lines.get(file) is entry:
                del _patch_lines[file]
        return file, line
    return path, line_map[line - 1] if 0 < line <= len(line_map) else line
