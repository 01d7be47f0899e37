"""A live patch against its source file: where the patched function is in the file now, the diff
between the two, and the edit that writes the live code into the file (LSP ``otrace/patchDiff``,
``otrace/promotePatch``).

    change = patch_change(engine.patcher.get("GetHandler.respond"))
    change.file, change.start_line, change.end_line     # the def (decorators included), 1-based
    change.original                                     # those lines of the file as it is now
    change.live                                         # the live source, indented as in the file
    change.diff                                         # unified diff: the file -> the file with live code

The function is found in the file AS IT IS NOW (read from disk, not ``linecache``), by its
qualified name in the file's syntax tree, so a file edited since the code was loaded is handled
(a function that is gone or renamed: OTraceError). otrace never writes the file: the editor
applies ``(start_line, end_line, live)`` as an undoable edit and the user saves; afterwards the
file and the live code agree (``diff`` is empty).

Thread-safety: reads a file and the patch (not mutated once made); any thread.
"""

from __future__ import annotations

import ast
import difflib
import textwrap
import types
from dataclasses import dataclass
from typing import Any

from otrace_server.core.errors import OTraceError
from otrace_server.core.targets import untraced

__all__ = ["PatchChange", "patch_change", "locate_def"]


@dataclass(frozen=True)
class PatchChange:
    """A patch against its file: ``file``, ``start_line``/``end_line`` (1-based, inclusive: the
    ``def`` with its decorators), ``original`` (those lines now), ``live`` (the live source
    indented as the ``def`` is, with the file's line ending), ``diff`` (unified, the whole file's
    line numbers; "" when they agree)."""

    name: str
    file: str
    start_line: int
    end_line: int
    original: str
    live: str
    diff: str


def _function(value: Any) -> types.FunctionType | None:
    if isinstance(value, (classmethod, staticmethod)):
        value = value.__func__
    value = untraced(value)
    return value if isinstance(value, types.FunctionType) else None


def locate_def(text: str, qualname: str) -> tuple[int, int] | None:
    """(start, end) lines (1-based, inclusive, decorators included) of the ``def`` of ``qualname``
    (``Class.method``, ``func``; ``<locals>`` parts are not found) in the source ``text``; None
    when it is not there or the text does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    body: list[ast.stmt] = tree.body
    found: ast.stmt | None = None
    for part in qualname.split("."):
        found = next((s for s in reversed(body) if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                  ast.ClassDef)) and s.name == part), None)
        if found is None:
            return None
        body = found.body
    if not isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    start = min([found.lineno] + [d.lineno for d in found.decorator_list])
    return start, found.end_lineno or found.lineno


def patch_change(patch: Any) -> PatchChange:
    """The ``PatchChange`` of a live ``core.patching.Patch``; OTraceError when its function has no
    source file, the file cannot be read, or the function is no longer in it."""
    func = _function(patch.original) or _function(patch.target.function)
    file = func.__code__.co_filename if func is not None else ""
    qualname = func.__qualname__ if func is not None else patch.name
    if not file or file.startswith("<"):
        raise OTraceError(f"{patch.name}: its original code has no source file")
    try:
        with open(file, encoding="utf-8", newline="") as f:
            text = f.read()
    except OSError as exc:
        raise OTraceError(f"{patch.name}: cannot read {file}: {exc.strerror}") from None
    where = locate_def(text, qualname)
    if where is None:
        raise OTraceError(f"{patch.name}: 'def {qualname.rsplit('.', 1)[-1]}' of {qualname} is no longer in {file}")
    start, end = where
    lines = text.splitlines(keepends=True)
    eol = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    original = "".join(lines[start - 1:end])
    indent = original[:len(original) - len(original.lstrip(" \t"))]
    live_lines = [(indent + line if line.strip() else "") for line in
                  textwrap.dedent(patch.source).strip("\n").splitlines()]
    live = eol.join(live_lines) + eol
    new_lines = lines[:start - 1] + live.splitlines(keepends=True) + lines[end:]
    if lines and not lines[-1].endswith(("\n", "\r")) and end == len(lines):
        new_lines[-1] = new_lines[-1].rstrip("\r\n")   # the file ended without a newline: so does the result
    diff = "".join(difflib.unified_diff(lines, new_lines, fromfile=file, tofile=f"{file} (live)"))
    return PatchChange(patch.name, file, start, end, original, live, diff)

