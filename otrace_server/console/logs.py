"""The console's log handler: while the console runs and the application configured no logging,
records of WARNING and above are printed above the typed line instead of across it (they would
otherwise go to stderr through ``logging.lastResort``: e.g. Tornado's "Uncaught exception" tracebacks),
``core.reprs.visible``: a logged request URI or browser message cannot send terminal escapes.

Thread-safety: ``emit`` runs on the thread that logs; ``show_line`` serialises the terminal writes.
"""

from __future__ import annotations

import logging

from otrace_server.console.render import LineShower
from otrace_server.core.reprs import visible

__all__ = ["ConsoleLogHandler"]


class ConsoleLogHandler(logging.Handler):
    """Root-logger handler used while the console runs and the application configured no logging:
    WARNING and above, printed through ``console.show_line`` (what logging.lastResort would print)."""

    def __init__(self, console: LineShower) -> None:
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.show_line(visible(self.format(record)))
        except Exception:
            self.handleError(record)
