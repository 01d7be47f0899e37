"""Gutter breakpoints that never stop the server: DAP source breakpoints become live patches.

A breakpoint on a line of a running top-level function (or method) patches that function (through
``engine.patcher``, the same way "Hold here live" does, with ``otrace_server.placement``'s helpers;
the patch carries its line map) so that a call into this module's ``reached(id)`` runs just before
that line:

* inside an ``async def``: a **live hold** -- only the request that reaches the line waits (a hold
  under /osh/recent/holds), every other request is served;
* inside a plain ``def``: a **snapshot** -- a trace context (ctype ``traces``, event ``snapshot``)
  is recorded and the code goes on (like Cloud Debugger/Lightrun snapshots);
* with a ``logMessage``: a **logpoint** -- ``{expression}`` parts are evaluated in the frame and the
  line is published as ``output`` (stream ``console``); it never stops.

DAP ``condition`` (evaluated in the frame; an error counts as true and is reported) and
``hitCondition`` (``N`` / ``==N``, ``>N``, ``>=N``, ``<N``, ``<=N``, ``%N``) are honoured. All the
breakpoints of one function share one patch; removing the last one unpatches it. Each result says
what the breakpoint does, or why it cannot be set (module not loaded, line outside a function,
nested function, file differs from the loaded code, function patched by someone else).

``Breakpoints.trace_exceptions`` implements the "traced exceptions" exception filter: every
function and method defined in the given files is traced (exceptions only).

Thread-safety: ``Breakpoints`` methods may be called from any thread (one lock); ``reached`` runs
on the thread of the patched code (the app's loop for coroutines).
"""

from __future__ import annotations

import ast
import inspect
import itertools
import os
import re
import sys
import textwrap
import threading
import types
from dataclasses import dataclass, field
from typing import Any, Callable

from otrace_server.core.context import capture
from otrace_server.core.engine import READY
from otrace_server.core.errors import OTraceError
from otrace_server.core.reprs import visible
from otrace_server.core.textfiles import read_text
from otrace_server import placement

__all__ = ["Point", "Breakpoints", "reached", "hit_matches", "interpolate"]

_ids = itertools.count(1)
_points: dict[int, "Point"] = {}
_points_lock = threading.Lock()

_HIT = re.compile(r"^\s*(==|>=|<=|>|<|%)?\s*(\d+)\s*$")
_STMT = '__import__("otrace_server.dap.breakpoints", fromlist=["reached"]).reached({})'


@dataclass(eq=False)
class Point:
    """One installed breakpoint: where (``file``, requested ``line``, ``at``: the line it sits
    before), in which function, what it does (``kind``: hold | snapshot | log) and its options."""

    id: int
    owner: Any
    file: str
    line: int
    at: int
    qualname: str
    kind: str
    condition: str | None = None
    hit_condition: str | None = None
    log_message: str | None = None
    hits: int = 0
    manager: "Breakpoints | None" = field(default=None, repr=False)
    code: Any = field(default=None, repr=False)

    def describe(self) -> str:
        """What the breakpoint does, for its ``message``."""
        where = f"line {self.at}"
        text = {"hold": f"live hold at {where}: only the request that reaches it waits",
                "snapshot": f"snapshot at {where}: records a trace context, does not stop (not an async def)",
                "log": f"logpoint at {where}: writes to the debug console, does not stop"}[self.kind]
        if self.condition:
            text += f"; when {self.condition}"
        if self.hit_condition:
            text += f"; hit count {self.hit_condition}"
        return text


def hit_matches(condition: str, hits: int) -> bool:
    """Whether the ``hits``-th hit satisfies a DAP hit condition (``5`` means ``==5``)."""
    m = _HIT.match(condition)
    if m is None:
        raise OTraceError(f"bad hit condition {condition!r} (N, ==N, >N, >=N, <N, <=N or %N)")
    op, n = m.group(1) or "==", int(m.group(2))
    return {"==": hits == n, ">=": hits >= n, "<=": hits <= n, ">": hits > n, "<": hits < n,
            "%": n > 0 and hits % n == 0}[op]


def interpolate(message: str, globals_dict: dict, locals_dict: dict) -> str:
    """A logpoint message with each ``{expression}`` replaced by its value (``{{``/``}}``: braces);
    a failing expression shows ``<Error: ...>``. The text is ``core.reprs.visible`` (values are the
    application's; the debug console is a terminal)."""
    def value(m: re.Match) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        try:
            result = eval(m.group(1), globals_dict, locals_dict)
        except Exception as exc:
            return f"<{type(exc).__name__}: {exc}>"
        return result if isinstance(result, str) else repr(result)

    return visible(re.sub(r"\{\{|\}\}|\{([^{}]+)\}", value, message))


def reached(point_id: int) -> Any:
    """Called by patched code just before a breakpoint's line (app thread). Returns what the
    patched coroutine awaits: an already-completed awaitable, or the hold's awaitable."""
    with _points_lock:
        point = _points.get(point_id)
    if point is None or point.manager is None:   # removed while old code was still running
        return READY
    frame = sys._getframe(1)
    try:
        return point.manager._reached(point, frame)
    finally:
        del frame


def _signature(code: types.CodeType) -> tuple:
    """What identifies compiled code across compiler quirks: names, variables, plain constants
    and the set of source lines (not the exact bytecode, which 3.11 varies with columns)."""
    consts = tuple(repr(c) for c in code.co_consts if not isinstance(c, types.CodeType))
    lines = sorted({line for _, _, line in code.co_lines() if line is not None})
    return code.co_names, code.co_varnames, consts, lines


def _same_code(func: types.FunctionType, lines: list[str]) -> bool:
    """True when the document ``lines`` at ``func``'s lines compile to ``func``'s code (so the
    file on disk is the code that runs, whatever ``linecache`` remembers)."""
    first = func.__code__.co_firstlineno
    try:
        size = len(inspect.getsourcelines(func)[0])
    except (OSError, TypeError):
        return False
    block = textwrap.dedent("".join(lines[first - 1:first - 1 + size]))
    owner = func.__qualname__.split(".")[-2] if "." in func.__qualname__ else None
    if owner is not None and owner.isidentifier():   # a method: in a class of its name (super, __x)
        block, shift = f"class {owner}:\n" + textwrap.indent(block, "    "), first - 2
    else:
        shift = first - 1
    try:
        tree = ast.parse(block)
        ast.increment_lineno(tree, shift)               # at the same line numbers as the file
        code = compile(tree, func.__code__.co_filename, "exec")
    except (SyntaxError, ValueError):
        return False
    found = [c for c in code.co_consts if isinstance(c, types.CodeType)]
    if owner is not None and owner.isidentifier():
        found = [i for c in found for i in c.co_consts if isinstance(i, types.CodeType)]
    for inner in found:
        if inner.co_name == func.__name__:
            return _signature(inner) == _signature(func.__code__)
    return False


class Breakpoints:
    """The live breakpoints of one engine, from every DAP client (``owner``: the client)."""

    def __init__(self, engine, output: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self._lock = threading.RLock()
        self._by_owner: dict[Any, dict[str, list[Point]]] = {}      # owner -> real path -> points
        self._patches: dict[str, Any] = {}                          # qualname -> our Patch
        self._traced: dict[Any, dict[str, dict]] = {}                # owner -> {name traced for exceptions: namespace}
        self._output = output or (lambda text: engine.events.publish("output", text=text, stream="console"))

    # ---- setting and clearing -----------------------------------------------------------------
    def set(self, owner: Any, path: str, specs: list[dict]) -> list[dict]:
        """Replace ``owner``'s breakpoints in the file ``path`` by ``specs`` (DAP SourceBreakpoints:
        ``line`` 1-based, ``condition``, ``hitCondition``, ``logMessage``) and return one DAP
        Breakpoint per spec, in order: ``{id, verified, line, message}``."""
        real = os.path.realpath(path)
        results: list[dict] = []
        new: list[Point] = []
        with self._lock:
            old = self._by_owner.setdefault(owner, {}).pop(real, [])
            try:
                lines = read_text(real).splitlines(True)
            except OTraceError as exc:
                lines, reason = None, str(exc)
            for spec in specs:
                try:
                    if lines is None:
                        raise OTraceError(reason)
                    point = self._point(owner, real, lines, spec)
                except OTraceError as exc:
                    results.append({"verified": False, "line": spec.get("line"), "message": str(exc)})
                    continue
                same = next((p for p in old if p.line == point.line and p.qualname == point.qualname and
                             (p.condition, p.hit_condition, p.log_message) ==
                             (point.condition, point.hit_condition, point.log_message)), None)
                if same is not None:   # re-sent unchanged (the client added another one): keeps its hit count
                    point.hits = same.hits
                new.append(point)
                results.append(point)
            self._by_owner[owner][real] = new
            failed = self._repatch(real, lines, {p.qualname for p in old + new})
            for i, item in enumerate(results):
                if isinstance(item, Point):
                    if item.qualname in failed:
                        new.remove(item)
                        results[i] = {"verified": False, "line": item.line, "message": failed[item.qualname]}
                    else:
                        results[i] = {"id": item.id, "verified": True, "line": item.at, "message": item.describe()}
            self._register(old, new)
        return results

    def clear(self, owner: Any) -> None:
        """Remove every breakpoint and exception trace of ``owner`` (its client left)."""
        with self._lock:
            files = self._by_owner.pop(owner, {})
            for real, points in files.items():
                self._register(points, [])
                try:
                    lines = read_text(real).splitlines(True)
                except OTraceError:
                    lines = None
                self._repatch(real, lines, {p.qualname for p in points})
            self.trace_exceptions(owner, [])

    def points(self, owner: Any = None) -> list[Point]:
        """The installed points (of ``owner``, or all)."""
        with self._lock:
            owners = [owner] if owner is not None else list(self._by_owner)
            return [p for o in owners for pts in self._by_owner.get(o, {}).values() for p in pts]

    def locate(self, file: str, line: int) -> tuple[str, int]:
        """(real file, document line) of a position in code patched for breakpoints or by "Hold
        here live" (``placement.source_position``); other positions are returned unchanged."""
        return placement.source_position(self.engine.patcher, file, line)

    # ---- exception filter --------------------------------------------------------------------
    def trace_exceptions(self, owner: Any, files: list[str]) -> list[str]:
        """Trace (exceptions only) every function and method defined in the modules loaded from
        ``files`` for ``owner`` (an empty list: untrace what ``owner`` traced). Names traced by
        someone else are left alone. Returns the names traced for ``owner``."""
        tracer = self.engine.tracer
        with self._lock:
            wanted: dict[str, dict] = {}
            for path in files:
                module = placement.module_for_file(path)
                if module is not None:
                    for name in _functions_of(module):
                        wanted[name] = module.__dict__
            mine = self._traced.setdefault(owner, {})
            others = {s.name for s in tracer.traced()} - {n for names in self._traced.values() for n in names}
            for name in sorted(set(mine) - set(wanted)):
                try:
                    tracer.untrace(name, namespace=mine.pop(name))
                except OTraceError:
                    pass
            for name, namespace in wanted.items():
                if name in mine or name in others:
                    continue
                try:
                    tracer.trace(name, namespace=namespace)
                    mine[name] = namespace
                except OTraceError as exc:
                    self._output(f"otrace: cannot trace exceptions of {name}: {exc}\n")
            if not mine:
                self._traced.pop(owner, None)
            return sorted(mine)

    # ---- internals ---------------------------------------------------------------------------
    def _original(self, path: str, qualname: str) -> tuple[types.ModuleType, types.FunctionType]:
        module, func = placement.live_function(path, qualname)
        current = self.engine.patcher.get(qualname)
        ours = self._patches.get(qualname)
        if current is not None:
            if ours is None or current is not ours:
                raise OTraceError(f"{qualname} is patched already (edit or Hold here live): unpatch it first")
            original = getattr(ours.original, "__func__", ours.original)
            func = inspect.unwrap(original)
        return module, func

    def _point(self, owner: Any, real: str, lines: list[str], spec: dict) -> Point:
        line = spec.get("line")
        if not isinstance(line, int) or isinstance(line, bool) or line < 1:
            raise OTraceError(f"bad line {line!r}")
        if placement.module_for_file(real) is None:
            raise OTraceError(f"{os.path.basename(real)} is not loaded in the running process")
        enc = placement.enclosing(lines, line - 1)
        if enc is None:
            raise OTraceError(f"line {line} is not in running code: not inside a function or method")
        if enc.nested_in_function:
            raise OTraceError(f"{enc.qualname} is nested in a function: it has no live name to patch")
        _, func = self._original(real, enc.qualname)
        if not _same_code(func, lines):
            raise OTraceError(f"{enc.qualname}: {placement.CHANGED}")
        target = placement.next_statement(func, line)
        if target is None:
            raise OTraceError(f"line {line} is not in running code: no statement of {enc.qualname} at or after it")
        at, _ = placement.statement_line(func, lines, target - 1)
        condition, hit, message = (spec.get(k) or None for k in ("condition", "hitCondition", "logMessage"))
        code = None
        if condition is not None:
            try:
                code = compile(str(condition), "<condition>", "eval")
            except SyntaxError as exc:
                raise OTraceError(f"condition {condition!r}: SyntaxError: {exc.msg}") from None
        if hit is not None:
            hit_matches(str(hit), 1)
        kind = "log" if message else "hold" if inspect.iscoroutinefunction(func) else "snapshot"
        return Point(next(_ids), owner, real, line, at + 1, enc.qualname, kind, condition and str(condition),
                     hit and str(hit), message and str(message), manager=self, code=code)

    def _repatch(self, real: str, lines: list[str] | None, qualnames: set[str]) -> dict[str, str]:
        """Patch each function of ``qualnames`` with all its points (from every owner), or unpatch
        it when it has none. Returns {qualname: why it failed}."""
        failed: dict[str, str] = {}
        every = [p for files in self._by_owner.values() for p in files.get(real, [])]
        for qualname in sorted(qualnames):
            points = [p for p in every if p.qualname == qualname]
            ours = self._patches.get(qualname)
            try:
                if not points:
                    if ours is not None and self.engine.patcher.get(qualname) is ours:
                        self.engine.patcher.unpatch(qualname)
                    self._patches.pop(qualname, None)
                    continue
                if lines is None:
                    raise OTraceError(f"cannot read {real}")
                module, func = self._original(real, qualname)
                is_async = inspect.iscoroutinefunction(func)
                statements = {}
                for p in points:
                    statements.setdefault(p.at - 1, ("await " if is_async else "") + _STMT.format(p.id))
                source, line_map = placement.insert_statements(func, lines, statements)
                patch = self.engine.patcher.patch(qualname, source, namespace=module.__dict__,
                                                  line_map=placement.patch_lines(real, line_map))
                self._patches[qualname] = patch
            except OTraceError as exc:
                failed[qualname] = str(exc)
        return failed

    @staticmethod
    def _register(old: list[Point], new: list[Point]) -> None:
        with _points_lock:
            for p in old:
                _points.pop(p.id, None)
            for p in new:
                _points[p.id] = p

    # ---- at run time (app thread) --------------------------------------------------------------
    def _reached(self, point: Point, frame: types.FrameType) -> Any:
        if point.code is not None:
            try:
                if not eval(point.code, frame.f_globals, frame.f_locals):
                    return READY
            except Exception as exc:
                self._output(f"otrace: breakpoint condition {point.condition!r} at "
                             f"{os.path.basename(point.file)}:{point.at} failed ({type(exc).__name__}: {exc}); "
                             "stopping\n")
        with self._lock:
            point.hits += 1
            hits = point.hits
        if point.hit_condition and not hit_matches(point.hit_condition, hits):
            return READY
        if point.kind == "log":
            self._output(interpolate(point.log_message, frame.f_globals, frame.f_locals) + "\n")
            return READY
        name = point.qualname.rsplit(".", 1)[-1]
        settings = self.engine.settings
        hold = point.kind == "hold"
        ctx = capture(frame, ctype="holds" if hold else "traces", label=f"{'bp' if hold else 'snapshot'}_{name}_{point.at}",
                      funcname=point.qualname, event="hold" if hold else "snapshot",
                      stack_locals=settings.stack_locals, deep=settings.deep_copy)
        for snap in ctx.stack:
            snap.file, snap.line = self.locate(snap.file, snap.line)
        ctx.file, ctx.line = point.file, point.at
        ctx.extra["dap_breakpoint"] = point.id
        if not hold:
            self.engine.record(ctx)
            return READY
        return self.engine.start_hold(ctx)


def _functions_of(module: types.ModuleType) -> list[str]:
    """Dotted names of the functions and methods defined in ``module`` (top level and in its
    top-level classes)."""
    names = []
    for name, obj in list(vars(module).items()):
        if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
            names.append(name)
        elif isinstance(obj, type) and obj.__module__ == module.__name__:
            for attr, member in list(vars(obj).items()):
                func = getattr(member, "__func__", member)
                if isinstance(func, types.FunctionType) and not (attr.startswith("__") and attr.endswith("__")):
                    names.append(f"{name}.{attr}")
    return names


