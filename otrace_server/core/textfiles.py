"""Reading a text file a front end names: ``source FILE``, ``view FILE``, ``edit name < FILE``, an
editor's document that is not open, a DAP breakpoint's file.

    text = read_text(path)                   # OTraceError: "/dev/zero is not a regular file"

Only a regular file of at most ``limit`` bytes (``MAX_TEXT_BYTES``) of UTF-8 text is read, its
newlines translated as ``open`` does (``\\r\\n`` and ``\\r`` become ``\\n``). Anything else is one
line of OTraceError: a FIFO would block the reading thread until some writer comes (for an
editor's document, the control loop: every client of the language server), a device such as
``/dev/zero`` never ends (the process's memory runs out first), and a file that is not text would
otherwise fail deep in the caller.

Thread-safety: any thread.
"""

from __future__ import annotations

import os
import stat

from otrace_server.core.errors import OTraceError

__all__ = ["read_text", "MAX_TEXT_BYTES"]

#: the largest file ``read_text`` reads by default, in bytes
MAX_TEXT_BYTES = 16 * 1024 * 1024


def read_text(path: str, limit: int = MAX_TEXT_BYTES, errors: str = "strict") -> str:
    """The text of the file ``path``. OTraceError (one line naming ``path``) when it cannot be opened
    (``cannot read PATH: <the system's reason>``), is not a regular file, is larger than ``limit``
    bytes or, with ``errors="strict"``, is not UTF-8 (``errors="replace"``: bad bytes become U+FFFD)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))   # a FIFO: no wait for a writer
    except (OSError, ValueError) as exc:   # ValueError: a NUL in the path
        raise OTraceError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OTraceError(f"{path} is not a regular file")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise OTraceError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise OTraceError(f"{path} is larger than {limit:,} bytes")
    try:
        text = data.decode("utf-8", errors)
    except UnicodeDecodeError as exc:
        raise OTraceError(f"{path} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")
