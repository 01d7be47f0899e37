"""Positions in patched code, reported at the document's lines: a patch made from a document's
function with statements inserted carries a ``core.patching.LineMap`` (built here by ``patch_lines``);
``source_position`` reads it back from the patcher. A patch made from a whole new source (``edit``,
``otrace/patch``) has no map: its lines are matched to the original function's in its file
(``follow.nearest``), so that an exception in edited code is reported in the file.

    patch = engine.patcher.patch(name, source, namespace, line_map=patch_lines(path, lines))
    file, line = source_position(engine.patcher, ctx.file, ctx.line)

Thread-safety: any thread (the patcher serialises its own reads).
"""

from __future__ import annotations

import inspect
import os

from otrace_server.core.patching import LineMap, Patch, Patcher
from otrace_server.placement.follow import nearest

__all__ = ["patch_lines", "source_position"]


def patch_lines(path: str, lines: list[int]) -> LineMap:
    """The ``LineMap`` to patch with for a source from ``insert_statements``/``hold_source`` of the
    document at ``path`` (the file's real path is kept): ``lines[i]`` is the 1-based file line of
    line ``i + 1`` of the patched source."""
    return LineMap(os.path.realpath(path), tuple(lines))


def source_position(patcher: Patcher, file: str, line: int) -> tuple[str, int]:
    """(source file, 1-based line) of a position: inside code patched by "Hold here live" or DAP
    breakpoints, the file line it came from (an inserted statement: the line it precedes); inside
    code patched from a whole new source, the line of the original function it is, replaced or
    follows (``_matched_map``); any other position unchanged, and so is a position in patched code
    whose original source cannot be read. A map stays valid after its patch is undone (a held
    request may still run that code) until the name is patched again (``Patcher.by_filename``)."""
    patch = patcher.by_filename(file)
    mapped = patch.line_map if patch is not None else None
    if mapped is None and patch is not None:
        mapped = _matched_map(patch)
    if mapped is None:
        return file, line
    return mapped.path, mapped.lines[line - 1] if 0 < line <= len(mapped.lines) else line


def _matched_map(patch: Patch) -> LineMap | None:
    """The lines of a whole-source patch matched to its original function's lines in the original's
    file, or None when that source cannot be read (a function made by exec, a C function)."""
    func = getattr(patch.original, "__func__", patch.original)   # classmethod/staticmethod
    try:
        old, first = inspect.getsourcelines(func)
        path = inspect.getsourcefile(func)
    except (OSError, TypeError):
        return None
    if not path:
        return None
    return LineMap(os.path.realpath(path), tuple(first - 1 + n for n in nearest(old, patch.source.splitlines(True))))
