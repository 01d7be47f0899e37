"""The trace database: every recorded trace context also written to a SQLite file (``pickle_file``).

    >>> db = TraceDB("/tmp/trace.sqlite")          # doctest: +SKIP
    >>> db.write(ctx); db.close()                   # doctest: +SKIP
    >>> [c.id for c in load("/tmp/trace.sqlite")]   # doctest: +SKIP
    ['Receive.respond:ex-ZeroDivisionError:05-08-45']

What is stored: the context's fields (id, type, label, function, event, file, line, thread, time,
exception, traceback, return value, arguments, locals, stack, related ids, extra). Values are
stored as themselves only when they are plain data (None, bool, int, float, complex, str, bytes,
and list/tuple/dict/set/frozenset of plain data, nested at most a few levels; a request's
``core.request_summary.RequestSummary``, three strings, is stored as itself); anything else is
stored as its repr string, which loads back as a ``Repr`` (a ``str`` whose repr is that text).
Module globals and live objects are never stored.

Security: ``load`` reads only files written by ``TraceDB``: it checks the ``otrace_meta`` table's
magic row before reading anything and refuses any other file with an OTraceError. The value blobs
are pickles, read back with a restricted unpickler that can build only plain data, ``Repr`` and
``RequestSummary`` (it refuses every other class), so even a tampered file cannot run code when loaded.
``TraceDB`` likewise refuses to write into an existing SQLite file that is not a trace database.

Thread-safety: contexts are recorded from many threads; ``write`` and ``close`` may be called from
any thread (one connection, ``check_same_thread=False``, guarded by a lock). The file uses WAL mode,
so ``load`` can read it while it is being written.
"""

from __future__ import annotations

import io
import os
import pickle
import sqlite3
import threading
from typing import Any

from otrace_server.core.context import MISSING, TraceContext
from otrace_server.core.errors import OTraceError
from otrace_server.core.frames import FrameSnapshot
from otrace_server.core.reprs import safe_repr
from otrace_server.core.request_summary import RequestSummary

__all__ = ["TraceDB", "Repr", "load", "plain", "MAGIC", "SCHEMA_VERSION"]

#: value of the ``magic`` row in ``otrace_meta``; files without it are never read
MAGIC = "otrace-server trace database"
SCHEMA_VERSION = "1"

_MAX_DEPTH = 6        # deeper containers are stored as their repr
_MAX_ITEMS = 1000     # bigger containers are stored as their repr
_MAX_REPR = 2000      # repr strings are cut to this many characters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS otrace_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contexts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL, ctype TEXT NOT NULL, label TEXT NOT NULL, funcname TEXT NOT NULL,
    event TEXT NOT NULL, file TEXT NOT NULL, line INTEGER NOT NULL, thread TEXT NOT NULL,
    timestamp REAL NOT NULL, exc_type TEXT, exc_message TEXT, traceback TEXT,
    frame_index INTEGER NOT NULL, saved INTEGER NOT NULL, data BLOB NOT NULL
);
"""


class Repr(str):
    """A value that could not be stored as itself: its repr text. ``repr(Repr(t)) == t``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


class _Missing:
    """Pickled stand-in for ``context.MISSING`` (no return value recorded)."""

    __slots__ = ()

    def __reduce__(self):
        return (_Missing, ())


_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_ALLOWED_CLASSES = {
    (__name__, "Repr"): Repr,
    (__name__, "_Missing"): _Missing,
    (RequestSummary.__module__, "RequestSummary"): RequestSummary,
    ("builtins", "complex"): complex,
}


def _repr(value: Any) -> Repr:
    return Repr(safe_repr(value, _MAX_REPR))   # a broken __repr__ must not break recording


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` as plain data (see the module doc): itself, a container of plain data, or a Repr."""
    kind = type(value)
    if kind in _SCALARS or kind is RequestSummary:   # a RequestSummary holds only strings
        return value
    if depth >= _MAX_DEPTH or kind not in (list, tuple, dict, set, frozenset):
        return _repr(value)
    try:
        if len(value) > _MAX_ITEMS:
            return _repr(value)
        if kind is dict:
            return {plain(k, depth + 1): plain(v, depth + 1) for k, v in list(value.items())}
        return kind(plain(v, depth + 1) for v in list(value))
    except Exception:  # mutated while copied, unhashable after conversion, ...
        return _repr(value)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_CLASSES[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused class {module}.{name}") from None


def _dumps(ctx: TraceContext) -> bytes:
    data = {
        "argvalues": plain(ctx.argvalues),
        "locals": plain(ctx.locals),
        "stack": [(f.file, f.line, f.function, None if f.locals is None else plain(f.locals)) for f in ctx.stack],
        "return_value": _Missing() if ctx.return_value is MISSING else plain(ctx.return_value),
        "related": plain(list(ctx.related)),
        "extra": plain(ctx.extra),
    }
    return pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)


def _loads(blob: bytes) -> dict[str, Any]:
    data = _Unpickler(io.BytesIO(blob)).load()
    if not isinstance(data, dict):
        raise pickle.UnpicklingError("not a context record")
    return data


def _resolve(path: str) -> str:
    if not isinstance(path, str) or not path.strip():
        raise OTraceError("trace database: empty path")
    full = os.path.abspath(os.path.expanduser(path.strip()))
    if os.path.isdir(full):
        raise OTraceError(f"trace database: {path} is a directory")
    return full


def _check_magic(conn: sqlite3.Connection, path: str) -> bool:
    """True for a trace database, False for an empty file; OTraceError for anything else."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return False
    if "otrace_meta" in tables:
        rows = dict(conn.execute("SELECT key, value FROM otrace_meta"))
        if rows.get("magic") == MAGIC:
            if rows.get("schema") != SCHEMA_VERSION:
                raise OTraceError(f"{path}: trace database schema {rows.get('schema')!r} is not supported "
                                  f"(expected {SCHEMA_VERSION})")
            return True
    raise OTraceError(f"{path} is not an otrace trace database; refusing to use it")


class TraceDB:
    """An open trace database. Creates the file (and its schema) if needed; appends otherwise.

    Raises OTraceError (and leaves nothing open) when the path is not usable: a directory, a
    missing parent directory, no permission, or an existing file that is not a trace database.
    """

    def __init__(self, path: str) -> None:
        self.path = _resolve(path)
        self._lock = threading.Lock()
        conn = None
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            is_ours = _check_magic(conn, path)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if not is_ours:
                conn.executescript(_SCHEMA)
                conn.executemany("INSERT OR REPLACE INTO otrace_meta VALUES (?, ?)",
                                 [("magic", MAGIC), ("schema", SCHEMA_VERSION)])
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise OTraceError(f"cannot use trace database {path}: {exc}") from None
        except OTraceError:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    def write(self, ctx: TraceContext) -> None:
        """Append one context (it must have its id). OTraceError once closed or on a database error."""
        row = (ctx.id, ctx.ctype, ctx.label, ctx.funcname, ctx.event, ctx.file, ctx.line, ctx.thread,
               ctx.timestamp, ctx.exc_type, ctx.exc_message, ctx.traceback, ctx.frame_index,
               int(ctx.saved), _dumps(ctx))
        with self._lock:
            if self._conn is None:
                raise OTraceError(f"trace database {self.path} is closed")
            try:
                self._conn.execute(
                    "INSERT INTO contexts (id, ctype, label, funcname, event, file, line, thread, timestamp,"
                    " exc_type, exc_message, traceback, frame_index, saved, data)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            except sqlite3.Error as exc:
                raise OTraceError(f"writing {ctx.id} to {self.path}: {exc}") from None

    def close(self) -> None:
        """Close the file; later writes raise OTraceError. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def closed(self) -> bool:
        """True after ``close``."""
        return self._conn is None


def load(path: str) -> list[TraceContext]:
    """The contexts stored in the trace database ``path``, in the order they were written.

    Raises OTraceError for a missing file, a file that is not SQLite, any SQLite file without the
    trace database's magic row, and a record that cannot be read back (naming it).
    """
    full = _resolve(path)
    if not os.path.isfile(full):
        raise OTraceError(f"no such trace database: {path}")
    conn = None
    try:
        conn = sqlite3.connect(f"file:{full}?mode=ro", uri=True)
        if not _check_magic(conn, path):
            raise OTraceError(f"{path} is not an otrace trace database; refusing to read it")
        rows = conn.execute(
            "SELECT id, ctype, label, funcname, event, file, line, thread, timestamp, exc_type, exc_message,"
            " traceback, frame_index, saved, data FROM contexts ORDER BY seq").fetchall()
    except sqlite3.Error as exc:
        raise OTraceError(f"cannot read trace database {path}: {exc}") from None
    finally:
        if conn is not None:
            conn.close()
    return [_context(row, path) for row in rows]


def _context(row: tuple, path: str) -> TraceContext:
    (id_, ctype, label, funcname, event, file, line, thread, timestamp, exc_type, exc_message,
     traceback, frame_index, saved, blob) = row
    try:
        data = _loads(blob)
        stack = [FrameSnapshot(f, n, fn, loc) for f, n, fn, loc in data["stack"]]
        ret = data["return_value"]
        return TraceContext(
            ctype=ctype, label=label, funcname=funcname, event=event,
            argvalues=data["argvalues"], locals=data["locals"], stack=stack, frame_index=frame_index,
            file=file, line=line, thread=thread, timestamp=timestamp, exc_type=exc_type,
            exc_message=exc_message, traceback=traceback,
            return_value=MISSING if isinstance(ret, _Missing) else ret,
            related=list(data["related"]), extra=dict(data["extra"]), id=id_, saved=bool(saved))
    except Exception as exc:
        raise OTraceError(f"{path}: record {id_!r} cannot be read: {exc}") from None
