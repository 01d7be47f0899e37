"""The audit log file of an app process under test (``otrace-<pid>.audit.log`` beside its
discovery file), read as records (``core.audit.parse``)."""

from __future__ import annotations

from pathlib import Path

from otrace_server.core.audit import parse

__all__ = ["AuditFile"]


class AuditFile:
    """``AuditFile(directory, pid)``: ``new()`` parses the lines written since the last call (or
    since it was made)."""

    def __init__(self, directory: Path, pid: int) -> None:
        self.path = Path(directory) / f"otrace-{pid}.audit.log"
        self.seen = len(self.lines())

    def lines(self) -> list[str]:
        """Every line of the file (none while it does not exist)."""
        return self.path.read_text().splitlines() if self.path.exists() else []

    def new(self) -> list[dict]:
        """The records written since the last call."""
        lines = self.lines()
        fresh, self.seen = lines[self.seen:], len(lines)
        return [parse(line) for line in fresh]
