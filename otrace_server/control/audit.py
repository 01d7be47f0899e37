"""The audit log's file: ``AuditLog`` writes the records of ``core.audit`` (logger
``otrace.audit``: one line per state-changing effect, naming the front end and the client, for
every front end) to a file next to the discovery file (``otrace-<pid>.audit.log``, mode 0600), one
line each, after its time::

    2024-05-01T12:00:00 front=lsp client=vscode action=resume ids=["GetHandler.get:hd-hold_check:12-00-00"] outcome=continue

(the record's fields: ``core.audit``; ``core.audit.parse`` reads a line back). The file is
bounded for a server that runs for months: past ``MAX_BYTES`` it is renamed
``otrace-<pid>.audit.log.1`` (replacing the previous one) and a new file is started, so the log
takes at most about ``2 * MAX_BYTES`` on disk (plus one record, itself bounded by the control
plane's ``MAX_MESSAGE``). Every file it opens, the rolled-over ones too, is mode 0600.

Thread-safety: records may be written from any thread (logging serialises the writes and the
roll-over).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
from pathlib import Path

from otrace_server.core.audit import logger

__all__ = ["AuditLog", "MAX_BYTES", "remove_if_empty"]

#: size at which the audit file rolls over to ``<name>.1`` (one previous file is kept)
MAX_BYTES = 8 << 20


class _PrivateRotatingHandler(logging.handlers.RotatingFileHandler):
    """A size-bounded file handler whose every file is a regular 0600 file of this user, opened
    without following a symlink (OSError otherwise)."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                raise OSError(f"otrace: audit log {self.baseFilename} is not a regular file of yours: refusing to use it")
            os.fchmod(fd, 0o600)
            return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)
        except BaseException:
            os.close(fd)
            raise


class AuditLog:
    """Writes audit records to ``logger`` and to ``path`` (opened at construction), rolled over
    past ``max_bytes`` (see the module doc). The file is made mode 0600 and must be a regular file
    of this user (a symlink or another user's file: OSError), since the records name expressions
    and clients."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)   # the discovery dir: checked by discovery.private_dir
        self._handler = _PrivateRotatingHandler(path, maxBytes=max_bytes, backupCount=1, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
        self._handler.setLevel(logging.INFO)
        logger.addHandler(self._handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)

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
