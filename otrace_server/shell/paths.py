"""Path text -> absolute path components, with otrace's special paths.

    ~      /osh/globals (home)             ~~     the most recent trace context
    ~~g    /osh/globals                    ~~w    the work directory (real filesystem)
    .  ..  /                                a.b.c  a/b/c inside /osh/globals and /osh/locals

Thread-safety: pure functions of their arguments (``~~`` reads the engine's thread-safe store).
"""

from __future__ import annotations

from typing import Callable


from otrace_server.core.errors import OTraceError

__all__ = ["split_path", "join_path", "GLOBALS_PATH", "NO_CONTEXT_YET"]

GLOBALS_PATH = ["osh", "globals"]
#: the error for ``~~`` before any context exists: says what records one
NO_CONTEXT_YET = ("~~: no trace context (none recorded yet, or all deleted; one is recorded when a traced "
                  "function raises or matches 'trace -c', or a traceassert fails while trace_active is True)")


def join_path(parts: list[str]) -> str:
    """``["osh", "globals"]`` -> ``"/osh/globals"``."""
    return "/" + "/".join(parts)


def split_path(text: str, cwd: list[str], *, latest: Callable[[], list[str] | None],
               work_dir: str) -> list[str]:
    """Absolute components of ``text`` relative to ``cwd`` (see the module doc); OTraceError for
    ``~~`` when no context was recorded yet."""
    text = text.strip()
    if text.startswith("~~g"):
        text = join_path(GLOBALS_PATH) + text[3:]
    elif text.startswith("~~w"):
        text = work_dir.rstrip("/") + text[3:]
    elif text.startswith("~~"):
        parts = latest()
        if parts is None:
            raise OTraceError(NO_CONTEXT_YET)
        text = join_path(parts) + text[2:]
    elif text == "~" or text.startswith("~/"):
        text = join_path(GLOBALS_PATH) + text[1:]
    if text.startswith("/"):
        base: list[str] = []
        rest = text
    else:
        base = list(cwd)
        rest = text
        in_names = len(cwd) >= 2 and cwd[0] == "osh" and cwd[1] in ("globals", "locals")
        if in_names and "/" not in rest and ".." not in rest and not rest.startswith("."):
            rest = rest.replace(".", "/")
    parts = base
    for name in rest.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            if parts:
                parts.pop()
            continue
        parts.append(name)
    return parts
