"""The /osh virtual filesystem: directories over live Python objects and trace contexts.

Layout::

    /osh/globals, /osh/locals          the dicts handed to the Shell
    /osh/recent/<type>/<func>/<prefix-label>/<time>   recent trace contexts (core.store)
    /osh/saved/..., /osh/pickled/...   saved contexts, contexts loaded by ``unpickle``
    /osh/patches                       live patches (core.patching)
    /osh/web/<client>                  browsers of the web provider (shell.web)
    /osh/tasks, /osh/threads           asyncio tasks of shell.tasks_loop, Python threads

Modules, classes, instances, functions are directories of their attributes; dicts of their keys;
lists/tuples of their indices ("0", "1", ...); sets of the reprs of their items. A trace context is
a directory of its locals plus ``__trc`` (trace info) and ``__down``/``__up`` (see ``ContextDir``).
Everything outside /osh is the real filesystem (``OSDir``).

Paths are resolved afresh from the root on every use (nothing stale is cached), so a context that
was evicted makes its path fail with a one-line OTraceError.

Thread-safety: directories only read live objects and the engine's thread-safe store; resolving a
path from any thread is safe as far as the underlying objects are.
"""

from __future__ import annotations

import fnmatch
import linecache
import os
import traceback
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Iterable

from otrace_server.core.context import CTYPES, TraceContext  # noqa: F401 (CTYPES: used as vfs.CTYPES)
from otrace_server.core.errors import OTraceError
from otrace_server.core.reprs import safe_repr
from otrace_server.shell.mappings import AttrMapping, IndexMapping
from otrace_server.shell.runtime_views import describe_task, describe_thread, task_snapshot, thread_snapshot

if TYPE_CHECKING:  # pragma: no cover
    from otrace_server.shell.shell import Shell

__all__ = ["BASE", "TOP_DIRS", "TRACE_INFO", "UP", "DOWN", "CONTEXT_DIRS", "Dir", "MappingDir",
           "ObjectDir", "ContextDir", "OSDir", "WebClientDir", "wrap", "resolve", "glob", "is_directory"]

BASE = "osh"
TOP_DIRS = ("globals", "locals", "recent", "saved", "patches", "pickled", "web", "tasks", "threads")
CONTEXT_DIRS = ("recent", "saved", "pickled")
TRACE_INFO, UP, DOWN = "__trc", "__up", "__down"
_SCALARS = (type(None), bool, int, float, complex, str, bytes, bytearray)


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
        return value if isinstance(value, Dir) else wrap(value, name)

    def namespace(self, shell: "Shell") -> tuple[dict, Any]:
        """(globals, locals) in which ``pr``/``exec`` evaluate here; locals None = the globals."""
        return shell.globals, None

    def describe(self, name: str, value: Any) -> str:
        """The value part of an ``ls -l`` line."""
        return long_value(value)

    def sort_time(self, name: str) -> float:
        """Time used by ``ls -t`` (0: no time)."""
        return 0.0

    def delete(self, name: str, shell: "Shell") -> str:
        """``rm name``: delete the entry; returns a message. Default: not supported."""
        raise OTraceError("rm: cannot delete entries here")


def long_value(value: Any) -> str:
    """otrace's ``ls -l`` rendering: dicts as ``{keys}``, lists as ``[items]``, else repr; never
    raises (see ``core.reprs.safe_repr``)."""
    return safe_repr(value, render=_long)


def _long(value: Any) -> str:
    if isinstance(value, Dir):
        return "{" + ", ".join(value.names()) + "}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(map(str, value.keys())) + "}"
    if isinstance(value, (list, tuple)):
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
            return [k if isinstance(k, str) else str(k) for k in list(self.mapping.keys())]
        except Exception:
            return []

    def _key(self, name: str) -> Any:
        if name in self.mapping:
            return name
        for k in list(self.mapping.keys()):
            if not isinstance(k, str) and str(k) == name:
                return k
        raise KeyError(name)

    def get(self, name: str) -> Any:
        return self.mapping[self._key(name)]

    def namespace(self, shell: "Shell") -> tuple[dict, Any]:
        if self.is_globals and isinstance(self.mapping, dict):
            return self.mapping, None
        if all(isinstance(k, str) for k in list(self.mapping.keys())):
            return shell.globals, self.mapping
        return shell.globals, None

    def delete(self, name: str, shell: "Shell") -> str:
        del self.mapping[self._key(name)]
        return f"deleted {name}"


class ObjectDir(MappingDir):
    """A module, class, instance or function: entries are its attributes."""

    def __init__(self, obj: Any) -> None:
        super().__init__(AttrMapping(obj), obj)

    def namespace(self, shell: "Shell") -> tuple[dict, Any]:
        if isinstance(self.value, types.ModuleType):
            return self.value.__dict__, None
        return shell.globals, self.mapping


class SeqDir(MappingDir):
    """A list or tuple: entries ``0``, ``1``, ..."""

    def __init__(self, seq: Any) -> None:
        super().__init__(IndexMapping(seq), seq)

    def namespace(self, shell: "Shell") -> tuple[dict, Any]:
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
        return list(self._items())

    def get(self, name: str) -> Any:
        return self._items()[name]

    def delete(self, name: str, shell: "Shell") -> str:
        self.value.discard(self.get(name))
        return f"deleted {name}"


def is_directory(value: Any) -> bool:
    """True when ``value`` can be entered with ``cd`` (anything but scalars and strings)."""
    return isinstance(value, Dir) or not isinstance(value, _SCALARS)


def wrap(value: Any, name: str = "") -> Dir:
    """The directory view of a Python value; OTraceError for scalars (not directories)."""
    if isinstance(value, Dir):
        return value
    if not is_directory(value):
        raise OTraceError(f"not a directory: {name or type(value).__name__}")
    if isinstance(value, Mapping):
        return MappingDir(value)
    if isinstance(value, (list, tuple)):
        return SeqDir(value)
    if isinstance(value, (set, frozenset)):
        return SetDir(value)
    return ObjectDir(value)


# ---- trace contexts ----------------------------------------------------------------------------

class ContextTree(Dir):
    """``recent``/``saved``/``pickled``: contexts laid out by ``ctx.path[1:]``
    (type/function/prefix-label/time); ``prefix`` is the path below the tree's root."""

    def __init__(self, contexts: Iterable[TraceContext], prefix: tuple[str, ...] = (),
                 fixed: tuple[str, ...] = ()) -> None:
        self._contexts = list(contexts)
        self._prefix = prefix
        self._fixed = fixed   # names always shown at this level (the context types of /osh/recent)

    def _below(self) -> dict[str, list[TraceContext]]:
        depth = len(self._prefix)
        out: dict[str, list[TraceContext]] = {name: [] for name in self._fixed}
        for ctx in self._contexts:
            parts = ctx.path[1:]
            if tuple(parts[:depth]) == self._prefix and len(parts) > depth:
                out.setdefault(parts[depth], []).append(ctx)
        return out

    def names(self) -> list[str]:
        return list(self._below())

    def get(self, name: str) -> Any:
        below = self._below()
        if name not in below:
            raise KeyError(name)
        if len(self._prefix) == 3:
            return ContextDir(below[name][-1])
        return ContextTree(below[name], self._prefix + (name,))

    def sort_time(self, name: str) -> float:
        return max((c.timestamp for c in self._below().get(name, ())), default=0.0)

    def describe(self, name: str, value: Any) -> str:
        if isinstance(value, ContextDir):
            return value.ctx.id
        return long_value(value)


def _frame_tuple(ctx: TraceContext, index: int) -> tuple[str, int, str]:
    if 0 <= index < len(ctx.stack):
        f = ctx.stack[index]
        return (f.file, f.line, f.function)
    return (ctx.file, ctx.line, ctx.funcname)


def _source_around(file: str, line: int, n: int = 2) -> str:
    lines = []
    for i in range(max(1, line - n), line + n + 1):
        text = linecache.getline(file, i)
        if text:
            lines.append(f"{'=>' if i == line else '  '}{i:5d} {text.rstrip()}")
    return "\n".join(lines)


class ContextDir(Dir):
    """A trace context seen at one frame of its stack (``index``; default: the traced frame).

    Entries: the frame's locals (the context's locals at the traced frame; frames whose locals were
    not captured have none), ``__trc`` (trace info), and the stack links of otrace's seed
    transcript: ``__down`` leads from a frame to its caller (the older frame, ``index - 1``),
    ``__up`` back towards the newer frame (``index + 1``). A hold or assertion is recorded at the
    innermost frame, so its top level shows ``__down`` and no ``__up``.
    """

    def __init__(self, ctx: TraceContext, index: int | None = None) -> None:
        self.ctx = ctx
        self.index = ctx.frame_index if index is None else index
        self.value = ctx

    @property
    def is_top(self) -> bool:
        return self.index == self.ctx.frame_index

    @property
    def funcname(self) -> str:
        return self.ctx.funcname if self.is_top else _frame_tuple(self.ctx, self.index)[2]

    def frame_locals(self) -> dict[str, Any]:
        if self.is_top:
            return self.ctx.locals
        if 0 <= self.index < len(self.ctx.stack):
            return self.ctx.stack[self.index].locals or {}
        return {}

    def trace_info(self) -> dict[str, Any]:
        """``__trc``: what otrace users know (argvalues, argstr, context, exc_context, exc_stack,
        frame, framestack, funcname, id, related, thread, where, + web_client/request)."""
        ctx = self.ctx
        frame = _frame_tuple(ctx, self.index)
        info: dict[str, Any] = {}
        if self.is_top:
            info["argvalues"] = ctx.argvalues
            info["argstr"] = ctx.argstr
        info["context"] = ctx.ctype
        if self.is_top and ctx.exc_type:
            info["exc_context"] = f"{ctx.exc_type}: {ctx.exc_message}\n{_source_around(ctx.file, ctx.line)}"
            info["exc_stack"] = ctx.traceback or "".join(
                traceback.format_list([(f.file, f.line, f.function, None) for f in ctx.stack]))
        info["frame"] = frame
        if not self.is_top and 0 <= self.index < len(ctx.stack) and ctx.stack[self.index].locals is None:
            info["locals"] = "not kept for this frame (set stack_locals N: the N frames nearest the event keep theirs)"
        info["framestack"] = [f"{f.file}:{f.line} {f.function}" for f in ctx.stack]
        info["funcname"] = self.funcname
        info["id"] = ctx.id
        info["related"] = ctx.related
        info["thread"] = ctx.thread
        info["where"] = ctx.where
        if "web_client" in ctx.extra:
            info["web_client"] = ctx.extra["web_client"]
        if "request" in ctx.extra:
            info["request"] = str(ctx.extra["request"])   # a RequestSummary: its one-line text
        return info

    def names(self) -> list[str]:
        names = list(self.frame_locals())
        if self.index + 1 < len(self.ctx.stack):
            names.append(UP)
        if self.index > 0 and self.ctx.stack:
            names.append(DOWN)
        return names + [TRACE_INFO]

    def get(self, name: str) -> Any:
        if name == TRACE_INFO:
            return self.trace_info()
        if name == UP and self.index + 1 < len(self.ctx.stack):
            return ContextDir(self.ctx, self.index + 1)
        if name == DOWN and self.index > 0 and self.ctx.stack:
            return ContextDir(self.ctx, self.index - 1)
        return self.frame_locals()[name]

    def namespace(self, shell: "Shell") -> tuple[dict, Any]:
        g = self.ctx.globals if isinstance(self.ctx.globals, dict) else shell.globals
        from otrace_server.shell.mappings import Overlay
        return g, Overlay({TRACE_INFO: self.trace_info()}, self.frame_locals())


# ---- runtime views: tasks, threads, patches, web -----------------------------------------------

class TasksDir(Dir):
    """/osh/tasks: the asyncio tasks of ``shell.tasks_loop`` named by task name."""

    def __init__(self, shell: "Shell") -> None:
        self.shell = shell

    def _tasks(self) -> dict[str, Any]:
        return task_snapshot(self.shell.tasks_loop)

    def names(self) -> list[str]:
        return list(self._tasks())

    def get(self, name: str) -> Any:
        return self._tasks()[name]

    def describe(self, name: str, value: Any) -> str:
        return describe_task(value)

    def delete(self, name: str, shell: "Shell") -> str:
        task = self.get(name)
        if shell.call_in_loop is None:
            raise OTraceError("rm: task cancellation not available (no call_in_loop hook)")
        shell.call_in_loop(task.cancel)
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

    def __init__(self, shell: "Shell") -> None:
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

    def __init__(self, shell: "Shell") -> None:
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
        c = self._clients().get(name)
        return f"{c.url} since {c.since} ({c.user_agent})" if c is not None else ""


# ---- the real filesystem -----------------------------------------------------------------------

class OSDir(Dir):
    """A real directory (outside /osh); the root ``/`` also holds ``osh``."""

    def __init__(self, path: str, shell: "Shell") -> None:
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


def resolve(shell: "Shell", parts: list[str]) -> Dir:
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
            raise OTraceError(f"cannot enter /{'/'.join(parts[:i + 1])}: {type(exc).__name__}: {exc}") from None
    return node


def lookup(shell: "Shell", parts: list[str]) -> Any:
    """The value of the entry at absolute path ``parts`` (its directory's ``get``)."""
    if not parts:
        return resolve(shell, [])
    parent = resolve(shell, parts[:-1])
    try:
        return parent.get(parts[-1])
    except KeyError:
        raise OTraceError(f"no such entry: /{'/'.join(parts)}") from None
    except Exception as exc:
        raise OTraceError(f"cannot read /{'/'.join(parts)}: {type(exc).__name__}: {exc}") from None


def has_magic(name: str) -> bool:
    return any(c in name for c in "*?[")


def glob(shell: "Shell", parts: list[str]) -> list[list[str]]:
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
