"""The /osh virtual filesystem: directories over live Python objects and trace contexts.

Layout::

    /osh/globals, /osh/locals          the dicts handed to the Shell
    /osh/recent/<type>/<func>/<prefix-label>/<time>   recent trace contexts (core.store)
    /osh/saved/..., /osh/pickled/...   saved contexts, contexts loaded by ``unpickle``
    /osh/patches                       live patches (core.patching)
    /osh/web/<client>                  browsers of the web provider (shell.web)
    /osh/tasks, /osh/threads           asyncio tasks of the app's loop (shell.tasks), Python threads

Modules, classes, instances, functions are directories of their attributes; dicts of their keys;
lists/tuples of their indices ("0", "1", ...); sets of the reprs of their items. A trace context is
a directory of its locals plus ``__trc`` (trace info) and ``__down``/``__up`` (see
``context_dirs.ContextDir``, which lays out the trees of contexts on top of this module's ``Dir``).
Everything outside /osh is the real filesystem (``OSDir``).

Paths are resolved afresh from the root on every use (nothing stale is cached), so a context that
was evicted makes its path fail with a one-line OTraceError.

Application objects are looked at by their real type (``core.objects``: a ``__class__`` that lies
or raises changes nothing); what their code raises while a directory is listed or entered becomes
a one-line OTraceError naming the path, or ``<unrepresentable ...>`` in a listing.

Thread-safety: directories only read live objects and the engine's thread-safe store; resolving a
path from any thread is safe as far as the underlying objects are.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from typing import Any, Protocol

from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import exception_text, is_instance, is_module, type_name
from otrace_server.core.reprs import safe_repr, visible
from otrace_server.shell.mappings import AttrMapping, IndexMapping
from otrace_server.shell.providers import TaskSource, WebProvider
from otrace_server.shell.runtime_views import describe_task, describe_thread, task_snapshot, thread_snapshot

__all__ = ["BASE", "TOP_DIRS", "TRACE_INFO", "UP", "DOWN", "CONTEXT_DIRS", "Host", "Dir", "MappingDir",
           "ObjectDir", "OSDir", "WebClientDir", "wrap", "resolve", "glob", "is_directory", "own_listing"]

BASE = "osh"
TOP_DIRS = ("globals", "locals", "recent", "saved", "patches", "pickled", "web", "tasks", "threads")
CONTEXT_DIRS = ("recent", "saved", "pickled")
TRACE_INFO, UP, DOWN = "__trc", "__up", "__down"
_SCALARS = (type(None), bool, int, float, complex, str, bytes, bytearray)
#: the most characters ``ls -l`` shows of one value
LONG_LIMIT = 2000


class Host(Protocol):
    """What the directories read from the shell whose /osh tree they make (``shell.Shell``)."""

    engine: Any
    globals: dict
    web: WebProvider | None
    tasks: TaskSource | None

    def osh_root(self) -> "Dir":
        """The /osh directory."""


class Dir:
    """A directory: ``names()`` lists its entries, ``get(name)`` returns an entry's value (KeyError
    when absent), ``child(name)`` the entry as a directory (OTraceError when it is not one)."""

    value: Any = None          # the object this directory stands for (None: purely virtual)

    def names(self) -> list[str]:
        return []

    def get(self, name: str) -> Any:
        raise KeyError(name)

    def child(self, name: str) -> "Dir":
        value = self.get(name)
        return value if is_instance(value, Dir) else wrap(value, name)

    def namespace(self, shell: Host) -> tuple[dict, Any]:
        """(globals, locals) in which ``pr``/``exec`` evaluate here; locals None = the globals."""
        return shell.globals, None

    def describe(self, name: str, value: Any) -> str:
        """The value part of an ``ls -l`` line."""
        return long_value(value)

    def sort_time(self, name: str) -> float:
        """Time used by ``ls -t`` (0: no time)."""
        return 0.0

    def delete(self, name: str, shell: Host) -> str:
        """``rm name``: delete the entry; returns a message. Default: not supported."""
        raise OTraceError("rm: cannot delete entries here")


def long_value(value: Any) -> str:
    """otrace's ``ls -l`` rendering: dicts as ``{keys}``, lists as ``[items]``, else repr; never
    raises (see ``core.reprs.safe_repr``), at most ``LONG_LIMIT`` characters (one huge value
    must not push the other entries out of a listing; ``pr`` shows it whole)."""
    return safe_repr(value, LONG_LIMIT, render=_long)


def _long(value: Any) -> str:
    if is_instance(value, Dir):
        return "{" + ", ".join(value.names()) + "}"
    if is_instance(value, Mapping):
        return "{" + ", ".join(map(str, value.keys())) + "}"
    if is_instance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return repr(value)


class VirtualDir(Dir):
    """A fixed directory whose entries are produced by callables (so they stay live)."""

    def __init__(self, entries: dict[str, Any]) -> None:
        self._entries = entries

    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name: str) -> Any:
        maker = self._entries[name]
        return maker() if callable(maker) else maker


class MappingDir(Dir):
    """A dict (or any mapping): entries are its keys (non-string keys by ``str``)."""

    def __init__(self, mapping: Mapping, value: Any = None, *, is_globals: bool = False) -> None:
        self.mapping = mapping
        self.value = mapping if value is None else value
        self.is_globals = is_globals

    def names(self) -> list[str]:
        try:
            return [_key_name(k) for k in list(self.mapping.keys())]
        except Exception:
            return []

    def _key(self, name: str) -> Any:
        if name in self.mapping:
            return name
        for k in list(self.mapping.keys()):
            if not is_instance(k, str) and _key_name(k) == name:
                return k
        raise KeyError(name)

    def get(self, name: str) -> Any:
        return self.mapping[self._key(name)]

    def namespace(self, shell: Host) -> tuple[dict, Any]:
        if self.is_globals and isinstance(self.mapping, dict):
            return self.mapping, None
        try:
            names_only = all(isinstance(k, str) for k in list(self.mapping.keys()))
        except Exception:   # an application mapping whose keys() fails: evaluate in the globals
            names_only = False
        return (shell.globals, self.mapping) if names_only else (shell.globals, None)

    def delete(self, name: str, shell: Host) -> str:
        del self.mapping[self._key(name)]
        return f"deleted {name}"


def _key_name(key: Any) -> str:
    """The entry name of a mapping key: a string as is, anything else by ``str`` (a key whose
    ``__str__`` fails: its ``<unrepresentable ...>`` text)."""
    return key if is_instance(key, str) else safe_repr(key, LONG_LIMIT, render=str)


class ObjectDir(MappingDir):
    """A module, class, instance or function: entries are its attributes."""

    def __init__(self, obj: Any) -> None:
        super().__init__(AttrMapping(obj), obj)

    def namespace(self, shell: Host) -> tuple[dict, Any]:
        module_dict = _module_dict(self.value)
        return (module_dict, None) if module_dict is not None else (shell.globals, self.mapping)


def _module_dict(value: Any) -> dict | None:
    """The globals of a module (None: not a module, or one whose ``__dict__`` is not a dict)."""
    if not is_module(value):
        return None
    try:
        namespace = vars(value)
    except Exception:   # a module subclass's __getattribute__
        return None
    return namespace if isinstance(namespace, dict) else None


class SeqDir(MappingDir):
    """A list or tuple: entries ``0``, ``1``, ..."""

    def __init__(self, seq: Any) -> None:
        super().__init__(IndexMapping(seq), seq)

    def namespace(self, shell: Host) -> tuple[dict, Any]:
        return shell.globals, None


class SetDir(Dir):
    """A set/frozenset: entries are the reprs of its items (sorted)."""

    def __init__(self, items: Any) -> None:
        self.value = items

    def _items(self) -> dict[str, Any]:
        out = {}
        for item in list(self.value):
            out[long_value(item)] = item
        return dict(sorted(out.items()))

    def names(self) -> list[str]:
        try:
            return list(self._items())
        except Exception:   # a set subclass whose iteration fails lists nothing (as MappingDir)
            return []

    def get(self, name: str) -> Any:
        return self._items()[name]

    def delete(self, name: str, shell: Host) -> str:
        self.value.discard(self.get(name))
        return f"deleted {name}"


def is_directory(value: Any) -> bool:
    """True when ``value`` can be entered with ``cd`` (anything but scalars and strings)."""
    return is_instance(value, Dir) or not is_instance(value, _SCALARS)


def wrap(value: Any, name: str = "") -> Dir:
    """The directory view of a Python value (by its real type: see ``core.objects``); OTraceError
    for scalars (not directories)."""
    if is_instance(value, Dir):
        return value
    if not is_directory(value):
        raise OTraceError(f"not a directory: {name or type_name(value)}")
    if is_instance(value, Mapping):
        return MappingDir(value)
    if is_instance(value, (list, tuple)):
        return SeqDir(value)
    if is_instance(value, (set, frozenset)):
        return SetDir(value)
    return ObjectDir(value)


# ---- runtime views: tasks, threads, patches, web -----------------------------------------------

class TasksDir(Dir):
    """/osh/tasks: the asyncio tasks of the app's loop (``shell.tasks``) named by task name."""

    def __init__(self, shell: Host) -> None:
        self.shell = shell

    def _tasks(self) -> dict[str, Any]:
        tasks = self.shell.tasks
        return task_snapshot(tasks.app_loop if tasks is not None else None)

    def names(self) -> list[str]:
        return list(self._tasks())

    def get(self, name: str) -> Any:
        return self._tasks()[name]

    def describe(self, name: str, value: Any) -> str:
        return describe_task(value)

    def delete(self, name: str, shell: Host) -> str:
        task = self.get(name)   # KeyError without shell.tasks: there are no tasks to remove
        shell.tasks.post_to_app_loop(task.cancel)
        return f"cancelling task {name}"


class ThreadsDir(Dir):
    """/osh/threads: the Python threads, named by thread name, with their current stacks."""

    def names(self) -> list[str]:
        return list(thread_snapshot())

    def get(self, name: str) -> Any:
        return thread_snapshot()[name]

    def describe(self, name: str, value: Any) -> str:
        return describe_thread(value)


class PatchesDir(Dir):
    """/osh/patches: the live patches (name -> patched function)."""

    def __init__(self, shell: Host) -> None:
        self.shell = shell

    def _patches(self) -> dict[str, Any]:
        patcher = getattr(self.shell.engine, "patcher", None)
        return {p.name: p.patched for p in (patcher.patches() if patcher is not None else [])}

    def names(self) -> list[str]:
        return list(self._patches())

    def get(self, name: str) -> Any:
        return self._patches()[name]


class WebClientDir(Dir):
    """/osh/web/<client> (or ``*``: every client): input here is JavaScript for that browser."""

    def __init__(self, client: str) -> None:
        self.client = client


class WebDir(Dir):
    """/osh/web: the browsers connected through ``shell.web`` (empty without a provider)."""

    def __init__(self, shell: Host) -> None:
        self.shell = shell

    def _clients(self) -> dict[str, Any]:
        web = self.shell.web
        if web is None:
            return {}
        try:
            return {c.name: c for c in web.clients()}
        except Exception:
            return {}

    def names(self) -> list[str]:
        return list(self._clients())

    def get(self, name: str) -> Any:
        clients = self._clients()
        if name != "*" and name not in clients:
            raise KeyError(name)
        return WebClientDir(name)

    def describe(self, name: str, value: Any) -> str:
        c = self._clients().get(name)   # url and user agent are the browser's: one line, escaped
        return visible(f"{c.url} since {c.since} ({c.user_agent})", one_line=True) if c is not None else ""


# ---- the real filesystem -----------------------------------------------------------------------

class OSDir(Dir):
    """A real directory (outside /osh); the root ``/`` also holds ``osh``."""

    def __init__(self, path: str, shell: Host) -> None:
        self.path = path
        self.shell = shell
        self.value = path

    def names(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.path))
        except OSError:
            names = []
        return ([BASE] if self.path == "/" else []) + names

    def get(self, name: str) -> Any:
        if self.path == "/" and name == BASE:
            return self.shell.osh_root()
        full = os.path.join(self.path, name)
        if os.path.isdir(full):
            return OSDir(full, self.shell)
        if os.path.exists(full):
            return full
        raise KeyError(name)


def resolve(shell: Host, parts: list[str]) -> Dir:
    """The directory at absolute path ``parts`` (components below ``/``); OTraceError when a
    component does not exist or is not a directory."""
    node: Dir = OSDir("/", shell)
    for i, name in enumerate(parts):
        try:
            node = node.child(name)
        except KeyError:
            raise OTraceError(f"no such directory: /{'/'.join(parts[:i + 1])}") from None
        except OTraceError:
            raise OTraceError(f"not a directory: /{'/'.join(parts[:i + 1])}") from None
        except Exception as exc:  # a broken __getattr__ in the application
            raise OTraceError(f"cannot enter /{'/'.join(parts[:i + 1])}: {exception_text(exc)}") from None
    return node


def lookup(shell: Host, parts: list[str]) -> Any:
    """The value of the entry at absolute path ``parts`` (its directory's ``get``)."""
    if not parts:
        return resolve(shell, [])
    parent = resolve(shell, parts[:-1])
    try:
        return parent.get(parts[-1])
    except KeyError:
        raise OTraceError(f"no such entry: /{'/'.join(parts)}") from None
    except Exception as exc:
        raise OTraceError(f"cannot read /{'/'.join(parts)}: {exception_text(exc)}") from None


def own_listing(parts: list[str]) -> bool:
    """True when resolving the directory at absolute path ``parts`` and listing its names reads
    only otrace's own state, with bounded work: /osh itself and /osh/patches. No application code
    runs, no file is read, nothing waits. False for anything else: the trees of contexts too (a
    read of the store may store the contexts queued by ``add_later``, whose deferred enrichers read
    the application's request objects)."""
    return parts in ([BASE], [BASE, "patches"])


def has_magic(name: str) -> bool:
    return any(c in name for c in "*?[")


def glob(shell: Host, parts: list[str]) -> list[list[str]]:
    """Expand shell wildcards (``*``, ``abc*``, ``?``, ``[..]``) in any component of ``parts``."""
    results: list[list[str]] = [[]]
    for name in parts:
        nxt: list[list[str]] = []
        for prefix in results:
            if not has_magic(name):
                nxt.append(prefix + [name])
                continue
            try:
                names = resolve(shell, prefix).names()
            except OTraceError:
                continue
            nxt.extend(prefix + [n] for n in sorted(names) if fnmatch.fnmatchcase(n, name))
        results = nxt
    return results
