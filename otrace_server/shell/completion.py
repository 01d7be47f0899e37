"""TAB completion: command names, paths (relative/absolute, in /osh and on disk), ``set``
parameter names and values, ``trace`` options and actions.

``complete(session, line, cursor)`` returns the full replacement words for the word that ends at
``cursor`` (e.g. ``"ls Receive.re"`` -> ``["Receive.respond"]``, ``"cd /osh/gl"`` ->
``["/osh/globals/"]``). Like bash's filename completion, a path candidate naming a directory ends
with ``/`` (so TAB can go on into it): always for /osh and disk directories; for application
values (dicts, classes, instances...) only after ``cd``/``cdls``/``pushd``/``ls`` or in a word
already containing ``/`` (``trace Rec`` stays ``Receive``: commands taking names get names);
``cd``/``cdls``/``pushd`` are offered directories only.
Functions and dotted names (``Receive.re``) never get the ``/``. Dotted names complete where entries
are Python names: in /osh/globals, /osh/locals and inside a trace context (``self.req``).
Thread-safety: reads only (like ``ls``).
"""

from __future__ import annotations

from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import is_instance, is_routine
from otrace_server.core.settings import PARAMS
from otrace_server.shell import vfs
from otrace_server.shell.commands.tracing import TRACE_ACTIONS
from otrace_server.shell.registry import COMMANDS

__all__ = ["complete", "own_names_only"]

_TRACE_OPTIONS = ["-a", "-c", "-n"]
_TRACE_CONDITIONS = ["call", "return", "all", "tagged"]
#: commands whose path arguments are directories: their candidates get the trailing "/"
_DIR_COMMANDS = ("cd", "cdls", "pushd", "ls")
#: commands that take nothing but a directory: only directories are offered (as bash does for cd)
_ONLY_DIRS = ("cd", "cdls", "pushd")


def _words(line: str, cursor: int) -> tuple[str, list[str]]:
    """(the word being completed, the words before it) of ``line`` up to ``cursor``."""
    head = line[:max(0, min(cursor, len(line)))]
    words = head.split()
    current = "" if (not words or head.endswith(" ")) else words[-1]
    return current, words[:-1] if current else words


def _command_names(session, current: str) -> list[str]:
    return [n for n in sorted(set(COMMANDS) | set(session.aliases)) if n.startswith(current)]


def own_names_only(session, line: str, cursor: int) -> bool:
    """Whether ``complete`` offers only otrace's own names there (no path: no application object
    is looked at): a command name that some command or alias starts with, ``set`` parameters and
    values, ``help`` topics, ``trace`` options and actions."""
    current, before = _words(line, cursor)
    if not before:
        return bool(_command_names(session, current))
    cmd = before[0]
    return cmd in ("set", "help") or (cmd == "trace" and (before[-1] in ("-a", "-c") or current.startswith("-")))


def complete(session, line: str, cursor: int) -> list[str]:
    """Completions of the word before ``cursor`` in ``line`` (see the module doc)."""
    current, before = _words(line, cursor)
    if not before:
        return _command_names(session, current) or _paths(session, current)
    cmd = before[0]
    if cmd == "set":
        if len(before) == 1:
            return [n for n in sorted(PARAMS) if n.startswith(current)]
        if len(before) == 2 and before[1] in PARAMS:
            param = PARAMS[before[1]]
            values = ["True", "False"] if param.type is bool else [repr(session.settings.get(param.name))]
            return [v for v in values if v.startswith(current)]
        return []
    if cmd == "trace":
        if before[-1] == "-a":
            return [a for a in TRACE_ACTIONS if a.startswith(current)]
        if before[-1] == "-c":
            return [c for c in _TRACE_CONDITIONS if c.startswith(current)]
        if current.startswith("-"):
            return [o for o in _TRACE_OPTIONS if o.startswith(current)]
    if cmd == "help":
        return [n for n in sorted(COMMANDS) if n.startswith(current)]
    return _paths(session, current, values_as_dirs=cmd in _DIR_COMMANDS, only_dirs=cmd in _ONLY_DIRS)


def _paths(session, text: str, values_as_dirs: bool = False, only_dirs: bool = False) -> list[str]:
    """Entries completing a (relative or absolute) path; directories end with ``/`` (see the
    module doc; ``values_as_dirs``: application values that are directories get it too;
    ``only_dirs``: offer nothing else, except for dotted names)."""
    python_names = session.area in ("globals", "locals") or (session.area in vfs.CONTEXT_DIRS and len(session.cwd) >= 6)
    dot_names = python_names and "/" not in text and not text.startswith(("~", "."))
    sep = "." if dot_names and "." in text else "/"
    head, _, stem = text.rpartition(sep)
    if sep == "/" and text.startswith("/") and head == "":
        head = "/"
    try:
        if sep == "." or not head:
            parts = session.abspath(head.replace(".", "/")) if head else list(session.cwd)
        else:
            parts = session.abspath(head)
        node = vfs.resolve(session.shell, parts)
    except OTraceError:
        return []
    names = sorted(n for n in node.names() if n.startswith(stem))
    if not stem.startswith("_"):
        names = [n for n in names if not n.startswith("__") or n in (vfs.TRACE_INFO, vfs.UP, vfs.DOWN)]
    if sep == "/":
        values_as_dirs = values_as_dirs or "/" in text
        names = [n + "/" if _is_dir(node, n, values_as_dirs) else n for n in names]
        if only_dirs:
            names = [n for n in names if n.endswith("/")]
    if not head:
        return names
    prefix = head if head.endswith(sep) else head + sep
    return [prefix + n for n in names]


def _is_dir(node, name: str, values_as_dirs: bool) -> bool:
    """Whether entry ``name`` of ``node`` is a directory to complete with a trailing ``/``."""
    try:
        value = node.get(name)
    except Exception:   # a broken __getattr__ in the application: no "/"
        return False
    if is_instance(value, vfs.Dir):
        return True
    return values_as_dirs and vfs.is_directory(value) and not is_routine(value)
