"""What a shell command returns: ``Result`` (text + structured data) and ``EditRequest``.

The shell never prints; front ends (console, LSP, DAP) render a Result. Thread-safety: plain
immutable-by-convention data, safe to hand to any thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Result", "EditRequest", "MAX_OUTPUT", "truncate_output"]

#: the most characters of output one command returns (a front end must stay usable after
#: ``pr list(range(10**6))``); the rest is replaced by one line saying how much there was
MAX_OUTPUT = 50_000


def truncate_output(text: str, limit: int = MAX_OUTPUT) -> str:
    """``text`` when it has at most ``limit`` characters; else its start (cut at a line end when
    one is near) plus the line ``... (output truncated: N characters in all, M shown)``."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    if cut < limit // 2:
        cut = limit
    return f"{text[:cut]}\n... (output truncated: {len(text):,} characters in all, {cut:,} shown)"


@dataclass(frozen=True)
class EditRequest:
    """Ask the front end to open an editor on ``source``; it then calls
    ``session.execute(f"edit {name}", stdin=new_source)``."""

    name: str
    source: str


@dataclass
class Result:
    """The outcome of one command line.

    ``output``: text to show (no trailing newline needed); ``error``: True when the command failed
    (``output`` is then ONE line saying why); ``prompt``/``cwd``: the session's state after the
    command; ``data``: command-specific structured data (``entries``, ``trace_ids``, ``lock``, ...);
    ``repeat``: a command the front end must re-run every ``repeat_interval``; ``edit``: an
    EditRequest; ``quit``: the session asked to end.
    """

    output: str = ""
    error: bool = False
    prompt: str = ""
    cwd: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    repeat: str | None = None
    edit: EditRequest | None = None
    quit: bool = False
