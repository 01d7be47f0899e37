"""/osh as files: the object tree seen as folders and files by an editor (LSP ``otrace/fs/*``).

    files = OshFiles(shell)
    files.stat("/osh/globals/GetHandler/respond.py")
    # FileStat(type="file", size=312, mtime=1764890000000, readonly=False, patched=False)
    files.read_directory("/osh/globals/GetHandler")      # [Entry(name="respond.py", ...), ...]
    files.read_file("/osh/globals/GetHandler/respond.py").text   # its live source
    files.function_to_write("/osh/globals/GetHandler/respond.py")   # Writable("GetHandler.respond", ...)

Paths are absolute /osh paths as the shell shows them (``/osh/globals/...``, ``/osh/recent/...``,
``/osh/saved``, ``/osh/patches``, ``/osh/web``, ...). The mapping:
- a directory of /osh (``vfs.Dir``: a module, class, instance, dict, list, a trace context) is a
  directory;
- a Python function or method (also a classmethod/staticmethod, a bound method, a traced one) is
  the file ``<name>.py`` whose text is its live source, dedented (the patched source when
  patched); it is writable under /osh/globals, /osh/locals and /osh/patches (its ``name`` is then
  the dotted name ``edit``/``unpatch`` take), read-only elsewhere (a context's locals);
- every other value is a read-only text file of the same name: a string as itself (a context's
  ``__trc/exc_stack`` reads as the traceback), anything else its ``ls -l`` rendering
  (``vfs.long_value``).
Names that cannot be a path component (empty, ``.``, ``..``, containing ``/``) are left out, and
so are ``__x__`` names that are not functions (as ``ls`` without ``-a``; readable by path). A
directory of more than ``MAX_ENTRIES`` entries lists the first ``MAX_ENTRIES`` by name and one
read-only file ``TRUNCATED`` saying how many were left out (a huge module never hangs a listing).

Writing is not done here: ``function_to_write`` says what to patch (``Writable``: a live patch's
file patches that patch's target, whatever namespace it was made in), and ``check_source`` turns a
syntax error into ``SourceError`` with line/column diagnostics; the caller patches through
``engine.patcher`` (with its safe-mode refusal and audit line, as ``edit``).

Application objects are read as the shell reads them (``vfs``): looking at a value may run its
properties or ``__getattr__``; failures are one-line OTraceErrors naming the path.
Thread-safety: like ``vfs``: reads live objects from the calling thread (a front-end thread).
"""

from __future__ import annotations

import ast
import inspect
import os
import textwrap
import time
import types
from dataclasses import dataclass
from typing import Any

from otrace_server.core import sources
from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import exception_text, is_instance
from otrace_server.core.targets import untraced
from otrace_server.shell import vfs

__all__ = ["OshFiles", "FileStat", "Entry", "FileText", "Writable", "SourceError", "Diagnostic", "check_source",
           "MAX_ENTRIES", "TRUNCATED", "SUFFIX"]

#: the most entries ``read_directory`` lists (then the file ``TRUNCATED`` says how many more)
MAX_ENTRIES = 2000
#: the read-only file standing for the entries a listing left out
TRUNCATED = "_more_entries_not_listed.txt"
#: the suffix of a function's file
SUFFIX = ".py"
_WRITABLE = ("globals", "locals", "patches")
_SHOWN = (vfs.TRACE_INFO, vfs.UP, vfs.DOWN)


@dataclass
class FileStat:
    """``type`` ("directory" | "file"), ``size`` (bytes of its UTF-8 text; 0 for a directory),
    ``mtime`` (ms since the epoch: a function's patch time, else its source file's; anything else:
    now, its text may change at any moment), ``readonly``, ``patched`` (functions only, else None)."""

    type: str
    size: int
    mtime: int
    readonly: bool
    patched: bool | None = None


@dataclass
class Entry:
    """One entry of a directory listing: ``name`` (a function's with ``.py``), ``type``,
    ``readonly``, ``patched`` (functions only, else None)."""

    name: str
    type: str
    readonly: bool
    patched: bool | None = None


@dataclass
class FileText:
    """A file's text: ``language`` "python" (a function) or "plaintext"; ``name``: the dotted name
    ``edit``/``unpatch`` take (writable functions only, else None)."""

    text: str
    readonly: bool
    language: str
    patched: bool
    name: str | None = None


@dataclass(frozen=True)
class Writable:
    """What a write of a function's file patches: ``name`` (the dotted name), ``target`` (what to
    hand ``Patcher.patch``: the name, or a live patch's ``core.targets.Target``), ``namespace``
    (where a name is resolved) and ``function`` (the name its ``def`` must have)."""

    name: str
    target: Any
    namespace: dict
    function: str


@dataclass(frozen=True)
class Diagnostic:
    """Where a source does not compile: ``line`` and ``column`` 1-based, as Python reports them."""

    line: int
    column: int
    message: str


class SourceError(OTraceError):
    """A written source that cannot be a patch (nothing is patched): the one-line message and its
    ``diagnostics``."""

    def __init__(self, message: str, diagnostics: list[Diagnostic]) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


def check_source(path: str, text: str, function: str) -> None:
    """SourceError when ``text`` is not one ``def function`` that compiles (a syntax error at its
    line and column, or the statement that is not that ``def``)."""
    try:
        tree = ast.parse(textwrap.dedent(text))
    except SyntaxError as exc:
        line, column = exc.lineno or 1, exc.offset or 1
        raise SourceError(f"{path}: syntax error, line {line}: {exc.msg}",
                          [Diagnostic(line, column, exc.msg)]) from None
    defs = [s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if len(tree.body) != 1 or len(defs) != 1 or defs[0].name != function:
        wrong = next((s for s in tree.body if s not in defs or s.name != function), None)
        line = (wrong.decorator_list[0].lineno if isinstance(wrong, (ast.FunctionDef, ast.AsyncFunctionDef))
                and wrong.decorator_list else wrong.lineno) if wrong is not None else 1
        message = f"the file must be exactly one 'def {function}(...)'"
        raise SourceError(f"{path}: {message}", [Diagnostic(line, 1, message)])


@dataclass
class _Node:
    """What a path names: ``value`` (a Dir for a directory), ``function`` (the Python function of
    a function file, else None), ``dotted``/``namespace`` (what to patch; None: read-only)."""

    value: Any
    function: types.FunctionType | None = None
    dotted: str | None = None
    namespace: dict | None = None

    @property
    def is_dir(self) -> bool:
        return is_instance(self.value, vfs.Dir)


def function_of(value: Any) -> types.FunctionType | None:
    """The Python function a value stands for (a function, classmethod, staticmethod, bound
    method, a tracing wrapper's function), else None. Never runs the value's code."""
    if is_instance(value, (classmethod, staticmethod, types.MethodType)):
        value = value.__func__
    value = untraced(value)
    return value if is_instance(value, types.FunctionType) else None


class OshFiles:
    """The /osh tree of one shell (``vfs.Host``) as files (see the module doc)."""

    def __init__(self, shell: vfs.Host) -> None:
        self.shell = shell

    # ---- public API ------------------------------------------------------------------------
    def stat(self, path: str) -> FileStat:
        """The stat of ``path``; OTraceError when it does not exist."""
        parts = _parts(path)
        if parts[-1:] == [TRUNCATED] and self._truncated(parts[:-1]):
            return FileStat("file", len(self._truncated_text(parts[:-1]).encode()), _now(), True)
        node = self._node(parts)
        if node.is_dir:
            return FileStat("directory", 0, _now(), True)
        text = self.read_file(path)
        return FileStat("file", len(text.text.encode("utf-8", "replace")), self._mtime(node), text.readonly,
                        text.patched if node.function is not None else None)

    def read_directory(self, path: str) -> list[Entry]:
        """The entries of the directory ``path`` sorted by name (see the module doc: functions as
        ``name.py``, at most ``MAX_ENTRIES`` then ``TRUNCATED``); OTraceError when it is no
        directory."""
        parts = _parts(path)
        node = self._node(parts)
        if not node.is_dir:
            raise OTraceError(f"not a directory: {path}")
        names = sorted(n for n in _names(node.value) if _usable(n))
        out = []
        for name in names[:MAX_ENTRIES]:
            try:
                value = node.value.get(name)
            except Exception:   # the application's code refused it: a file saying so when read
                out.append(Entry(name, "file", True))
                continue
            func = function_of(value)
            if func is None and _dunder(name):
                continue
            if func is not None:
                child = self._function_node(parts + [name], value, func)
                out.append(Entry(name + SUFFIX, "file", child.dotted is None, self._patch(child) is not None))
            elif vfs.is_directory(value):
                out.append(Entry(name, "directory", True))
            else:
                out.append(Entry(name, "file", True))
        if len(names) > MAX_ENTRIES:
            out.append(Entry(TRUNCATED, "file", True))
        return out

    def read_file(self, path: str) -> FileText:
        """The text of the file ``path``: a function's live source, a string itself, else the
        value's ``ls -l`` rendering; OTraceError for a directory or a missing path."""
        parts = _parts(path)
        if parts[-1:] == [TRUNCATED] and self._truncated(parts[:-1]):
            return FileText(self._truncated_text(parts[:-1]), True, "plaintext", False)
        node = self._node(parts)
        if node.is_dir:
            raise OTraceError(f"is a directory: {path}")
        if node.function is None:
            text = node.value if type(node.value) is str else vfs.long_value(node.value)
            return FileText(text, True, "plaintext", False)
        patch = self._patch(node)
        try:   # the source its running code was loaded from (the file may have changed since)
            text = sources.loaded_source(node.function) or textwrap.dedent(inspect.getsource(node.function))
        except Exception as exc:   # no file, or the object's attributes raise
            if patch is None:
                raise OTraceError(f"{path}: no source: {exception_text(exc)}") from None
            text = textwrap.dedent(patch.source)
        return FileText(text, node.dotted is None, "python", patch is not None, node.dotted)

    def function_to_write(self, path: str) -> Writable:
        """What to patch for a write of ``path``; OTraceError when the path is not a writable
        function file (read-only, a directory, a value, missing)."""
        node = self._node(_parts(path))
        if node.function is None:
            what = "a directory" if node.is_dir else "not a function"
            raise OTraceError(f"read-only: {path} is {what}: only a function's .py file can be written")
        if node.dotted is None:
            raise OTraceError(f"read-only: {path}: only functions under /osh/globals, /osh/locals and "
                              "/osh/patches can be patched")
        patch = self.shell.engine.patcher.get(node.dotted) if _parts(path)[1] == "patches" else None
        target = patch.target if patch is not None else node.dotted
        return Writable(node.dotted, target, node.namespace, node.function.__name__)

    # ---- helpers ---------------------------------------------------------------------------
    def _node(self, parts: list[str]) -> _Node:
        if len(parts) == 1:
            return _Node(self.shell.osh_root())
        parent = vfs.resolve(self.shell, parts[:-1])
        name = parts[-1]
        try:
            value = parent.get(name)
        except KeyError:
            value = None
            if name.endswith(SUFFIX):
                try:
                    value = parent.get(name[:-len(SUFFIX)])
                except KeyError:
                    pass
                except Exception as exc:
                    raise OTraceError(f"cannot read {_join(parts)}: {exception_text(exc)}") from None
                func = function_of(value)
                if func is not None:
                    return self._function_node(parts[:-1] + [name[:-len(SUFFIX)]], value, func)
            raise OTraceError(f"no such file or directory: {_join(parts)}") from None
        except Exception as exc:
            raise OTraceError(f"cannot read {_join(parts)}: {exception_text(exc)}") from None
        if is_instance(value, vfs.Dir):
            return _Node(value)
        if function_of(value) is None and vfs.is_directory(value):
            return _Node(vfs.wrap(value, name))
        return _Node(value)   # a function reached without .py: its text is its repr (read-only)

    def _function_node(self, parts: list[str], value: Any, func: types.FunctionType) -> _Node:
        area = parts[1] if len(parts) > 1 else ""
        if area not in _WRITABLE or len(parts) < 3:
            return _Node(value, func)
        if area == "patches":
            return _Node(value, func, parts[2], self.shell.globals)
        namespace = self.shell.globals if area == "globals" else self.shell.locals
        return _Node(value, func, ".".join(parts[2:]), namespace)

    def _patch(self, node: _Node) -> Any:
        """The live patch of a function node, or None."""
        patcher = self.shell.engine.patcher
        if node.dotted is not None:
            found = patcher.get(node.dotted)
            if found is not None:
                return found
        return next((p for p in patcher.patches() if function_of(p.patched) is node.function), None)

    def _mtime(self, node: _Node) -> int:
        patch = self._patch(node) if node.function is not None else None
        if patch is not None:
            return int(patch.time * 1000)
        if node.function is not None:
            try:
                return int(os.path.getmtime(node.function.__code__.co_filename) * 1000)
            except OSError:
                pass
        return _now()

    def _truncated(self, parts: list[str]) -> bool:
        try:
            node = self._node(parts)
        except OTraceError:
            return False
        return node.is_dir and len(_names(node.value)) > MAX_ENTRIES

    def _truncated_text(self, parts: list[str]) -> str:
        count = len([n for n in _names(self._node(parts).value) if _usable(n)])
        return (f"{_join(parts)} has {count:,} entries: the first {MAX_ENTRIES:,} by name are listed here, "
                f"{count - MAX_ENTRIES:,} are not.\nThe shell lists them all: ls {_join(parts)}\n")


def _names(directory: vfs.Dir) -> list[str]:
    try:
        return list(directory.names())
    except Exception:   # an application mapping whose keys() fails lists nothing (as vfs)
        return []


def _dunder(name: str) -> bool:
    """``__x__`` names other than a context's ``__trc``, ``__up``, ``__down`` (left out of listings
    unless functions, as ``ls`` leaves them out without ``-a``)."""
    return len(name) > 4 and name.startswith("__") and name.endswith("__") and name not in _SHOWN


def _usable(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name


def _parts(path: str) -> list[str]:
    """The components of an absolute /osh path; OTraceError for anything else."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise OTraceError(f"not an absolute /osh path: {path!r}")
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] != vfs.BASE or any(p in (".", "..") for p in parts):
        raise OTraceError(f"not a path below /{vfs.BASE}: {path!r}")
    return parts


def _join(parts: list[str]) -> str:
    return "/" + "/".join(parts)


def _now() -> int:
    return int(time.time() * 1000)
