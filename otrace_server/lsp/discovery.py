"""Discovery files: how editors find running otrace processes without typing a port or token.

Each process with an embedded control server writes ``<runtime dir>/otrace/otrace-<pid>.json``
(``$XDG_RUNTIME_DIR``, else ``~/.cache``), mode 0600, holding
``{pid, argv, cwd, host, lsp_port, dap_port, token, started}``; it is removed at stop/exit.

    >>> path = write(lsp_port=4711, token="t")          # doctest: +SKIP
    >>> [p["lsp_port"] for p in list_processes()]      # doctest: +SKIP
    [4711]

``list_processes`` ignores and deletes stale files (their pid is dead).

Thread-safety: every function may be called from any thread; writes are atomic (write to a
temporary file, then rename), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from otrace_server.lsp.audit import remove_if_empty

__all__ = ["runtime_dir", "discovery_path", "write", "remove", "list_processes"]


def runtime_dir() -> Path:
    """The directory that holds discovery files: ``$XDG_RUNTIME_DIR/otrace`` or ``~/.cache/otrace``."""
    base = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "otrace"


def discovery_path(pid: int | None = None, directory: Path | None = None) -> Path:
    """The discovery file of process ``pid`` (default: this process)."""
    return (directory or runtime_dir()) / f"otrace-{pid or os.getpid()}.json"


def write(*, host: str = "127.0.0.1", lsp_port: int | None, dap_port: int | None = None, token: str,
          directory: Path | None = None) -> Path:
    """Write this process's discovery file (mode 0600, atomically) and return its path.

    Raises OSError when the directory cannot be created or written.
    """
    path = discovery_path(directory=directory)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    info: dict[str, Any] = {
        "pid": os.getpid(), "argv": list(sys.argv), "cwd": os.getcwd(), "host": host,
        "lsp_port": lsp_port, "dap_port": dap_port, "token": token, "started": time.time(),
    }
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)
    return path


def remove(path: Path | None = None) -> None:
    """Remove a discovery file (default: this process's); a missing file is not an error."""
    try:
        os.unlink(path or discovery_path())
    except FileNotFoundError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # exists, owned by someone else
        return True
    return True


def list_processes(directory: Path | None = None) -> list[dict[str, Any]]:
    """The discovery records of live otrace processes, oldest first.

    Files of dead processes are deleted (with their audit log when it recorded nothing); unreadable or malformed files are skipped (and deleted
    when their pid, taken from the file name, is dead).
    """
    folder = directory or runtime_dir()
    out = []
    for path in sorted(folder.glob("otrace-*.json")):
        try:
            pid = int(path.stem.split("-", 1)[1])
        except ValueError:
            continue
        if not _alive(pid):
            remove(path)
            remove_if_empty(path.with_suffix(".audit.log"))
            continue
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("pid") == pid:
            out.append(info)
    out.sort(key=lambda i: i.get("started") or 0)
    return out
