"""Live patching: replace a running function or method with new source, and undo it.

    >>> p = engine.patcher.patch("Receive.respond", '''                       # doctest: +SKIP
    ... def respond(self, number):
    ...     return 1 / max(number, 1)
    ... ''', namespace=globals())
    >>> engine.patcher.unpatch("Receive.respond")                            # doctest: +SKIP

How the new source is compiled:
    * It must be exactly one ``def`` / ``async def`` (decorators allowed) with the target's name.
    * It runs in the original function's MODULE GLOBALS (for a method: its defining module's), so
      it sees the same imports and module names; nothing is added to those globals.
    * A method is compiled inside a stand-in class of the same name, so private names
      (``self.__x``) are mangled as in the original and ``super()`` works (its ``__class__`` is the
      real class). Free variables of a closure are rebound to the original's cells (shared, so
      ``nonlocal`` updates are seen both ways).
    * The result keeps the original's ``__qualname__``, ``__module__`` and function attributes;
      its defaults are those written in the new source. A classmethod/staticmethod whose new
      source omits the decorator is rewrapped like the original.
    * The source is kept (``Patch.source``) and registered in ``linecache`` under the pseudo file
      name ``<otrace-patch NAME>``, so tracebacks and ``view`` show the new lines.

A patch whose source is a document's function with statements inserted (LSP "Hold here live",
DAP breakpoints) carries a ``LineMap`` (``patch(..., line_map=...)``, ``Patch.line_map``): the file
line each of its lines came from. ``Patcher.by_filename(file)`` finds the patch that runs from a
pseudo file -- also one undone, while it has a map: a held request may still run its code -- so
positions in patched code can be reported at the document's lines.

Where the new code goes (issue 16, point 2): INTO THE SAME FUNCTION OBJECT when it can
(``Patch.in_place``): its ``__code__``, defaults, docstring and annotations become the new
function's (core.codeswap), so routers, decorators' registries, ``functools.partial``s and bound
methods holding the function run the new code too. That needs the new code's free variables to be
exactly the original's (they are mapped onto the original's cells by name: a ``def`` whose closure
gains or loses a variable, e.g. a method starting to use ``super()``), and the result to be the
function compiled from the source (or a classmethod/staticmethod of it, like the original).
Otherwise, and for a method a class inherits, the new object is set on the name (rebinding, as
before) and, unless inherited, the output says why holders of the object keep the old code
(an ``output`` event and a log line). ``Patch.original`` is the object replaced, or for a patch in
place a copy of the function as it was (its code, cells and globals).

A traced function stays traced: the trace is removed, the function patched, and the trace
installed again with the same options (through ``engine.tracer``'s public API); ``unpatch``
restores the original (in place: the very same code object, defaults and attributes; else the
very same object in the slot) and, if traced, traces it again.
Events: ``patch`` {name, patch} and ``unpatch`` {name} on ``engine.events``.

Failures (OTraceError, nothing changed): unknown target, not a Python function (builtins, C
functions, other callables), syntax error (with its line), source that is not one def with the
right name, free variables that cannot be rebuilt (named), a new function that fails to build.

Thread-safety: patch/unpatch are serialised by a lock and may be called from any thread; a call
in progress on another thread keeps running the code it started with.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import dis
import inspect
import linecache
import logging
import textwrap
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any

from otrace_server.core import codeswap, sources
from otrace_server.core.errors import OTraceError
from otrace_server.core.targets import Target, resolve, untraced

__all__ = ["LineMap", "Patch", "Patcher", "patch_filename"]

log = logging.getLogger("otrace")

_FACTORY = "__otrace_patch__"
_FILE_PREFIX, _FILE_SUFFIX = "<otrace-patch ", ">"   # patch_filename(name)
_ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "<absent>"})()   # attribute was inherited


@dataclass(frozen=True)
class LineMap:
    """Where the lines of a patch's source came from, for a source that is a document's function
    with statements inserted: ``path`` is the document's file and ``lines[i]`` the 1-based file
    line of line ``i + 1`` of the source (an inserted statement: the line it precedes)."""

    path: str
    lines: tuple[int, ...]


@dataclass
class Patch:
    """One live patch: the target's name, its Target, the new source, the object that was replaced
    (``original``, restored by unpatch; for a name patched twice: the first original; for a patch
    in place: a copy of the function as it was) and the object now in the slot (``patched``, a
    function or a classmethod/staticmethod: for a patch in place the original object itself), and
    when; ``filename``: the pseudo file its code runs from; ``line_map``: where its lines came from,
    when its source is a document's function with statements inserted (else None); ``in_place``:
    the new code went into the function object itself (``change``: that codeswap.Change); ``note``:
    what its maker says of it (e.g. the editor's "Hold here live": ``{"liveHold": {label, file,
    line}}``), set before the ``patch`` event is published."""

    name: str
    target: Any
    source: str
    original: Any
    patched: Any
    time: float = field(default_factory=time.time)
    filename: str = ""
    line_map: LineMap | None = None
    change: codeswap.Change | None = field(default=None, repr=False)
    note: dict | None = None

    @property
    def in_place(self) -> bool:
        """True when the new code went into the original function object (every holder runs it)."""
        return self.change is not None


def patch_filename(name: str) -> str:
    """The pseudo file name under which the patched source of ``name`` is kept in ``linecache``."""
    return f"{_FILE_PREFIX}{name}{_FILE_SUFFIX}"


class Patcher:
    """The live patches of one engine (see the module doc)."""

    def __init__(self, engine) -> None:
        self._engine = engine
        self._lock = threading.RLock()
        self._patches: dict[str, Patch] = {}
        self._undone: dict[str, Patch] = {}   # name -> its last patch undone, kept while it has a line map

    # ---- public API ------------------------------------------------------------------------
    def patch(self, name_or_target, source: str, namespace: dict | None = None, *,
              line_map: LineMap | None = None, note: dict | None = None) -> Patch:
        """Replace the function/method ``name_or_target`` (a name resolved in ``namespace``, or a
        Target) by the one ``source`` defines; returns the Patch, which carries ``line_map`` (where
        the lines of ``source`` came from, see ``LineMap``) and ``note``. OTraceError on failure."""
        if not isinstance(source, str) or not source.strip():
            raise OTraceError("edit: the new source is empty")
        target = self._resolve(name_or_target, namespace)
        name = target.qualname
        with self._lock:
            previous = self._patches.get(name)
            spec = self._untrace(target)
            why = None
            try:
                current = _raw(target.owner, target.attr)
                func = _function_of(name, current if current is not _ABSENT else
                                    inspect.getattr_static(target.owner, target.attr))
                sources.remember(func)   # what its code was loaded from, before anything replaces it
                filename = patch_filename(name)
                new = _build(name, target, source, func, current, filename)
                change, original = None, current
                if current is not _ABSENT and (previous is None or previous.in_place):
                    before = previous.original if previous is not None else codeswap.copy_of(func)
                    change, why = _in_place(func, current, new, filename, previous)
                    if change is not None:
                        new, original = current, before
                if change is None:
                    if previous is not None and previous.in_place:
                        codeswap.restore(previous.change)   # the slot's object gets its own code back
                    elif previous is not None:
                        original = previous.original
                    _install(target.owner, target.attr, new)
            except BaseException:
                self._retrace(spec)
                raise
            _register_source(filename, source)
            patch = Patch(name, target, source, original, new, filename=filename, line_map=line_map,
                          change=change, note=note)
            self._patches[name] = patch
            self._undone.pop(name, None)   # its code now runs from the pseudo file: an older map is wrong
            self._retrace(spec)
        if why is not None:
            text = (f"{name}: patched by rebinding its name, not in place ({why}): routers, registries and "
                    f"others holding the function keep running its old code")
            log.warning("otrace: %s", text)
            self._engine.events.publish("output", text=text, stream="stderr")
        self._engine.events.publish("patch", name=name, patch=patch)
        return patch

    def unpatch(self, name: str) -> Patch:
        """Restore the original of the patched ``name`` (identity); OTraceError if not patched."""
        with self._lock:
            patch = self._patches.get(name)
            if patch is None:
                known = ", ".join(sorted(self._patches)) or "none"
                raise OTraceError(f"{name!r} is not patched (patched: {known})")
            target = patch.target
            spec = self._untrace(target)
            if patch.change is not None:
                if not codeswap.restore(patch.change):
                    log.warning("otrace: %s was changed while patched; leaving its code in place", name)
            elif patch.original is _ABSENT:
                _remove(target.owner, target.attr)
            else:
                _install(target.owner, target.attr, patch.original)
            del self._patches[name]
            if patch.line_map is not None:
                self._undone[name] = patch
            self._retrace(spec)
        self._engine.events.publish("unpatch", name=name)
        return patch

    def unpatch_all(self) -> list[Patch]:
        """Undo every patch (newest first); returns them."""
        with self._lock:
            names = list(reversed(self._patches))
        return [self.unpatch(n) for n in names]

    def patches(self) -> list[Patch]:
        """The current patches, oldest first."""
        with self._lock:
            return list(self._patches.values())

    def get(self, name: str) -> Patch | None:
        """The patch of ``name``, or None."""
        with self._lock:
            return self._patches.get(name)

    def by_filename(self, filename: str) -> Patch | None:
        """The patch whose code runs from the pseudo file ``filename`` (``patch_filename(name)``):
        the current patch of that name, else its last patch undone when that one has a line map (a
        held request may still run the undone code) -- until the name is patched again. None for
        any other file."""
        if not (filename.startswith(_FILE_PREFIX) and filename.endswith(_FILE_SUFFIX)):
            return None
        name = filename[len(_FILE_PREFIX):-len(_FILE_SUFFIX)]
        with self._lock:
            patch = self._patches.get(name) or self._undone.get(name)
        return patch if patch is not None and patch.filename == filename else None

    # ---- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _resolve(name_or_target, namespace) -> Target:
        if isinstance(name_or_target, str):
            return resolve(name_or_target.strip(), namespace)
        if isinstance(name_or_target, Target):
            return name_or_target
        raise OTraceError(f"patch: expected a name or a Target, got {name_or_target!r}")

    def _untrace(self, target: Target):
        """Remove the trace on ``target`` -- on its slot, or on its function object under any name
        (a patch in place changes that object) -- if there is one; returns its TraceSpec (or None)."""
        tracer = getattr(self._engine, "tracer", None)
        if tracer is None:
            return None
        for spec in tracer.traced():
            t = spec.target
            same_function = not (t.inherited or target.inherited) and t.function is target.function
            if (t.owner is target.owner and t.attr == target.attr) or same_function:
                tracer.untrace(t)
                return spec
        return None

    def _retrace(self, spec) -> None:
        """Install again a trace removed by ``_untrace``, with the same options."""
        if spec is None:
            return
        try:
            self._engine.tracer.trace(_fresh_target(spec.target), condition=spec.condition, action=spec.action,
                                      count=spec.count)
        except Exception as exc:  # the patch stays; say why the trace is gone
            log.warning("otrace: could not trace %s again after patching: %s", spec.name, exc)
            self._engine.events.publish("output", text=f"trace of {spec.name} removed: {exc}", stream="stderr")


def _fresh_target(target):
    """A Target for the same slot as ``target`` describing what the slot holds NOW."""
    if isinstance(target.owner, dict):
        fresh = resolve(target.attr, target.owner)
    else:
        fresh = resolve(f"owner.{target.attr}", {"owner": target.owner})
    return dataclasses.replace(fresh, qualname=target.qualname)


def _raw(owner, attr: str) -> Any:
    """The object stored under ``attr`` in ``owner`` itself (dict key, module/class/instance
    attribute, without descriptor binding); ``_ABSENT`` when a class only inherits it."""
    if isinstance(owner, dict):
        if attr not in owner:
            raise OTraceError(f"no {attr!r} in the namespace")
        return owner[attr]
    mapping = getattr(owner, "__dict__", None)
    if mapping is not None and attr in mapping:
        return mapping[attr]
    if isinstance(owner, type) and hasattr(owner, attr):
        return _ABSENT
    raise OTraceError(f"{attr!r} is not an attribute of {owner!r} that can be patched")


def _install(owner, attr: str, value: Any) -> None:
    if isinstance(owner, dict):
        owner[attr] = value
    else:
        setattr(owner, attr, value)


def _remove(owner, attr: str) -> None:
    if isinstance(owner, dict):
        owner.pop(attr, None)
    elif attr in getattr(owner, "__dict__", {}):
        delattr(owner, attr)


def _function_of(name: str, obj: Any) -> types.FunctionType:
    """The Python function behind ``obj`` (unwrapping classmethod/staticmethod, and the tracing
    wrapper of a traced method that a subclass inherits, or the copy running a traced function's
    own code: the new code must get the original's module globals and cells, not the wrapper's)."""
    func = codeswap.underneath(untraced(obj.__func__ if isinstance(obj, (classmethod, staticmethod)) else obj))
    if isinstance(func, types.FunctionType):
        return func
    if isinstance(func, (types.BuiltinFunctionType, types.WrapperDescriptorType, types.MethodDescriptorType,
                         types.MethodWrapperType, types.ClassMethodDescriptorType)):
        raise OTraceError(f"{name} is a builtin (C) function; only Python functions can be patched")
    raise OTraceError(f"{name} is not a Python function ({type(func).__name__}); only functions and methods "
                      f"can be patched")


def _parse(name: str, source: str, expected: str, filename: str) -> ast.Module:
    try:
        tree = ast.parse(textwrap.dedent(source), filename)
    except SyntaxError as exc:
        raise OTraceError(f"{name}: syntax error in the new source, line {exc.lineno}: {exc.msg}") from None
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise OTraceError(f"{name}: the new source must be exactly one 'def {expected}(...)' "
                          f"(found {len(body)} statement(s))")
    if body[0].name != expected:
        raise OTraceError(f"{name}: the new source defines {body[0].name!r}, expected {expected!r}")
    return tree


def _build(name: str, target, source: str, func: types.FunctionType, current: Any, filename: str) -> Any:
    """Compile ``source`` like ``func`` was compiled and return the object to install."""
    expected = func.__name__
    tree = _parse(name, source, expected, filename)
    owner = target.owner
    cells = dict(zip(func.__code__.co_freevars, func.__closure__ or ()))
    is_method = isinstance(owner, type)
    if is_method and "__class__" not in cells:
        cells["__class__"] = types.CellType(owner)
    params = [n for n in cells if n != "__class__"]
    values = []
    empty = []
    for n in params:
        try:
            values.append(cells[n].cell_contents)
        except ValueError:
            empty.append(n)
    if empty:
        raise OTraceError(f"{name}: cannot rebuild free variable(s) {', '.join(empty)} (no value yet)")
    definition = tree.body[0]
    if is_method:  # compile inside a stand-in class of the same name: private-name mangling
        body: list[ast.stmt] = [ast.ClassDef(name=owner.__name__, bases=[], keywords=[], body=[definition],
                                             decorator_list=[]),
                                ast.Return(ast.Subscript(ast.Attribute(ast.Name(owner.__name__, ast.Load()),
                                                                       "__dict__", ast.Load()),
                                                         ast.Constant(expected), ast.Load()))]
    else:
        body = [definition, ast.Return(ast.Name(expected, ast.Load()))]
    factory = ast.FunctionDef(name=_FACTORY, args=ast.arguments(
        posonlyargs=[], args=[ast.arg(n) for n in params], vararg=None, kwonlyargs=[], kw_defaults=[],
        kwarg=None, defaults=[]), body=body, decorator_list=[], returns=None)
    module = ast.fix_missing_locations(ast.Module(body=[factory], type_ignores=[]))
    scope: dict[str, Any] = {}
    try:
        exec(compile(module, filename, "exec"), func.__globals__, scope)
        new = scope[_FACTORY](*values)
    except Exception as exc:
        raise OTraceError(f"{name}: the new source failed to build: {type(exc).__name__}: {exc}") from None
    inner = _inner_function(new, definition)
    if inner is None and not callable(new) and not isinstance(new, (classmethod, staticmethod)):
        raise OTraceError(f"{name}: the new source produced {type(new).__name__}, not a function")
    if inner is not None:
        _check_free_names(name, func, inner)
        inner = _rebind(inner, func, cells, definition)
        new = _rewrap(new, inner)
    if isinstance(current, (classmethod, staticmethod)) and not isinstance(new, (classmethod, staticmethod)):
        new = type(current)(new)
    return new


def _in_place(func: types.FunctionType, current: Any, new: Any, filename: str,
              previous: Patch | None) -> tuple[codeswap.Change | None, str | None]:
    """Put the code of ``new`` (what ``_build`` made to replace ``current``, the slot's object,
    whose function is ``func``) into ``func`` itself; returns (the Change, None), or (None, why
    not). ``previous``: the name's patch in place being replaced (its saved state is kept)."""
    if isinstance(current, (classmethod, staticmethod)):
        if type(new) is not type(current):
            return None, f"the new source makes a {type(new).__name__}, not a {type(current).__name__}"
        new = new.__func__
    if current is not func and getattr(current, "__func__", None) is not func:
        return None, "the name holds a wrapper, not the function"
    if not (isinstance(new, types.FunctionType) and new.__code__.co_filename == filename
            and new.__code__.co_name == func.__name__):
        return None, "a decorator of the new source made another object"
    old_free, new_free = func.__code__.co_freevars, new.__code__.co_freevars
    if old_free != new_free or any(a is not b for a, b in zip(new.__closure__ or (), func.__closure__ or ())):
        return None, (f"its free variables ({', '.join(new_free) or 'none'}) are not the original's "
                      f"({', '.join(old_free) or 'none'})")
    if codeswap.underneath(func) is not func:
        return None, "the function is traced by another engine"
    fields = {"__defaults__": new.__defaults__, "__kwdefaults__": new.__kwdefaults__, "__doc__": new.__doc__,
              "__annotations__": new.__annotations__}
    return codeswap.swap(func, new.__code__, fields, replacing=previous.change if previous else None), None


def _inner_function(new: Any, definition) -> types.FunctionType | None:
    """The function compiled from ``definition`` inside ``new`` (following decorators that keep
    ``__wrapped__``/``__func__``), or None when a decorator hides it."""
    first_line = min([d.lineno for d in definition.decorator_list] + [definition.lineno])
    obj = new
    for _ in range(16):
        if isinstance(obj, types.FunctionType) and obj.__code__.co_name == definition.name \
                and obj.__code__.co_firstlineno == first_line:
            return obj
        obj = getattr(obj, "__func__", None) or getattr(obj, "__wrapped__", None)
        if obj is None:
            return None
    return None


def _rebind(inner: types.FunctionType, func: types.FunctionType, cells: dict, definition) -> types.FunctionType:
    """Point ``inner``'s free variables at the original's cells (and ``__class__`` at the real
    class) and give it the original's names and attributes. Returns the function to use."""
    inner.__code__ = code = _requalified(inner.__code__, inner.__code__.co_qualname, func.__code__.co_qualname)
    closure = tuple(cells.get(n, c) for n, c in zip(code.co_freevars, inner.__closure__ or ()))
    if definition.decorator_list:
        # decorators already captured ``inner``: keep the object, fix the cells' contents instead
        for n, c in zip(code.co_freevars, inner.__closure__ or ()):
            if n in cells and c is not cells[n]:
                c.cell_contents = cells[n].cell_contents
        rebuilt = inner
    else:
        rebuilt = types.FunctionType(code, inner.__globals__, inner.__name__, inner.__defaults__, closure)
        rebuilt.__kwdefaults__ = inner.__kwdefaults__
        rebuilt.__annotations__ = inner.__annotations__
        rebuilt.__doc__ = inner.__doc__
        rebuilt.__dict__.update(inner.__dict__)
    rebuilt.__qualname__ = func.__qualname__
    rebuilt.__module__ = func.__module__
    for key, value in func.__dict__.items():
        if key != "__wrapped__" and key not in rebuilt.__dict__:
            rebuilt.__dict__[key] = value
    return rebuilt


def _requalified(code: types.CodeType, old: str, new: str) -> types.CodeType:
    """``code`` (and the code nested in it) with the qualified-name prefix ``old`` replaced by
    ``new``, so that the compiled ``__otrace_patch__.<locals>.C.f`` reports itself as ``C.f``
    (trace ids, tracebacks)."""
    consts = tuple(_requalified(c, old, new) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    qualname = code.co_qualname
    if qualname == old or qualname.startswith(old + "."):
        qualname = new + qualname[len(old):]
    return code.replace(co_qualname=qualname, co_consts=consts)


def _rewrap(new: Any, inner: types.FunctionType) -> Any:
    """``new`` with its innermost function replaced by ``inner`` when that is a plain wrapper."""
    if isinstance(new, types.FunctionType):
        return inner if new.__code__ is inner.__code__ else new
    if isinstance(new, (classmethod, staticmethod)) and isinstance(new.__func__, types.FunctionType) \
            and new.__func__.__code__ is inner.__code__:
        return type(new)(inner)
    return new


def _check_free_names(name: str, func: types.FunctionType, inner: types.FunctionType) -> None:
    """For a nested original (``<locals>`` in its qualname): refuse global names that exist neither
    in the module nor in builtins, as they were most likely the enclosing function's locals."""
    if "<locals>" not in func.__qualname__:
        return
    missing = sorted(n for n in _global_loads(inner.__code__)
                     if n not in func.__globals__ and not hasattr(builtins, n))
    if missing:
        raise OTraceError(f"{name}: cannot rebuild free variable(s) {', '.join(missing)} "
                          f"(not free in the original closure, not module globals)")


def _global_loads(code: types.CodeType) -> set[str]:
    names = {i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_loads(const)
    return names


def _register_source(filename: str, source: str) -> None:
    text = textwrap.dedent(source)
    if not text.endswith("\n"):
        text += "\n"
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)
