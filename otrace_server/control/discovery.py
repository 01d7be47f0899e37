"""Discovery files: how editors find running otrace processes without typing a port or token.

Each process with an embedded control server writes ``<runtime dir>/otrace/otrace-<pid>.json``
(``$XDG_RUNTIME_DIR``, else ``~/.cache``), mode 0600, holding
``{pid, ppid, argv, cwd, host, lsp_port, dap_port, token, started, fleet}`` (``fleet``: ``{id, name}``
or null, see ``control.fleet``); it is removed at stop/exit.
The directory must be private: ``private_dir`` creates it mode 0700, tightens an existing one of
ours to 0700 and refuses (OSError) a directory or symlink owned by another user, since whoever can
write there can plant a discovery file (editors would send their commands to a stranger's port) or
read the token.

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
import stat
import sys
import time
from pathlib import Path
from typing import Any

from otrace_server.control.audit import remove_if_empty

__all__ = ["runtime_dir", "discovery_path", "private_dir", "write", "remove", "read_records", "list_processes"]


def runtime_dir() -> Path:
    """The directory that holds discovery files: ``$XDG_RUNTIME_DIR/otrace`` or ``~/.cache/otrace``."""
    base = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "otrace"


def discovery_path(pid: int | None = None, directory: Path | None = None) -> Path:
    """The discovery file of process ``pid`` (default: this process)."""
    return (directory or runtime_dir()) / f"otrace-{pid or os.getpid()}.json"


def private_dir(folder: Path) -> Path:
    """Create ``folder`` (mode 0700) or check an existing one: it (and a symlink leading to it)
    must be owned by this user; group/other permissions are removed. Returns ``folder``.

    Raises OSError (one line, naming the path) for a directory of another user or a non-directory.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    uid = os.geteuid()
    link = os.lstat(folder)
    if stat.S_ISLNK(link.st_mode) and link.st_uid != uid:
        raise OSError(f"otrace: {folder} is a symlink owned by uid {link.st_uid}, not you: refusing to use it")
    st = os.stat(folder)
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(f"otrace: {folder} is not a directory")
    if st.st_uid != uid:
        raise OSError(f"otrace: {folder} is owned by uid {st.st_uid}, not you: refusing to use it")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(folder, 0o700)
    return folder


def write(*, host: str = "127.0.0.1", lsp_port: int | None, dap_port: int | None = None, token: str,
          directory: Path | None = None, fleet: dict[str, str] | None = None) -> Path:
    """Write this process's discovery file (mode 0600, atomically) and return its path. ``fleet``:
    the fleet this process is a worker of (``control.fleet.identity``), None: alone.

    Raises OSError when the directory cannot be created or written, or is not private (``private_dir``).
    """
    path = discovery_path(directory=directory)
    private_dir(path.parent)
    info: dict[str, Any] = {
        "pid": os.getpid(), "ppid": os.getppid(), "argv": list(sys.argv), "cwd": os.getcwd(), "host": host,
        "lsp_port": lsp_port, "dap_port": dap_port, "token": token, "started": time.time(),
        "fleet": fleet,
    }
    tmp = path.with_name(path.name + ".tmp")
    remove(tmp)   # a leftover (maybe wider mode, maybe a symlink): never write the token through it
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
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


def read_records(folders, on_stale=None):
    """The discovery records (dicts) of the live processes found in ``folders`` (paths, in order;
    a pid found twice counts once), oldest first. A file whose pid (from its name) is dead is
    skipped and handed to ``on_stale(path)`` when given; unreadable or malformed files are skipped:
    not a regular file (a FIFO, a device, a symlink: never opened for reading), over 1 MiB, not
    JSON, not an object with the file's pid, or a field of ``write``'s not of its type (``argv`` a
    list of strings; ``cwd``, ``host``, ``token`` strings; ports 1-65535; ``started`` a time;
    ``fleet`` an object with a string ``id``), null or missing allowed (an older server's).

    Self-contained on purpose (stdlib imports inside, Python 3.6 syntax, no module names used):
    ``otrace_server.remote`` sends this function's source to read another host's discovery
    files over SSH, so both hosts read them by the same code.
    """
    import json
    import os
    import stat

    def alive(pid):
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, OverflowError):   # OverflowError: past any pid
            return False
        except PermissionError:   # exists, owned by someone else
            return True
        return True

    def read(path):
        """The file's text, or None: not a regular file, or larger than a record can be."""
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)   # non-blocking: a FIFO does not wait for a writer
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = f.read(limit + 1)
        return data.decode("utf-8") if len(data) <= limit else None

    def typed(value, kinds, check=lambda v: True):
        return value is None or isinstance(value, kinds) and not isinstance(value, bool) and check(value)

    def well_formed(info, pid):
        if not isinstance(info, dict) or type(info.get("pid")) is not int or info["pid"] != pid:
            return False
        fleet = info.get("fleet")
        return (typed(info.get("argv"), list, lambda v: all(isinstance(a, str) for a in v))
                and all(typed(info.get(key), str) for key in ("cwd", "host", "token"))
                and all(typed(info.get(key), int, lambda v: 0 < v < 65536) for key in ("lsp_port", "dap_port"))
                and typed(info.get("started"), (int, float), lambda v: 0 <= v < 1e11)   # NaN: False
                and typed(fleet, dict, lambda v: isinstance(v.get("id"), str)))

    limit = 1 << 20
    out, seen = [], set()
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if not (name.startswith("otrace-") and name.endswith(".json")):
                continue
            digits = name[len("otrace-"):-len(".json")]
            if not digits or not all("0" <= c <= "9" for c in digits) or int(digits) == 0:
                continue   # not a pid (kill(0) or kill(-n) would ask about process groups)
            pid = int(digits)
            path = os.path.join(folder, name)
            if not alive(pid):
                if on_stale is not None:
                    on_stale(path)
                continue
            try:
                text = read(path)
                info = json.loads(text) if text is not None else None
            except (OSError, ValueError, RecursionError):
                continue
            if well_formed(info, pid) and pid not in seen:
                seen.add(pid)
                out.append(info)
    out.sort(key=lambda i: i.get("started") or 0)
    return out


def _remove_stale(path: str) -> None:
    """A dead process's discovery file, and its audit log when it recorded nothing."""
    remove(Path(path))
    remove_if_empty(Path(path).with_suffix(".audit.log"))


def list_processes(directory: Path | None = None) -> list[dict[str, Any]]:
    """The discovery records of live otrace processes, oldest first (``read_records``).

    Files of dead processes are deleted (with their audit log when it recorded nothing); unreadable or malformed files are skipped (and deleted
    when their pid, taken from the file name, is dead).
    """
    return read_records([str(directory or runtime_dir())], on_stale=_remove_stale)
