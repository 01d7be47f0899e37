"""Trace contexts as directories of /osh: ``recent``, ``saved`` and ``pickled`` (``ContextTree``),
and one context seen at one frame of its stack (``ContextDir``).

    /osh/recent/<type>/<func>/<prefix-label>/<time>     a ContextDir (ctx.path[1:] below the tree)
    .../<time>/<local>, __trc, __down, __up             its frame's locals, trace info, stack links

Thread-safety: like every directory (see vfs), these only read the contexts, which are not
mutated after they are stored.
"""

from __future__ import annotations

import linecache
import traceback
from typing import Any, Iterable

from otrace_server.core.context import TraceContext
from otrace_server.shell.mappings import Overlay
from otrace_server.shell.vfs import DOWN, TRACE_INFO, UP, Dir, Host, long_value

__all__ = ["ContextTree", "ContextDir"]


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
        if type(value) is ContextDir:   # a context, or an application value (never its __class__)
            hold = value.ctx.hold
            return f"{value.ctx.id}  (client gone)" if hold is not None and hold.client_gone else value.ctx.id
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
        if ctx.hold is not None and ctx.hold.client_gone:
            info["client_gone"] = True
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

    def namespace(self, shell: Host) -> tuple[dict, Any]:
        g = self.ctx.globals if isinstance(self.ctx.globals, dict) else shell.globals
        return g, Overlay({TRACE_INFO: self.trace_info()}, self.frame_locals())
