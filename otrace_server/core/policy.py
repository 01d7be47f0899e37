"""The safe-mode policy: THE refusal of what would run application code or start processes
while ``safe_mode`` is on (the default), with one message shape for every front end.

    require_unsafe(engine.settings, "exec")
    # OTraceError: exec: refused in safe mode; set safe_mode False to allow it
    refusal(settings, "debugpy", "its port has no token")
    # 'debugpy: refused in safe mode (its port has no token); set safe_mode False to allow it'

What is refused is declared where it is registered (a shell command's ``unsafe=True`` in
``shell.registry``) or checked with ``require_unsafe`` where the operation starts (the Unix
pass-through, JavaScript evaluation, ``otrace/patch``, DAP conditions, logpoints and repl
statements, debugpy). Undoing what otrace itself did (unpatching, removing a live hold or a
breakpoint, untracing, resuming) is never refused: it only puts the application's code back.

Thread-safety: any thread (reads one setting).
"""

from __future__ import annotations

from typing import Any

from otrace_server.core.errors import OTraceError

__all__ = ["refused", "refusal", "require_unsafe", "HOW_TO_ALLOW"]

#: how to allow what safe mode refuses (the end of every refusal)
HOW_TO_ALLOW = "set safe_mode False to allow it"


def refused(what: str, why: str = "") -> str:
    """The one-line refusal of ``what`` in safe mode, with an optional reason ``why``."""
    return f"{what}: refused in safe mode{f' ({why})' if why else ''}; {HOW_TO_ALLOW}"


def refusal(settings: Any, what: str, why: str = "") -> str | None:
    """``refused(what, why)`` while ``settings.safe_mode`` is on, else None."""
    return refused(what, why) if settings.safe_mode else None


def require_unsafe(settings: Any, what: str, why: str = "") -> None:
    """Raise OTraceError(``refused(what, why)``) while ``settings.safe_mode`` is on."""
    if settings.safe_mode:
        raise OTraceError(refused(what, why))
