"""The console's line reader for a stdin read without GNU readline: lines read straight from its file
descriptor, so that ``Console.stop()`` ends the wait.

Thread-safety: one ``FdLines`` is used by one thread (the console's).
"""

from __future__ import annotations

import os
import select
from typing import Callable

__all__ = ["FdLines"]


class FdLines:
    """Lines read straight from a file descriptor (``os.read``), waiting in short ``select`` slices
    so that a stop request ends the wait. Unlike ``sys.stdin.readline()`` it holds no lock of a
    Python stream while it waits: a console thread blocked there after ``stop()`` read one more
    line, and, being a daemon thread holding stdin's lock, made the interpreter's shutdown abort
    ("Fatal Python error: _enter_buffered_busy"). Used by the console's thread only."""

    _SLICE = 0.05

    def __init__(self, fd: int, encoding: str) -> None:
        self.fd = fd
        self.encoding = encoding
        self._buf = b""
        self._eof = False

    def pending(self) -> bool:
        """Whether a line (or EOF) can be returned without waiting."""
        return self._eof or b"\n" in self._buf

    def readline(self, stopped: Callable[[], bool]) -> str | None:
        """The next line with its newline ("" at EOF), or None as soon as ``stopped()`` is true."""
        while not self.pending():
            if stopped():
                return None
            try:
                readable, _, _ = select.select([self.fd], [], [], self._SLICE)
                chunk = os.read(self.fd, 65536) if readable else None
            except InterruptedError:
                continue
            except OSError:            # stdin closed under us: as EOF
                chunk = b""
            if chunk is not None:
                self._buf += chunk
                self._eof = not chunk
        line, newline, self._buf = self._buf.partition(b"\n")
        return (line + newline).decode(self.encoding, "replace")
