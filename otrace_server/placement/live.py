"""The running code behind a document: the module loaded from a file, the live function of a
qualified name in it, and whether the document still matches what runs (``CHANGED`` when not).

Thread-safety: reads ``sys.modules``, ``linecache`` and ``inspect`` only; any thread.
"""

from __future__ import annotations

import inspect
import linecache
import os
import sys
from types import ModuleType
from typing import Any

from otrace_server.core.errors import OTraceError

__all__ = ["CHANGED", "path_error", "same_file", "module_for_file", "live_function", "code_matches", "line_matches"]

#: what the editor features say when the document no longer matches the running code
CHANGED = "file changed since the code was loaded"


def path_error(path: str) -> str | None:
    """Why ``path`` (an editor's) can name no file, or None: it has a NUL character, or one the
    file system's encoding cannot write (a lone surrogate). ``os.path`` and ``open`` fail on such a
    path with ValueError or UnicodeEncodeError; callers refuse it first with this reason."""
    try:
        encoded = os.fsencode(path)
    except UnicodeEncodeError as exc:
        return f"has a character no file name can have ({path[exc.start:exc.end]!r} at {exc.start})"
    if b"\0" in encoded:
        return "has a NUL character"
    return None


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
