"""A fleet's order log: the standing orders every worker of the fleet applies (docs/PROTOCOL.md
"Fleets"), one JSON object a line in ``<runtime dir>/otrace/fleet-<id>.orders.jsonl`` (mode 0600,
in the private directory of the discovery files).

    log = OrderLog(log_path("shop"))
    log.append({"id": "c0ffee", "kind": "otrace/trace", "params": {"name": "f"}, "summary": "trace f"})
    orders = log.read_new()          # the orders appended since the last call, in log order
    log.changed()                    # a stat: has the file changed since the last read?

An order: ``{id, seq, kind, params, summary, by, pid, time}`` (``id``: the client's ``fleetOrder``;
``seq``: its line number, from 1; ``by``: the client's name; ``pid``: the worker that recorded it).
``append`` writes an order once: under an exclusive ``flock`` of the file it reads the log and
skips an id found there (a client sending the same order to several workers), and an order with
``replaces=KEY`` whose params equal those of the last order of that KEY (DAP breakpoints of one
file sent again by a session of each worker). Readers take a shared lock, so they never see half
a line. A line that is not an order (malformed JSON, a missing id or kind) is skipped with a log
message (once per line), never raised.

Thread-safety: an ``OrderLog`` is used from one thread at a time (the caller serialises: the
language server's fleet orders hold a lock); processes are serialised by the file lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from otrace_server.control.discovery import private_dir, runtime_dir

__all__ = ["log_path", "OrderLog", "MAX_LINE"]

log = logging.getLogger("otrace.fleet")

#: the longest line read as an order (a "Hold here live" order carries its document's lines)
MAX_LINE = 4 * 1024 * 1024


def log_path(fleet_id: str, directory: Path | None = None) -> Path:
    """The order log of fleet ``fleet_id`` (a checked name: ``control.fleet.check_name``)."""
    return (directory or runtime_dir()) / f"fleet-{fleet_id}.orders.jsonl"


def _order(line: bytes, number: int, path: Path, report: bool) -> dict | None:
    """The order of one line of the log, or None (logged when ``report``) when it is not one."""
    try:
        order = json.loads(line)
        if not (isinstance(order, dict) and isinstance(order.get("id"), str) and isinstance(order.get("kind"), str)
                and isinstance(order.get("params", {}), dict)):
            raise ValueError("not an order (an object with a string id and kind, params an object)")
    except ValueError as exc:
        if report:
            log.warning("otrace fleet: %s line %d skipped: %s", path, number,
                        (str(exc).splitlines() or ["?"])[0][:200])
        return None
    order.setdefault("params", {})
    return order


class OrderLog:
    """The order log at ``path`` (see the module doc): ``append``, ``read_new``, ``read_all``,
    ``changed``, ``remove``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0          # bytes of the file read by read_new
        self._lines = 0           # lines read by read_new (their numbers: for the log messages)
        self._seen: tuple | None = None    # (inode, size, mtime) at the last read_new

    def _open(self, create: bool) -> int | None:
        flags = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
        if create:
            private_dir(self.path.parent)
        try:
            return os.open(self.path, flags, 0o600)
        except FileNotFoundError:
            return None

    @staticmethod
    def _read(fd: int, offset: int = 0) -> bytes:
        chunks = []
        while True:
            chunk = os.pread(fd, 1 << 20, offset)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            offset += len(chunk)

    def _parse(self, data: bytes, first_line: int, report: bool = False) -> tuple[list[dict], int, int]:
        """The orders of the complete lines of ``data``; (orders, bytes used, lines used). Lines
        that are not orders are logged when ``report`` (``read_new``: once per line)."""
        orders, used, number = [], 0, first_line
        while True:
            end = data.find(b"\n", used)
            if end < 0:
                return orders, used, number - first_line
            number += 1
            line = data[used:end]
            used = end + 1
            if line.strip() and len(line) <= MAX_LINE:
                order = _order(line, number, self.path, report)
                if order is not None:
                    orders.append(order)
            elif line.strip() and report:
                log.warning("otrace fleet: %s line %d skipped: longer than %d bytes", self.path, number, MAX_LINE)

    def append(self, order: dict[str, Any], replaces: str | None = None) -> bool:
        """Write ``order`` (``id``, ``kind``, ``params``, ``summary``, ``by``) as the log's next
        line, with its ``seq``, this ``pid`` and the ``time``; ``replaces``: a key (stored) whose
        last order this one replaces. False, nothing written, when the id is in the log already or
        the last order of ``replaces`` has the same params. OSError when the log cannot be written."""
        fd = self._open(create=True)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            orders, _, _ = self._parse(self._read(fd), 0)
            if any(o["id"] == order["id"] for o in orders):
                return False
            if replaces is not None:
                last = next((o for o in reversed(orders) if o.get("replaces") == replaces), None)
                if last is not None and last.get("params") == order.get("params"):
                    return False
            line = dict(order, seq=max((o.get("seq", 0) for o in orders if isinstance(o.get("seq"), int)),
                                       default=0) + 1, pid=os.getpid(), time=time.time())
            if replaces is not None:
                line["replaces"] = replaces
            os.write(fd, json.dumps(line, separators=(",", ":")).encode() + b"\n")
            return True
        finally:
            os.close(fd)   # closing releases the lock

    def _shared(self, offset: int) -> bytes | None:
        fd = self._open(create=False)
        if fd is None:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return self._read(fd, offset)
        finally:
            os.close(fd)

    def _stat(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def changed(self) -> bool:
        """Whether the file differs from what ``read_new`` last saw (one stat)."""
        return self._stat() != self._seen

    def read_new(self) -> list[dict]:
        """The orders appended since the last call (all of them at the first), in log order. A log
        removed or replaced by another file is read from its start."""
        seen = self._stat()
        if seen is None or self._seen is None or seen[0] != self._seen[0] or seen[1] < self._offset:
            self._offset = self._lines = 0
        data = self._shared(self._offset) if seen is not None else None
        self._seen = seen
        if not data:
            return []
        orders, used, lines = self._parse(data, self._lines, report=True)
        self._offset += used
        self._lines += lines
        return orders

    def read_all(self) -> list[dict]:
        """Every order of the log, in log order (a missing log: none)."""
        data = self._shared(0)
        return self._parse(data, 0)[0] if data else []

    def remove(self) -> None:
        """Remove the log (a missing one is not an error)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
