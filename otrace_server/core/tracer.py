"""Tracing by wrapping: swap a generated wrapper's code into a function or method (the same
object: every holder of it sees the trace), remove it to restore the original code exactly.

    >>> eng = Engine()                                                       # doctest: +SKIP
    >>> eng.tracer.trace("Receive.respond", globals())                       # exceptions only
    >>> eng.tracer.trace("Receive.respond", globals(), condition="number==77", count=3)
    >>> eng.tracer.untrace("Receive.respond", globals())                     # original back

What is traced: module functions, methods (plain, classmethod, staticmethod, inherited: the wrapper
is set on the class named, and removed from it again), ``async def`` coroutines (the wrapper
awaits), generators (``yield from``) and async generators (delegating ``asend``/``athrow``/
``aclose``). For generators, "call" is when iteration starts and the return value is the
generator's ``return`` value (None for async generators).

How (see core.codeswap): the function object itself is changed in place. Its ``__code__``
becomes the wrapper's code (``wrappers.Wrapper.code``), which calls a copy of the function
(``codeswap.copy_of``: its code, globals, closure cells, defaults); so a router, a decorator's
registry, a ``functools.partial`` or a bound method holding the function sees the trace (and the
hold, and the untrace). The function keeps its identity, its flavor (``inspect.iscoroutinefunction``
and the like) and its signature (``__wrapped__`` is the copy while traced: ``inspect.signature``,
``inspect.getsource``, ``inspect.unwrap`` see the original; what reads ``func.__code__`` itself
sees the wrapper's ``(*args, **kwargs)``); untrace puts back the very same code object and removes
``__wrapped__`` again (or puts back the function's own). A method a class
INHERITS is traced by setting a wrapper function on the class named (the base class's function is
shared by every other class: they stay untraced); so is a function whose wrapper code cannot be
made to fit (logged: holders of the object do not see that trace).

Python 3.12+: an exceptions-only trace (action None) of a function whose code object is its own
changes nothing at all: core.monitoring watches the code object (``sys.monitoring``), so holders
of the function see it just the same and a call that raises nothing costs a bare call. Everything
else (holds, break, tag, conditions recording calls or returns, inherited methods, closures) and
every trace on 3.11 is a wrapper swapped in as above; ``trace``/``untrace`` work alike for both.

Cost: nothing is installed until ``trace`` is called, and ``untrace`` puts the original code back,
so untraced code pays nothing. Each trace gets a wrapper generated for its condition (core.wrappers,
core.conditions): exceptions only is ``try: return func(...) except Exception: record; raise``;
argument conditions are inlined with positional-index argument lookups.

Recording (contexts go to ``engine.record_later``, or ``engine.record`` when their id is needed):
    - every trace records exceptions (subclasses of ``Exception``) raised by the function, as ctype
      ``exceptions``, label the exception class name, once per raise: an exception propagating
      through several traced functions is recorded only by the innermost one that records it;
    - a condition other than the default also records ``traces`` contexts (event call or return,
      label the condition text, arguments, and for returns the return value) when it matches.
    Nothing is recorded while ``settings.trace_active`` is False (``trace`` sets it True).

Actions: None (record); ``break`` (block the calling thread until resumed, engine.start_break);
``hold`` (``async def`` functions only: ``await engine.start_hold`` before the body runs; the
condition, default ``call``, is evaluated on call; a pass-through decorator's wrapper of an ``async
def``, e.g. Tornado's ``@authenticated``, holds in the function it wraps); ``tag`` (methods only: when
the condition, evaluated on return, matches, tag ``self`` with the condition text (default ``tag``)
and record a ``tags`` context).

Counts: ``count=N`` (N > 0) records the first N matches, then the trace removes itself (the
original is back: zero cost); ``count=-N`` skips the first N matches, then records every match.
Matches of the default condition are the recorded exceptions.

Tags: a ``tagged[arg]`` condition labels its contexts ``<condition>;tg-<tag>;<object id>``. With
``trace_related`` set, a context of a call receiving tagged objects lists in ``related`` the ids of
earlier contexts that involved them; with ``save_tags`` set, such contexts are saved.

Failures: anything raising inside our handlers (condition, capture, record, subscribers) is logged
once per trace on logger "otrace" and the program's own return value or exception is unchanged.
Bad input to ``trace``/``untrace`` raises OTraceError (one line) and changes nothing.

Thread-safety: ``trace``/``untrace``/``traced`` may be called from any thread (one lock). Wrappers
may run concurrently on any number of threads; the per-trace match counter is an atomic
itertools.count.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import traceback as _traceback
from dataclasses import dataclass, replace
from types import FunctionType
from typing import Any

from otrace_server.core import codeswap, monitoring
from otrace_server.core import tags as _tags
from otrace_server.core.conditions import ArgSpec, Condition, parse
from otrace_server.core.context import MISSING, TraceContext, snapshot
from otrace_server.core.frames import frames_from_traceback
from otrace_server.core.errors import OTraceError
from otrace_server.core.quickrecord import call_recorder
from otrace_server.core.targets import Target, from_object, resolve, untraced
from otrace_server.core.wrappers import build, flavor_of

__all__ = ["Tracer", "TraceSpec", "ACTIONS", "parse_count"]

log = logging.getLogger("otrace")

ACTIONS = (None, "break", "hold", "tag")
_ASYNC = ("coroutine", "asyncgen")   # the flavors a hold can wait in
_SEEN = "_otrace_recorded"   # set on exceptions already recorded (otrace records one once per raise)


@dataclass(frozen=True)
class TraceSpec:
    """One installed trace, as ``Tracer.traced()`` lists it: the name traced, its Target, the
    condition text (None: exceptions only), the action, the count, and matches so far."""

    name: str
    target: Target
    condition: str | None
    action: str | None
    count: int | None
    matches: int = 0


def parse_count(count: Any) -> int | None:
    """``None``/0 -> None (no limit); ints or strings like ``5``, ``+5``, ``-3`` -> int.
    Raises OTraceError for anything else."""
    if count is None:
        return None
    if isinstance(count, str):
        text = count.strip()
        try:
            count = int(text)
        except ValueError:
            raise OTraceError(f"bad count {text!r}: expected N (stop after N matches) or -N (start after N)") from None
    if isinstance(count, bool) or not isinstance(count, int):
        raise OTraceError(f"bad count {count!r}: expected an integer")
    return count or None


class _Trace:
    """The live state of one installed trace: what its wrapper calls when something happens."""

    def __init__(self, tracer: "Tracer", spec: TraceSpec, cond: Condition, argspec: ArgSpec) -> None:
        self.tracer = tracer
        self.engine = tracer.engine
        self.settings = tracer.engine.settings
        self.spec = spec
        self.cond = cond
        self.argspec = argspec
        self.bind = argspec.bind
        func = spec.target.function
        self.funcname = func.__qualname__
        self.globals = func.__globals__
        self.action = spec.action
        self.count = spec.count
        self._matches = itertools.count(1)   # next(): the number of this match
        self.label = cond.text or ("hold" if spec.action == "hold" else DEFAULT_LABEL)
        self.tagged = cond.kind == "tagged"
        #: exceptions are the matches of the default condition (when no hold/tag uses it)
        self.counts_exceptions = cond.kind == "exceptions" and spec.action not in ("hold", "tag")
        self._logged = False
        #: what the wrapper calls on a match: a C recorder when it can serve this trace (core.quickrecord)
        self.on_call = call_recorder(self.on_call, self, self._matches)

    @property
    def matches(self) -> int:
        """The matches counted so far."""
        return int(repr(self._matches)[6:-1]) - 1     # repr: "count(<next value>)"

    def watchable(self) -> bool:
        """True when this trace can be served by core.monitoring (3.12+): it only records
        exceptions, and its function's own code object can be watched."""
        return (self.action is None and self.cond.kind == "exceptions"
                and monitoring.watchable(codeswap.underneath(self.spec.target.function)))

    # ---- bookkeeping -----------------------------------------------------------------------
    def _take(self) -> bool:
        """Count one match; False when it must not be recorded (inactive, before -N, after N)."""
        if not self.settings.trace_active:
            return False
        n = next(self._matches)   # atomic (one C call): no lock on this path
        count = self.count
        if count is None:
            return True
        if count < 0:
            return n > -count
        if n == count:
            self.tracer._expire(self)
        return n <= count

    def _failed(self) -> None:
        if not self._logged:
            self._logged = True
            log.exception("otrace: tracing %s failed (logged once; the traced program continues)", self.spec.name)

    def _capture(self, frame, event: str, args: tuple | None, kwargs: dict | None, ctype: str = "traces",
                 label: str | None = None, inner=None, exc: BaseException | None = None,
                 return_value: Any = MISSING) -> TraceContext:
        s = self.settings
        argvalues = None if args is None else (self.bind, args, kwargs)   # None: from the frame's locals
        return snapshot(frame, ctype, label or self.label, self.funcname, event, argvalues,
                        inner, s.stack_locals, s.deep_copy, exc, return_value, self.globals)

    def _tagged_label(self, args: tuple, kwargs: dict) -> str:
        if self.cond.tagged_arg is not None:
            obj = self.argspec.bind(args, kwargs).get(self.cond.tagged_arg)
        else:
            obj = next((v for v in (*args, *kwargs.values()) if _tags.get_tag(v) is not None), None)
        return f"{self.cond.text};tg-{_tags.get_tag(obj)};{id(obj):#x}"

    def _settle(self, ctx: TraceContext) -> None:
        """Break on ``ctx`` (action ``break``: blocks, and may raise what the resume asked for),
        else record it, maintaining the related-context history of tagged arguments (a failure to
        record is logged once)."""
        if self.action == "break":
            self.engine.start_break(ctx)
            return
        try:
            s = self.settings
            if s.trace_related or s.save_tags:
                self._record_tagged(ctx)
            else:
                self.engine.record_later(ctx)
        except Exception:
            self._failed()

    def _record_tagged(self, ctx: TraceContext) -> None:
        """Record ``ctx`` with ``trace_related`` or ``save_tags`` set: ``related`` ids, saving."""
        s = self.settings
        tagged = [v for v in ctx.argvalues.values() if _tags.get_tag(v) is not None]
        if tagged and s.trace_related:
            seen: dict[str, None] = {}
            for value in tagged:
                seen.update(dict.fromkeys(_tags.related(value)))
            ctx.related = list(seen)
        self.engine.record(ctx)
        for value in tagged:
            _tags.add_related(value, ctx.id)
        if tagged and s.save_tags and not ctx.saved:
            self.engine.store.save(ctx.id)

    # ---- what wrappers call ----------------------------------------------------------------
    def on_exception(self, exc: BaseException, args: tuple | None, kwargs: dict | None) -> None:
        """An exception left the function: record it (once per raise), maybe break. ``args`` None
        (core.monitoring): the arguments are read from the function's frame."""
        try:
            try:
                if exc.__dict__.get(_SEEN):
                    return
            except AttributeError:
                return
            if self.counts_exceptions:
                if not self._take():
                    return
            elif not self.settings.trace_active:
                return
            exc.__dict__[_SEEN] = True
            frames = frames_from_traceback(exc.__traceback__)
            frame, inner = (frames[0][0], frames[1:]) if frames else (sys._getframe(1), [])
            ctx = self._capture(frame, "exception", args, kwargs, ctype="exceptions", label=type(exc).__name__,
                                inner=inner, exc=exc)
            del frame, frames, inner
            if self.settings.append_traceback:
                ctx.traceback = "".join(_traceback.format_exception(exc))
        except Exception:
            self._failed()
            return
        self._settle(ctx)

    def on_call(self, args: tuple, kwargs: dict):
        """The condition matched on call: record, or return the awaitable of a hold, or break."""
        try:
            if not self._take():
                return None
            label = self._tagged_label(args, kwargs) if self.tagged else self.label
            s = self.settings
            ctx = snapshot(sys._getframe(1), "traces", label, self.funcname, "call", (self.bind, args, kwargs),
                           None, s.stack_locals, s.deep_copy, None, MISSING, self.globals)
            action = self.action
            if action is None:       # self._settle(ctx), inlined: this is the hottest recording path
                if s.trace_related or s.save_tags:
                    self._record_tagged(ctx)
                else:
                    self.engine.record_later(ctx)
                return None
            if action == "hold":
                return self.engine.start_hold(ctx)
        except Exception:
            self._failed()
            return None
        self.engine.start_break(ctx)
        return None

    def on_return(self, args: tuple, kwargs: dict, value: Any) -> None:
        """The condition matched on return: record (or tag self, or break)."""
        try:
            if not self._take():
                return
            if self.action == "tag":
                obj = args[0] if args else kwargs.get(self.argspec.positional[0])
                tag = _tags.tag(obj, self.cond.text or _tags.DEFAULT_TAG)
                ctx = self._capture(sys._getframe(1), "tag", args, kwargs, ctype="tags", label=tag,
                                    return_value=value)
                self.engine.record(ctx)
                _tags.add_related(obj, ctx.id)
                return
            ctx = self._capture(sys._getframe(1), "return", args, kwargs, return_value=value)
        except Exception:
            self._failed()
            return
        self._settle(ctx)


DEFAULT_LABEL = "call"

# ---- the tracer ------------------------------------------------------------------------------
class Tracer:
    """Installs and removes tracing wrappers for one engine (``engine.tracer``)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        #: _key(target) -> (trace, installed: a codeswap.Change, or the object set on the slot)
        self._traces: dict[tuple, tuple[_Trace, Any]] = {}

    def _lookup(self, target: Target) -> tuple[tuple, tuple[_Trace, Any] | None]:
        """(key, entry or None) of ``target`` (lock held). Keys: the slot ``(id(owner), attr)`` of
        a wrapper set on a class (a method it inherits), else the function object, whatever name
        reaches it (for a decorated async def held, the function the decorator wraps)."""
        entry = self._traces.get(target.key)
        if entry is not None:
            return target.key, entry
        key = target.key if target.inherited else next(   # (a held async def a decorator wraps)
            (k for k in (("function", id(f)) for f in _pass_through(target.function)) if k in self._traces),
            ("function", id(target.function)))
        return key, self._traces.get(key)

    def _target(self, name_or_target: Any, namespace: dict | None) -> Target:
        if isinstance(name_or_target, str):
            target = resolve(name_or_target, namespace)
        else:
            target = from_object(name_or_target)
        with self._lock:
            _, entry = self._lookup(target)
        if entry is not None:  # already traced: the original is the one we replaced
            return replace(entry[0].spec.target, qualname=target.qualname)
        return target

    def trace(self, name_or_target: Any, namespace: dict | None = None, condition: str | None = None,
              action: str | None = None, count: Any = None) -> TraceSpec:
        """Trace a function or method (a dotted name resolved in ``namespace``, a Target, or the
        function/method object). Tracing a traced target replaces its condition/action/count.
        Sets ``settings.trace_active`` and publishes a ``trace`` event {name}. Raises OTraceError
        (nothing changed) for an unknown target, a malformed condition, a bad action or count,
        ``hold`` on a function that is not ``async def``, ``tag`` on a non-method."""
        target = self._target(name_or_target, namespace)
        cond = parse(condition)
        if action not in ACTIONS:
            raise OTraceError(f"unknown action {action!r} (break, hold or tag)")
        count = parse_count(count)
        runs = codeswap.underneath(target.function)   # its own code, also while traced already
        flavor = flavor_of(runs)
        argspec = ArgSpec.of(_called_function(runs))
        cond.check(argspec)
        when = cond.when
        if action == "hold":
            inner = _called_function(runs)   # a decorator's wrapper of an async def: hold that, in place
            if flavor == "function" and flavor_of(inner) in _ASYNC and not target.inherited:
                target, runs, flavor = replace(target, function=inner), codeswap.underneath(inner), flavor_of(inner)
            if flavor not in _ASYNC:
                raise OTraceError(f"cannot hold {target.qualname}: hold needs an async def function (a break stops "
                                  f"its thread: on the event loop's, every request)")
            if when in ("return", "all"):
                raise OTraceError(f"cannot hold {target.qualname} on return: a hold happens before the body runs")
            when = "call"
        if action == "tag":
            is_method = isinstance(target.owner, type) and target.kind not in ("classmethod", "staticmethod")
            if not is_method or not argspec.positional:
                raise OTraceError(f"cannot tag with {target.qualname}: the tag action tags self, it needs a method")
            when = "return"
        name = target.qualname
        spec = TraceSpec(name, target, cond.text, action, count)
        trace = _Trace(self, spec, cond, argspec)
        with self._lock:
            key, entry = self._lookup(target)
            installed = self._install(trace, flavor, when, entry[1] if entry is not None else None)
            self._traces[key] = (trace, installed)
        if not self.engine.settings.trace_active:
            self.engine.settings.set("trace_active", True)
        self.engine.events.publish("trace", name=name)
        return spec

    def _install(self, trace: _Trace, flavor: str, when: str | None, previous: Any) -> Any:
        """Install ``trace`` (lock held): a watch of its function's code object (core.monitoring,
        3.12+), else its wrapper swapped into the function, else set on the name; replacing
        ``previous`` (what a trace of the same target installed, or None). Returns what was
        installed (a monitoring.Watch, a codeswap.Change, or the object set on the slot)."""
        target = trace.spec.target
        func = target.function
        if isinstance(previous, monitoring.Watch):
            monitoring.unwatch(previous)
        replacing = previous if isinstance(previous, codeswap.Change) else None
        rebound = previous is not None and replacing is None and not isinstance(previous, monitoring.Watch)
        if trace.watchable() and not target.inherited and not rebound:   # rebound: its name is rebound again
            if replacing is None or codeswap.restore(replacing):
                replacing = None
                watch = monitoring.watch(func, trace)
                if watch is not None:
                    return watch
        runs = monitoring.unwatched(codeswap.underneath(func))
        if not target.inherited:
            copy = runs if runs is not func else codeswap.copy_of(func)
            try:
                code = build(trace, copy, flavor, when).code(len(func.__closure__ or ()))
                return codeswap.swap(func, code, {"__wrapped__": copy}, runs=copy, replacing=replacing)
            except codeswap.CodeSwapError as exc:
                if func is not untraced(getattr(target.original, "__func__", target.original)):   # decorated
                    raise OTraceError(f"cannot hold {trace.spec.name}: {exc}") from None
                log.warning("otrace: %s is traced by rebinding its name: holders of the function object "
                            "(routers, registries) do not see this trace (%s)", trace.spec.name, exc)
        if replacing is not None:
            codeswap.restore(replacing)
        wrapper = build(trace, runs, flavor, when).function
        installed = {"classmethod": classmethod, "staticmethod": staticmethod}.get(target.kind, lambda f: f)(wrapper)
        target.install(installed)
        return installed

    def untrace(self, name_or_target: Any, namespace: dict | None = None) -> TraceSpec:
        """Remove a trace: the original code is back in the function (for a method a class
        inherits, the class's own attribute is deleted again). Publishes ``untrace`` {name}.
        Raises OTraceError when the target is unknown or not traced."""
        target = resolve(name_or_target, namespace) if isinstance(name_or_target, str) else from_object(name_or_target)
        with self._lock:
            key, entry = self._lookup(target)
            if entry is None:
                label = name_or_target if isinstance(name_or_target, str) else repr(name_or_target)
                raise OTraceError(f"not traced: {label}")
            self._remove(key, entry)
        trace = entry[0]
        self.engine.events.publish("untrace", name=trace.spec.name)
        return self._spec(trace)

    def untrace_all(self) -> list[TraceSpec]:
        """Remove every trace; returns what was removed."""
        with self._lock:
            entries = list(self._traces.items())
            for key, entry in entries:
                self._remove(key, entry)
        for _, (trace, _) in entries:
            self.engine.events.publish("untrace", name=trace.spec.name)
        return [self._spec(trace) for _, (trace, _) in entries]

    def traced(self) -> list[TraceSpec]:
        """The installed traces, sorted by name, with their current match counts."""
        with self._lock:
            traces = [trace for trace, _ in self._traces.values()]
        return sorted((self._spec(t) for t in traces), key=lambda s: s.name)

    # ---- internals -------------------------------------------------------------------------
    @staticmethod
    def _spec(trace: _Trace) -> TraceSpec:
        return replace(trace.spec, matches=trace.matches)

    def _remove(self, key: tuple, entry: tuple[_Trace, Any]) -> None:
        """Restore the original (lock held). If someone replaced our wrapper meanwhile (e.g. a
        live patch), their object or code stays and only our bookkeeping is dropped."""
        trace, installed = entry
        del self._traces[key]
        target = trace.spec.target
        if isinstance(installed, monitoring.Watch):
            restored = monitoring.unwatch(installed)
        elif isinstance(installed, codeswap.Change):
            restored = codeswap.restore(installed)
        else:
            restored = target.current() is installed
            if restored:
                target.restore()
        if not restored:
            log.warning("otrace: %s was replaced while traced; leaving the new object in place", trace.spec.name)

    def _expire(self, trace: _Trace) -> None:
        """Called by a trace whose count is used up: remove it if it is still the installed one."""
        with self._lock:
            key, entry = self._lookup(trace.spec.target)
            if entry is None or entry[0] is not trace:
                return
            self._remove(key, entry)
        self.engine.events.publish("untrace", name=trace.spec.name)


def _called_function(func):
    """The function whose parameters name a call's arguments: ``func``, or for a pass-through
    decorator made with ``functools.wraps`` (``wrapper(self, *args, **kwargs)``, e.g. Tornado's
    ``@authenticated``) the function it wraps, as ``inspect.signature`` does; so that
    ``-c number==77`` finds ``number`` passed by position and contexts show named arguments."""
    return list(_pass_through(func))[-1]


def _pass_through(func):
    """``func``, then each function the pass-through decorators of ``_called_function`` wrap."""
    while True:
        yield func
        inner = getattr(func, "__wrapped__", None)
        code = func.__code__
        if not (code.co_flags & 0x0C and isinstance(inner, FunctionType)):   # CO_VARARGS | CO_VARKEYWORDS
            return
        named, own = code.co_varnames[:code.co_argcount], codeswap.underneath(inner).__code__   # own: also traced
        if own.co_varnames[:len(named)] != named or own.co_argcount < len(named):
            return
        func = inner
