"""Questions about the streams the console talks to: is it a terminal, which file descriptor, the
same terminal as another stream. Any thread; never raises for a stream without a descriptor."""

from __future__ import annotations

import os

__all__ = ["isatty", "fileno", "same_terminal"]


def isatty(stream) -> bool:
    """Whether ``stream`` is a terminal (False for a closed stream or one without ``isatty``)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def fileno(stream) -> int | None:
    """The file descriptor of ``stream``, or None when it has none (StringIO, closed, detached)."""
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):
        return None


def same_terminal(stream, other) -> bool:
    """True when both streams write to the same terminal device."""
    fd, other_fd = fileno(stream), fileno(other)
    if fd is None or other_fd is None or not isatty(stream):
        return False
    try:
        return os.path.samestat(os.fstat(fd), os.fstat(other_fd))
    except OSError:
        return False
