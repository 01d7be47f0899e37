"""Fleets: the worker processes of one application, as one (docs/PROTOCOL.md "Fleets").

N processes serving one port (Tornado ``bind_sockets`` + ``fork_processes(N)``, gunicorn, uvicorn
``--workers``) each run their own otrace, started AFTER the fork. Each writes its own discovery
file; the record's ``fleet`` field says which fleet it belongs to, and readers (``otrace ps``, the
editors) group the records of one host by it.

    identity("shop")          # {"id": "shop", "name": "shop"}: start(fleet="shop") / OTRACE_FLEET=shop
    identity(None)            # {"id": "ppid-4242", "name": "app.py"} in a forked worker, else None
    group(records)            # [(fleet or None, [records])]: fleets and processes alone, oldest first

A fleet's id is the NAME given (``start(fleet=NAME)``, else the environment variable
``OTRACE_FLEET``); else, in a worker forked or spawned by a parent running the same program (Linux:
``/proc/<ppid>/cmdline`` equals ours, or ``multiprocessing.parent_process()`` is set),
``ppid-<ppid>``; else there is no fleet (None). A NAME is letters, digits and ``._-``, at most
``MAX_NAME`` characters: anything else is refused (``OTraceError``), since it becomes part of a
file name (the fleet's order log).

Thread-safety: pure functions (``identity`` reads /proc and the environment); any thread.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Iterable

from otrace_server.core.errors import OTraceError

__all__ = ["ENV", "MAX_NAME", "identity", "check_name", "group", "worker_label"]

#: the environment variable naming this process's fleet (when ``start`` is given none)
ENV = "OTRACE_FLEET"
#: the longest fleet name
MAX_NAME = 64
_NAME = re.compile(r"[A-Za-z0-9._-]{1,%d}" % MAX_NAME)


def check_name(name: Any, where: str = "fleet") -> str:
    """``name`` when it is a valid fleet name, else OTraceError (one line, saying what is allowed)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in (".", ".."):
        raise OTraceError(f"{where}: {name!r} is not a fleet name: use letters, digits and . _ - "
                          f"(at most {MAX_NAME} characters)")
    return name


def _program() -> str:
    """What to call this process's fleet when it has no NAME: its script's basename."""
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"


def _cmdline(pid: int | str) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


def _forked_worker(ppid: int) -> bool:
    """Whether this process is a worker of a parent running the same program."""
    try:
        import multiprocessing

        if multiprocessing.parent_process() is not None:
            return True
    except (ImportError, AttributeError):
        pass
    ours = _cmdline("self")
    return ppid > 1 and ours is not None and ours == _cmdline(ppid)


def identity(name: str | None = None) -> dict[str, str] | None:
    """This process's fleet: ``{"id", "name"}`` or None (a process alone); see the module doc.
    ``name``: ``start(fleet=...)`` (None: ``OTRACE_FLEET``, then the parent). OTraceError for a
    NAME that is not a fleet name (from either source)."""
    if name is None and os.environ.get(ENV):
        name = check_name(os.environ[ENV], ENV)
    if name is not None:
        check_name(name)
        return {"id": name, "name": name}
    ppid = os.getppid()
    if _forked_worker(ppid):
        return {"id": f"ppid-{ppid}", "name": _program()}
    return None


def worker_label(record: dict) -> str:
    """How a fleet's worker is shown: ``worker <pid>``."""
    return f"worker {record.get('pid', '?')}"


def group(records: Iterable[dict]) -> list[tuple[dict | None, list[dict]]]:
    """The discovery records of one host as ``(fleet, workers)`` pairs: a fleet (``{"id",
    "name"}``) with its workers ordered by ``started`` then pid, or ``(None, [record])`` for a
    process alone (a record without a ``fleet``: also an older server's); the pairs in the order
    their first process started."""
    fleets: dict[str, tuple[dict, list[dict]]] = {}
    out: list[tuple[dict | None, list[dict]]] = []
    for record in records:
        fleet = record.get("fleet")
        if not isinstance(fleet, dict) or not isinstance(fleet.get("id"), str):
            out.append((None, [record]))
            continue
        if fleet["id"] not in fleets:
            fleets[fleet["id"]] = (fleet, [])
            out.append(fleets[fleet["id"]])
        fleets[fleet["id"]][1].append(record)
    for _, workers in out:
        workers.sort(key=lambda r: (r.get("started") or 0, r.get("pid") or 0))
    out.sort(key=lambda pair: pair[1][0].get("started") or 0)
    return out
