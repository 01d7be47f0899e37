"""Finding a request on the stack of the running code: for adapters whose request is not the
traced call's first argument (a FastAPI endpoint without a ``request`` parameter, a helper
coroutine awaited by the handler).

    local_named(("request", "scope"), accept, skip=1)

Walks from the caller outwards (through the coroutine chain of the running task, which is on the
stack while it runs) and returns the first local of one of ``names`` that ``accept`` takes. Only a
frame whose code has such a variable has its locals read.

Thread-safety: reads only the calling thread's own frames.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

__all__ = ["local_named", "MAX_DEPTH"]

#: frames looked at, at most (a request is a few frames above the code that holds)
MAX_DEPTH = 48


def local_named(names: tuple[str, ...], accept: Callable[[Any], Any], skip: int = 1) -> Any | None:
    """The first ``accept(value)`` that is not None, for a local named one of ``names`` of the
    frames of the calling thread, innermost first (``skip`` frames above this one left out);
    None when there is none within ``MAX_DEPTH`` frames. ``accept`` must not run application
    code (type checks only)."""
    frame = sys._getframe(skip + 1)
    depth = 0
    while frame is not None and depth < MAX_DEPTH:
        varnames = frame.f_code.co_varnames
        for name in names:
            if name in varnames:
                found = accept(frame.f_locals.get(name))
                if found is not None:
                    return found
        frame = frame.f_back
        depth += 1
    return None
