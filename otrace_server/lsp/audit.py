"""The audit log of state-changing control-plane requests (exec, edit, patch, resume, web eval,
trace/untrace): who (the client's ``clientInfo.name``) did what, when.

Records go to the logger ``otrace.audit`` and, while an ``AuditLog`` is open, to a file next to
the discovery file (``otrace-<pid>.audit.log``, mode 0600), one line each::

    2024-05-01T12:00:00 client=vscode method=otrace/resume ids=['GetHandler.get:hd-hold_check:12-00-00']

Thread-safety: ``record`` may be called from any thread (logging serialises the writes).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

__all__ = ["AuditLog", "logger", "remove_if_empty"]

logger = logging.getLogger("otrace.audit")


class AuditLog:
    """Writes audit records to ``logger`` and to ``path`` (opened at construction). The file is
    made mode 0600 and must be a regular file of this user (a symlink or another user's file:
    OSError), since the records name expressions and clients."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)   # the discovery dir: checked by discovery.private_dir
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                raise OSError(f"otrace: audit log {path} is not a regular file of yours: refusing to use it")
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        self._handler = logging.FileHandler(path, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
        self._handler.setLevel(logging.INFO)
        logger.addHandler(self._handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)

    def record(self, client: str, method: str, **details: Any) -> None:
        """Log one state-changing request by ``client``."""
        text = " ".join(f"{k}={v!r}" for k, v in details.items())
        logger.info("client=%s method=%s %s", client, method, text)

    def close(self) -> None:
        """Stop writing to the file; the file is kept when it holds records, removed when empty."""
        logger.removeHandler(self._handler)
        self._handler.close()
        remove_if_empty(self.path)


def remove_if_empty(path: Path) -> None:
    """Delete an audit log that recorded nothing (a missing file is fine)."""
    try:
        if path.stat().st_size == 0:
            path.unlink()
    except FileNotFoundError:
        pass
