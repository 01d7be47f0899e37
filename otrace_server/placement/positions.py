"""Positions in patched code, reported at the document's lines: a patch made from a document's
function with statements inserted carries a ``core.patching.LineMap`` (built here by ``patch_lines``);
``source_position`` reads it back from the patcher.

    patch = engine.patcher.patch(name, source, namespace, line_map=patch_lines(path, lines))
    file, line = source_position(engine.patcher, ctx.file, ctx.line)

Thread-safety: any thread (the patcher serialises its own reads).
"""

from __future__ import annotations

import os

from otrace_server.core.patching import LineMap, Patcher

__all__ = ["patch_lines", "source_position"]


def patch_lines(path: str, lines: list[int]) -> LineMap:
    """The ``LineMap`` to patch with for a source from ``insert_statements``/``hold_source`` of the
    document at ``path`` (the file's real path is kept): ``lines[i]`` is the 1-based file line of
    line ``i + 1`` of the patched source."""
    return LineMap(os.path.realpath(path), tuple(lines))


def source_position(patcher: Patcher, file: str, line: int) -> tuple[str, int]:
    """(source file, 1-based line) of a position: inside code patched by "Hold here live" or DAP
    breakpoints, the file line it came from (an inserted statement: the line it precedes); any
    other position unchanged. A map stays valid after its patch is undone (a held request may
    still run that code) until the name is patched again: a patch without a map, whose code shares
    the pseudo file, has its positions reported as they are (``Patcher.by_filename``)."""
    patch = patcher.by_filename(file)
    mapped = patch.line_map if patch is not None else None
    if mapped is None:
        return file, line
    return mapped.path, mapped.lines[line - 1] if 0 < line <= len(mapped.lines) else line
