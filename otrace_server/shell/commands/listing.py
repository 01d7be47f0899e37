"""Listing and deleting entries: ls, rm.

``ls`` without a pattern lists the current directory; ``ls /ABS/DIR`` (a plain absolute path) or
``ls DIR/`` (any path ending with ``/``) lists that directory; with other patterns it lists the matching names
(like otrace: ``ls ~~`` prints the path of the newest context); ``-l`` adds ``= value``.
Thread-safety: reads live objects; ``rm`` mutates the application's objects (refused in safe mode).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import exception_text, is_class, is_module, is_routine
from otrace_server.core.reprs import visible
from otrace_server.shell import vfs
from otrace_server.shell.commands.errors import application_errors
from otrace_server.shell.paths import join_path
from otrace_server.shell.registry import command
from otrace_server.shell.result import Result

__all__ = ["list_entries", "line_wrap", "TTY_WIDTH"]

TTY_WIDTH = 80
_FLAGS = set("acflmtvC")
_NAME_FLAGS = set("atC")   # flags that need no entry's value
_SHOW_HIDDEN = {"__call__", vfs.TRACE_INFO, vfs.UP, vfs.DOWN}

_LS_HELP = """pattern may use simple shell wildcards (e.g., "*", "abc*", ...)
-a List special attributes of the form __*__
-c List classes
-f List function/method names
-l "Long listing" => name = value ...
-m List modules
-t Order trace context listing by time
-v List variables

-.  Exclude attributes of the current class (in a class directory: those the class defines itself)
-.. Exclude attributes of the parent class
-<baseclass> (or -.<baseclass>) Exclude attributes of baseclass"""


def line_wrap(names: list[str], width: int = TTY_WIDTH) -> str:
    """Lay names out in columns, as otrace's ``ls`` does."""
    if not names:
        return ""
    col = min(width // 2 - 1, max(len(n) for n in names))
    ncols = max(1, width // (col + 1))
    rows = [names[i:i + ncols] for i in range(0, len(names), ncols)]
    return "\n".join(" ".join(n.ljust(col) for n in row).rstrip() for row in rows)


def _kind(value: Any) -> str:
    """By the real type (an object whose ``__class__`` lies is a variable)."""
    if is_class(value):
        return "class"
    if is_routine(value):
        return "function"
    if is_module(value):
        return "module"
    return "variable"


def _current_class(session) -> type | None:
    try:
        value = session.here().value
    except OTraceError:
        return None
    if value is None:
        return None
    return value if is_class(value) else type(value)


def _excluded(session, spec: str) -> Callable[[str], bool]:
    """Which names ``-.``, ``-..``, ``-.Name`` or ``-Name`` excludes: the attributes of the current
    class (in a class directory: those it defines itself, so its inherited ones remain), of its
    parent class, or of the named class."""
    name = spec[1:] if spec.startswith(".") else spec
    if spec.startswith(".") and (not name or set(name) == {"."}):
        cls = _current_class(session)
        if cls is None:
            raise OTraceError(f"ls: -{spec}: no current class here")
        with application_errors(f"ls: -{spec}"):   # a metaclass that hides __mro__ or __dict__
            mro = inspect.getmro(cls)
            if not name and _here_is_class(session):
                own = dict(vars(cls))
                return lambda n: n in own
        base = mro[min(len(name), len(mro) - 1)]
        return lambda n: _has(base, n)
    try:
        value = session.lookup(name)
    except OTraceError:
        value = session.shell.globals.get(name)
    if not is_class(value):
        raise OTraceError(f"ls: -{spec}: not a class")
    return lambda n: _has(value, n)


def _has(cls: type, name: str) -> bool:
    """``hasattr(cls, name)``; False when the class's metaclass raises something else."""
    try:
        return hasattr(cls, name)
    except Exception:
        return False


def _here_is_class(session) -> bool:
    try:
        return is_class(session.here().value)
    except OTraceError:
        return False


def _parse(session, args: list[str]):
    flags: set[str] = set()
    excluded = None
    patterns: list[str] = []
    for arg in args:
        if arg.startswith("-") and len(arg) > 1 and not patterns:
            opt = arg[1:]
            if set(opt) <= _FLAGS:
                flags |= set(opt)
            elif opt.startswith(".") or opt[:1].isalpha() or opt[:1] == "_":
                try:
                    excluded = _excluded(session, opt)
                except OTraceError:
                    if opt.startswith("."):
                        raise
                    raise OTraceError(f"ls: unknown option {arg} (flags -acflmtv, -., -.., -<baseclass>)") from None
            else:
                raise OTraceError(f"ls: unknown option {arg} (flags: -acflmtv, -., -.., -<baseclass>)")
        else:
            patterns.append(arg)
    return flags, excluded, patterns


def _entries(session, patterns: list[str]) -> list[tuple[str, vfs.Dir, str]]:
    """(display name, parent directory, entry name) for each listed entry."""
    if not patterns:
        here = session.here()
        return [(n, here, n) for n in here.names()]
    if len(patterns) == 1 and _names_a_directory(session, patterns[0]):
        target = vfs.resolve(session.shell, session.abspath(patterns[0]))
        return [(n, target, n) for n in target.names()]
    for pattern in patterns:
        if pattern.endswith("/") and pattern.strip("/") and not vfs.has_magic(pattern) \
                and not _names_a_directory(session, pattern):
            raise OTraceError(f"ls: not a directory: {pattern}")
    out = []
    listed: dict[tuple[str, ...], tuple[vfs.Dir, set[str]]] = {}   # each parent listed once, not once per match
    for pattern in patterns:
        relative = not pattern.startswith(("/", "~"))
        found = False
        for parts in vfs.glob(session.shell, session.abspath(pattern)):
            if not parts:
                continue
            try:
                if tuple(parts[:-1]) not in listed:
                    directory = vfs.resolve(session.shell, parts[:-1])
                    listed[tuple(parts[:-1])] = (directory, set(directory.names()))
                parent, names = listed[tuple(parts[:-1])]
                if parts[-1] not in names:
                    parent.get(parts[-1])
            except Exception:   # no such entry, or the application's code refused it
                continue
            cwd = session.cwd
            if relative and parts[:len(cwd)] == cwd and len(parts) > len(cwd):
                shown = "/".join(parts[len(cwd):])
            else:
                shown = join_path(parts)
            out.append((shown, parent, parts[-1]))
            found = True
        if not found:
            raise OTraceError(f"ls: no match for {pattern!r}")
    return out


def _names_a_directory(session, pattern: str) -> bool:
    """True when ``pattern`` is a plain absolute path, or any path ending with ``/`` (no wildcard;
    other relative names and ``~~`` keep otrace's meaning: ``ls name`` / ``ls ~~`` print the
    matching names) to a directory: ``ls /osh/web`` or ``ls config/`` then lists that directory,
    as in a Unix shell."""
    if any(c in pattern for c in "*?[") or not pattern.startswith("/") and not pattern.endswith("/"):
        return False
    try:
        vfs.resolve(session.shell, session.abspath(pattern))
    except Exception:
        return False
    return True


def list_entries(session, args: list[str]) -> Result:
    """``ls`` (see the help text); data: ``entries`` (the names listed)."""
    flags, excluded, patterns = _parse(session, args)
    entries = _entries(session, patterns)
    if "a" not in flags:
        entries = [e for e in entries if e[2] in _SHOW_HIDDEN or not (e[2].startswith("__") and e[2].endswith("__"))]
    if excluded is not None:
        entries = [e for e in entries if not excluded(e[2])]
    kinds = {k for f, k in (("c", "class"), ("f", "function"), ("m", "module"), ("v", "variable")) if f in flags}
    need_values = bool(kinds) or "l" in flags
    rows = []
    for shown, parent, name in entries:
        value: Any = None
        if need_values:
            try:
                value = parent.get(name)
            except Exception as exc:
                value = _Broken(exc)
            if kinds and _kind(value) not in kinds:
                continue
        rows.append((shown, parent, name, value))
    if "t" in flags:
        rows.sort(key=lambda r: (r[1].sort_time(r[2]), r[0]))
    else:
        rows.sort(key=lambda r: r[0])
    names = [r[0] for r in rows]
    # a name is the application's (a dict key, a browser's): one line, escapes shown
    shown_names = [visible(n, one_line=True) for n in names]
    if "l" in flags:
        width = min(TTY_WIDTH // 3 - 1, max((len(n) for n in shown_names), default=2))
        lines = [f"{shown.ljust(width)} = {_describe(parent, row[2], row[3])}" for shown, row in zip(shown_names, rows)]
        text = "\n".join(lines)
    else:
        text = line_wrap(shown_names)
    return Result(text, data={"entries": names})


class _Broken:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def __repr__(self) -> str:
        return f"<error: {exception_text(self.exc)}>"


def _describe(parent: vfs.Dir, name: str, value: Any) -> str:
    if type(value) is _Broken:
        return repr(value)
    try:
        return parent.describe(name, value)
    except Exception as exc:
        return f"<error: {exception_text(exc)}>"


def _names_only_of_own_state(session, args: list[str]) -> bool:
    """``ls``'s ``bounded`` policy: names only (no flag that reads values: -l, -c, -f, -m, -v, nor
    a class exclusion) of directories that hold otrace's own state (``vfs.own_listing``)."""
    flags = [a for a in args if a.startswith("-") and len(a) > 1]
    if any(not set(f[1:]) <= _NAME_FLAGS for f in flags):
        return False
    paths = [a for a in args if a not in flags] or ["."]
    if any(p.startswith("~") for p in paths):   # ~~ is the newest context: a read of the store
        return False
    return all(vfs.own_listing(session.abspath(p)) for p in paths)


@command("ls", 'ls [-acflmtv] [-(.|..|<baseclass>)] [pattern ...]   # List entries of the current "directory" (or matching names)',
         _LS_HELP, bounded=_names_only_of_own_state)
def ls(session, call):
    return list_entries(session, call.args)


@command("rm", "rm path ...               # Delete entries (dict keys, attributes, set items); in /osh/tasks cancel tasks",
         changes_state=True, unsafe=True)
def rm(session, call):
    if not call.args:
        raise OTraceError("rm: specify entries to delete")
    messages = []
    for pattern in call.args:
        matches = vfs.glob(session.shell, session.abspath(pattern))
        if not matches:
            raise OTraceError(f"rm: no match for {pattern!r}")
        for parts in matches:
            if len(parts) < 3 or parts[0] != vfs.BASE:
                raise OTraceError(f"rm: cannot delete {join_path(parts)}")
            parent = vfs.resolve(session.shell, parts[:-1])
            audit.record("rm", path=join_path(parts))
            try:
                messages.append(parent.delete(parts[-1], session.shell))
            except KeyError:
                raise OTraceError(f"rm: no such entry {join_path(parts)}") from None
            except OTraceError:
                raise
            except Exception as exc:
                raise OTraceError(f"rm: {join_path(parts)}: {exception_text(exc)}") from None
    return "\n".join(messages)
