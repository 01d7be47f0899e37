"""The source of a running function with statements inserted at document lines: what "Hold here
live" (LSP) and DAP breakpoints patch in, with the line map that says where each line came from.

Lines of the document are 0-based; line maps hold 1-based file lines.

Thread-safety: reads the function's source through ``inspect``; any thread.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any

from otrace_server.core.errors import OTraceError
from otrace_server.placement.live import CHANGED, code_matches
from otrace_server.placement.statements import insertion_point

__all__ = ["statement_line", "insert_statements", "hold_source"]


def statement_line(func: Any, lines: list[str], line: int) -> tuple[int, str]:
    """(0-based document line, its indentation as written) where a statement for 0-based ``line``
    goes inside ``func`` (``statement_start``: before the statement the line belongs to; a def
    line, docstring, clause, blank or comment line moves to the next statement). OTraceError when
    the document does not match the running code or the line is outside ``func``."""
    if not code_matches(func, lines):
        raise OTraceError(f"{func.__qualname__}: {CHANGED}")
    source, first = inspect.getsourcelines(func)
    at, indent = insertion_point(lines, line)
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
