"""A pytest test from a recorded trace context: the call rebuilt with its recorded arguments, the
recorded outcome asserted (shell ``testgen``, LSP ``otrace/testgen``).

    test = generate(ctx, work_dir=os.getcwd())
    test.text            # the test module
    test.suggested_name  # "test_gethandler_respond_zerodivisionerror.py"
    test.literal, test.rebuilt, test.todo   # how each argument was written, what is left to do

The rules (the generated test pins what the code DID, and says so in its docstring):
- an argument whose ``repr`` round-trips (a builtin literal: numbers, strings, bytes, None, and
  lists/tuples/dicts/sets of them: ``ast.literal_eval(repr(v)) == v`` with the same type) is
  written literally (``literal``);
- an instance of an importable class is rebuilt (``rebuilt``) only where that is faithful: the
  function (and the methods and properties of the class it reaches through the argument, a few
  levels deep) uses the argument only as ``arg.attribute``, and every instance attribute it reads
  was recorded with a literal value: ``object.__new__(Class)`` plus those attributes (no
  ``__init__`` runs). ``self`` of a method that reads nothing of it is a bare instance;
- anything else is a pytest fixture stub that FAILS with a TODO text saying what to build
  (``todo``): the test never passes vacuously;
- the outcome: an exception context asserts the exception type (and its message); a context with
  a return value (``trace -c return``) asserts that value (by type only when its repr does not
  round-trip, said in ``todo``); a context without an outcome (a hold, a break, an assert, a call)
  runs the call and then fails with a TODO asking for the assertion;
- an ``async def`` runs under ``asyncio.run``.
The module is imported by its name (``python -m pkg.mod``: its spec's name); a program run as a
file (``__main__``) is imported by the name of its file below ``work_dir`` (where the process
started), else below an entry of ``sys.path``. Generating runs no application code: only values
that are builtin all the way down are ``repr``'d and compared; classes are read through ``type``'s
own slots and ``inspect.getattr_static``; functions through their source.

Thread-safety: reads the context and looks at the live function and class (their source, their
attributes); front-end threads, like the shell's other commands.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import os
import re
import sys
import textwrap
import types
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from typing import Any

from otrace_server.core.context import MISSING, TraceContext
from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import is_class, is_instance
from otrace_server.core.targets import untraced

__all__ = ["GeneratedTest", "generate", "module_name", "MAX_LITERAL"]

#: the longest repr written literally (a longer argument is a fixture stub)
MAX_LITERAL = 20_000
_LITERAL_TYPES = (type(None), bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset)
_DEPTH = 3


@dataclass
class GeneratedTest:
    """The generated module ``text``, a ``suggested_name`` for its file, and which parameters were
    written ``literal``, which ``rebuilt``, and ``todo``: what the test could not rebuild or
    assert (each entry one line; a stub among them makes the test fail until it is done)."""

    text: str
    suggested_name: str
    literal: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)


def module_name(namespace: dict | None, work_dir: str | None = None) -> str | None:
    """The importable name of the module whose globals are ``namespace`` (``__main__``: the dotted
    path of its file below ``work_dir``, else below the ``sys.path`` entry giving the longest
    name), or None."""
    namespace = namespace or {}
    name = namespace.get("__name__")
    if isinstance(name, str) and name != "__main__":
        return name
    spec = namespace.get("__spec__")
    spec_name = vars(spec).get("name") if isinstance(spec, ModuleSpec) else None
    if isinstance(spec_name, str) and spec_name != "__main__":   # python -m package.module
        return spec_name
    file = namespace.get("__file__")
    if not isinstance(file, str) or not file.endswith(".py"):
        return None
    file = os.path.realpath(file)
    roots = ([work_dir] if work_dir else []) + [p or os.getcwd() for p in sys.path if isinstance(p, str)]
    found = []
    for root in roots:
        rel = os.path.relpath(file, os.path.realpath(root))
        pieces = rel[:-3].split(os.sep)
        if not rel.startswith("..") and all(p.isidentifier() for p in pieces):
            if root == work_dir:
                return ".".join(pieces)
            found.append(pieces)
    return ".".join(max(found, key=len)) if found else None


def _builtin_only(value: Any, budget: list[int]) -> bool:
    """True when ``value`` and everything it contains is of ``_LITERAL_TYPES`` (by exact type, so
    its repr and == run no application code); ``budget`` bounds the items looked at."""
    budget[0] -= 1
    kind = type(value)
    if kind not in _LITERAL_TYPES or budget[0] < 0:
        return False
    if kind is dict:
        return all(_builtin_only(k, budget) and _builtin_only(v, budget) for k, v in list(value.items()))
    if kind in (list, tuple, set, frozenset):
        return all(_builtin_only(item, budget) for item in list(value))
    return True


def _literal(value: Any) -> str | None:
    """The repr of ``value`` when it round-trips (see the module doc), else None. Only builtin
    values are looked at: no application ``__repr__`` or ``__eq__`` runs."""
    if not _builtin_only(value, [MAX_LITERAL]):
        return None
    try:
        text = repr(value)
        if len(text) > MAX_LITERAL:
            return None
        back = ast.literal_eval(text)
        if type(back) is not type(value) or not bool(back == value):
            return None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):   # nan, inf, recursive lists
        return None
    return text


def _shown(value: Any) -> str:
    """An argument as the docstring shows it: its literal (cut), else ``<a Class>``."""
    text = _literal(value)
    if text is None:
        return f"<a {_class_names(type(value))[1]}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _function(value: Any) -> types.FunctionType | None:
    if is_instance(value, (classmethod, staticmethod, types.MethodType)):
        value = value.__func__
    value = untraced(value)
    return value if is_instance(value, types.FunctionType) else None


def _tree(func: types.FunctionType) -> ast.AST | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except Exception:
        return None
    return next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)


def _reads(func: types.FunctionType, param: str) -> set[str] | None:
    """The attributes ``func`` reads of its parameter ``param`` (``param.x``), or None when it uses
    ``param`` any other way (passes it on, assigns to it, iterates it...) or has no source."""
    tree = _tree(func)
    if tree is None:
        return None
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    reads = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == param and node is not tree:
            parent = parents.get(node)
            if not (isinstance(parent, ast.Attribute) and parent.value is node and isinstance(parent.ctx, ast.Load)):
                return None
            reads.add(parent.attr)
    return reads


def _instance_attributes(value: Any, cls: type, func: types.FunctionType, param: str,
                         seen: set, depth: int) -> dict[str, str] | None:
    """{attribute: literal} the rebuilt instance needs for ``func`` to use ``param`` as it did;
    None when rebuilding it is not faithful (see the module doc)."""
    reads = _reads(func, param)
    if reads is None:
        return None
    try:
        recorded = object.__getattribute__(value, "__dict__")
    except Exception:
        recorded = {}
    needed: dict[str, str] = {}
    for attr in sorted(reads):
        if isinstance(recorded, dict) and attr in recorded:
            text = _literal(recorded[attr])
            if text is None:
                return None
            needed[attr] = text
            continue
        try:
            found = inspect.getattr_static(cls, attr)
        except AttributeError:
            return None
        inner = _function(found.fget if is_instance(found, property) and found.fget else found)
        if inner is None or is_instance(found, (classmethod, staticmethod)) or inner in seen:
            continue   # a class attribute (a constant, a class/static method): the class gives it
        if depth >= _DEPTH:
            return None
        params = list(inspect.signature(inner).parameters)
        more = _instance_attributes(value, cls, inner, params[0], seen | {inner}, depth + 1) if params else {}
        if more is None:
            return None
        needed.update(more)
    return needed


def _class_names(cls: type) -> tuple[str, str]:
    """(module, qualified name) of a class, read from ``type``'s own slots (no metaclass code)."""
    module = vars(type)["__module__"].__get__(cls)
    qualname = vars(type)["__qualname__"].__get__(cls)
    return (module if isinstance(module, str) else "?"), (qualname if isinstance(qualname, str) else "?")


def _importable(cls: type) -> bool:
    """Whether the test can import ``cls`` by name and make one with ``object.__new__``."""
    try:
        plain_new = inspect.getattr_static(cls, "__new__") is object.__new__
    except AttributeError:
        return False
    return plain_new and "<" not in _class_names(cls)[1]


class _Writer:
    """Collects the imports, fixtures and body lines of one test."""

    def __init__(self, ctx: TraceContext, work_dir: str | None) -> None:
        self.ctx = ctx
        self.work_dir = work_dir
        self.imports: dict[str, set[str]] = {}
        self.plain_imports = {"pytest"}
        self.fixtures: list[str] = []
        self.params: list[str] = []
        self.body: list[str] = []
        self.test = GeneratedTest("", "")

    def import_name(self, module: str, name: str) -> None:
        self.imports.setdefault(module, set()).add(name)

    def class_name(self, cls: type) -> str | None:
        """The name the test uses for ``cls`` (imported), or None when it cannot be imported."""
        if not is_class(cls) or not _importable(cls):
            return None
        module_of, qualname = _class_names(cls)
        module = sys.modules.get(module_of)
        name = module_name(vars(module) if module is not None else None, self.work_dir)
        if name is None:
            return None
        self.import_name(name, qualname.split(".")[0])
        return qualname

    def argument(self, param: str, value: Any, func: types.FunctionType) -> None:
        text = _literal(value)
        if text is not None:
            self.body.append(f"{param} = {text}")
            self.test.literal.append(param)
            return
        cls = type(value)
        shown = self.class_name(cls)
        needed = _instance_attributes(value, cls, func, param, {func}, 0) if shown is not None else None
        if shown is not None and needed is not None:
            what = ", ".join(needed) if needed else "nothing"
            self.body.append(f"{param} = object.__new__({shown})   # rebuilt: the call reads {what} of it")
            self.body.extend(f"{param}.{attr} = {text}" for attr, text in needed.items())
            self.test.rebuilt.append(param)
            return
        fixture = f"recorded_{param}"
        why = f"a {'.'.join(_class_names(cls))}: its repr does not round-trip and it cannot be rebuilt faithfully " \
              "from its recorded attributes"
        self.fixtures.append(textwrap.dedent(f'''
            @pytest.fixture
            def {fixture}():
                """TODO: build `{param}` as it was in the recorded call ({why})."""
                pytest.fail("TODO: build `{param}` in the fixture {fixture} (it could not be rebuilt from the recording)")
            ''').strip("\n"))
        self.params.append(fixture)
        self.body.append(f"{param} = {fixture}")
        self.test.todo.append(f"{param}: {why}; the fixture {fixture} fails until it builds one")


def _call_text(func: types.FunctionType, callee: str, args: dict, first: str, writer: _Writer) -> str:
    """The call of ``callee`` with the recorded ``args`` (each written by ``writer``); ``first``:
    how the first parameter is passed: "positional" (a method's self), "skip" (a classmethod's
    cls) or "" (as the others)."""
    parts = []
    params = list(inspect.signature(func).parameters.values())
    for i, p in enumerate(params):
        if p.name not in args or (i == 0 and first == "skip"):
            continue
        writer.argument(p.name, args[p.name], func)
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
        elif p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
        elif p.kind is p.POSITIONAL_ONLY or (i == 0 and first == "positional"):
            parts.append(p.name)
        else:
            parts.append(f"{p.name}={p.name}")
    call = f"{callee}({', '.join(parts)})"
    return f"asyncio.run({call})" if inspect.iscoroutinefunction(func) else call


def _resolve(ctx: TraceContext) -> tuple[Any, Any]:
    """(owner class or None, raw attribute) of the traced function in its module's globals."""
    names = ctx.funcname.split(".")
    if "<locals>" in names or not ctx.globals or names[0] not in ctx.globals:
        raise OTraceError(f"testgen: {ctx.funcname} cannot be reached from its module's globals (nested?)")
    owner, raw = None, ctx.globals[names[0]]
    for name in names[1:]:
        if not is_class(raw):
            raise OTraceError(f"testgen: {ctx.funcname}: {name} is not in a class")
        owner = raw
        try:
            raw = inspect.getattr_static(owner, name)
        except AttributeError:
            raise OTraceError(f"testgen: {ctx.funcname} is no longer defined") from None
    return owner, raw


def _snake(text: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower() or "call"


def generate(ctx: TraceContext, work_dir: str | None = None) -> GeneratedTest:
    """The test of the recorded context ``ctx`` (see the module doc); OTraceError when its function
    cannot be found (nested, deleted) or its module cannot be imported by name."""
    owner, raw = _resolve(ctx)
    func = _function(raw)
    if func is None:
        raise OTraceError(f"testgen: {ctx.funcname} is not a Python function")
    module = module_name(ctx.globals, work_dir)
    if module is None:
        raise OTraceError(f"testgen: the module of {ctx.funcname} cannot be imported by name")
    writer = _Writer(ctx, work_dir)
    top = ctx.funcname.split(".")[0]
    writer.import_name(module, top)
    first = "skip" if is_instance(raw, classmethod) else \
        "" if owner is None or is_instance(raw, staticmethod) else "positional"
    call = _call_text(func, ctx.funcname, dict(ctx.argvalues), first, writer)
    if call.startswith("asyncio.run("):
        writer.plain_imports.add("asyncio")
    short = ctx.funcname.rsplit(".", 1)[-1]
    shown_args = ", ".join(f"{k}={_shown(v)}" for k, v in ctx.argvalues.items())
    if ctx.exc_type:
        outcome = f"raised {ctx.exc_type}: {ctx.exc_message or ''}".rstrip(": ")
        suffix = f"raises_{_snake(ctx.exc_type)}"
        exc = ctx.exc_type
        known = getattr(builtins, exc, None)
        if is_class(known) and issubclass(known, BaseException):
            exc_name = exc
        elif is_class(ctx.globals.get(exc)) and issubclass(ctx.globals[exc], BaseException):
            writer.import_name(module, exc)
            exc_name = exc
        else:
            exc_name = None
        match = f", match=re.escape({ctx.exc_message!r})" if ctx.exc_message else ""
        if match:
            writer.plain_imports.add("re")
        if exc_name is not None:
            writer.body.append(f"with pytest.raises({exc_name}{match}):")
            writer.body.append(f"    {call}")
        else:
            writer.body.append(f"with pytest.raises(Exception{match}) as raised:")
            writer.body.append(f"    {call}")
            writer.body.append(f"assert raised.type.__name__ == {exc!r}")
    elif ctx.return_value is not MISSING:
        value = ctx.return_value
        text = _literal(value)
        outcome = f"returned {text if text is not None else type(value).__name__}"
        suffix = "returns"
        writer.body.append(f"result = {call}")
        if text is not None:
            writer.body.append(f"assert result == {text}")
        else:
            writer.body.append(f"assert type(result).__name__ == {type(value).__name__!r}")
            writer.test.todo.append(f"the return value (a {type(value).__name__}) does not round-trip through "
                                    "repr: only its type is compared; assert what matters of it")
    else:
        outcome = f"was recorded at a {ctx.event} ({ctx.ctype}, label {ctx.label}) with no outcome of the call"
        suffix = _snake(ctx.label or ctx.event)
        writer.body.append(f"result = {call}")
        writer.body.append(f"pytest.fail(\"TODO: the recording has no outcome of this call ({ctx.event}): "
                           f"assert what {short} should return or raise\")")
        writer.test.todo.append(f"the context is a {ctx.event}: nothing says what the call returned or raised; "
                                "the test fails until an assertion replaces its pytest.fail")
    test_name = f"test_{_snake(short)}_{suffix}"
    doc = textwrap.fill(f"Pins the behaviour otrace recorded: {ctx.funcname}({shown_args}) {outcome} "
                        f"(trace context {ctx.id}).", 92, subsequent_indent="    ")
    lines = [f"def {test_name}({', '.join(writer.params)}):", f'    """{doc}',
             "",
             "    It asserts what the code DID, not what it should do: while the recorded behaviour is a bug,",
             "    this test passes; a fix changes the outcome, and then the assertion is to be flipped to the",
             '    behaviour wanted."""']
    lines += [f"    {line}" for line in writer.body]
    imports = sorted(f"import {m}" for m in writer.plain_imports)
    imports += [f"from {m} import {', '.join(sorted(names))}" for m, names in sorted(writer.imports.items())]
    header = [f'"""Generated by otrace testgen from the trace context {ctx.id}.', "",
              f"Run it where `import {module}` works (e.g. `python -m pytest` from the directory the",
              'program ran in)."""', ""]
    parts = ["\n".join(header + imports), *writer.fixtures, "\n".join(lines)]
    writer.test.text = "\n\n\n".join(parts) + "\n"
    writer.test.suggested_name = f"test_{_snake(ctx.funcname)}_{suffix}.py"
    return writer.test
