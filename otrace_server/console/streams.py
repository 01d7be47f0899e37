"""Stdout routing: while a console runs on a terminal, the application's own output (``print``,
``sys.stdout``/``sys.stderr`` writes from threads other than the console's) is printed line by line
above the line being typed, instead of across it.

    routed = route_output(console, console.stdout)   # on the console's thread, as it starts
    ...
    restore_output(routed)                            # any thread, as it stops

Thread-safety: a ``ConsoleStream`` is written from any thread; it never holds its own lock while
printing (the console's lock is taken inside ``show_line``), so no lock-order deadlock; a write made
while one of its lines is being printed goes straight to the original stream.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Iterable, TextIO

from otrace_server.console.render import LineShower
from otrace_server.console.terminal import same_terminal

__all__ = ["ConsoleStream", "PARTIAL_LINE_DELAY", "route_output", "restore_output"]

#: seconds a line written without its newline by another thread waits before it is printed alone
PARTIAL_LINE_DELAY = 0.2


class ConsoleStream:
    """Stands in for ``sys.stdout`` / ``sys.stderr`` while a Console runs on a terminal.

    Text written by ``owner`` (the console's thread) goes straight to ``original``. Text from any
    other thread is cut into lines, each printed with ``console.show_line`` (typed line wiped, the
    line printed, prompt and typed text redrawn); a partial line waits for its newline, or
    ``PARTIAL_LINE_DELAY`` seconds, and is then printed as a line of its own. Nothing is dropped.
    A write made by a thread while it prints one of these lines (e.g. from inside the redraw) goes
    straight to ``original`` (no recursion). ``flush`` flushes ``original``; every other attribute
    (``isatty``, ``fileno``, ``encoding``, ``errors``, ``buffer``...) is the original's (bytes
    written to ``buffer`` bypass the line handling). After ``detach_console()`` (the console
    stopping) every write goes straight to ``original``.
    """

    def __init__(self, console: LineShower, original: TextIO, owner: threading.Thread) -> None:
        self.original = original
        self._console = console
        self._owner = owner
        self._lock = threading.Lock()     # guards _partial, _timer, _detached; never held while printing
        self._partial = ""
        self._timer: threading.Timer | None = None
        self._detached = False
        self._local = threading.local()   # .printing: this thread is inside show_line for us

    def write(self, text: str) -> int:
        """Write ``text``; returns ``len(text)``. TypeError for a non-str, like a text stream."""
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if threading.current_thread() is self._owner or getattr(self._local, "printing", False):
            return self.original.write(text)
        with self._lock:
            direct = self._detached
            if not direct:
                head, newline, self._partial = (self._partial + text).rpartition("\n")
                if self._partial and self._timer is None:
                    self._timer = threading.Timer(PARTIAL_LINE_DELAY, self._flush_partial)
                    self._timer.daemon = True
                    self._timer.start()
        if direct:
            return self.original.write(text)
        if newline:
            self._show(head.split("\n"))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.original.flush()

    def detach_console(self) -> None:
        """From now on write straight to ``original``; a pending partial line is written there as is."""
        with self._lock:
            self._detached = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            partial, self._partial = self._partial, ""
        if partial:
            self.original.write(partial)
            self.original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)

    def _flush_partial(self) -> None:
        """Timer thread: print a partial line that got no newline within PARTIAL_LINE_DELAY."""
        with self._lock:
            self._timer = None
            partial, self._partial = self._partial, ""      # always "" once detached
        if partial:
            self._show([partial])

    def _show(self, lines: list[str]) -> None:
        self._local.printing = True
        try:
            for line in lines:
                self._console.show_line(line)
        finally:
            self._local.printing = False


def route_output(console: LineShower, terminal: TextIO) -> list[tuple[str, ConsoleStream]]:
    """Replace ``sys.stdout`` (and ``sys.stderr``), when it writes to the same terminal as
    ``terminal``, by a ConsoleStream printing through ``console`` and owned by the calling thread
    (the console's); returns what ``restore_output`` puts back. Streams already routed are left."""
    owner = threading.current_thread()
    routed = []
    for name in ("stdout", "stderr"):
        original = getattr(sys, name)
        if isinstance(original, ConsoleStream) or not same_terminal(original, terminal):
            continue
        stream = ConsoleStream(console, original, owner)
        setattr(sys, name, stream)
        routed.append((name, stream))
    return routed


def restore_output(routed: list[tuple[str, ConsoleStream]]) -> None:
    """Put the original streams back (unless the application replaced ours meanwhile: then ours
    only stop routing to the console). Any thread."""
    for name, stream in routed:
        stream.detach_console()
        if getattr(sys, name) is stream:
            setattr(sys, name, stream.original)
