"""otrace's trace conditions (``trace -c ...``): parsing, and compiling them to fast predicates.

    >>> cond = parse("number==77,self.value!=1")
    >>> cond.kind, cond.when, [c.arg for c in cond.clauses]
    ('match', 'call', ['number', 'self'])
    >>> def respond(self, number): pass
    >>> class Obj: value = 2
    >>> match = cond.matcher(ArgSpec.of(respond))
    >>> match((Obj(), "77"), {}), match((Obj(), 78), {})
    (True, False)

Condition texts:
    None / ""          exceptions only (the default): record exceptions raised by the function
    call               every call              (evaluated before the body runs)
    return             every return            (after the body returned)
    all                every call and every return
    tagged             calls receiving at least one tagged object (core.tags)
    tagged<arg>        calls whose argument <arg> is tagged, e.g. ``taggedself``
    <arg>[.attr...] OP <literal>, ...
                       argument matches, all of which must hold (AND). OP is one of
                       ``== != < <= > >=``; <literal> is a Python literal (quoted strings may hold
                       commas). ``return`` as the <arg> compares the return value; a condition
                       that mentions ``return`` is evaluated on return, otherwise on call.

Matching rules: comparisons are between Python values, with one convenience otrace users rely
on: when the literal is a number (not a bool) and the actual value is a ``str``, ``==``/``!=``
compare ``str(literal)`` with the value (``number==77`` matches ``"77"``), and the ordering
operators compare ``float(value)`` with the literal. A missing argument or attribute, or any
exception raised while evaluating (a broken ``__eq__``, a non-numeric string), means "no match";
it never reaches the traced program.

Compilation: ``Condition.expression(argspec, constants)`` returns the source text of one Python
expression over ``args``, ``kwargs`` (the wrapper's call arguments) and ``r`` (the return value),
in which each argument is fetched by its positional index (``args[i]``), falling back to the
keyword or the default. core.tracer inlines it in generated wrappers; ``Condition.matcher``
compiles it to a standalone callable.

Thread-safety: conditions and their compiled predicates are immutable and may be shared.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from types import FunctionType
from typing import Any, Callable

from otrace_server.core.errors import OTraceError
from otrace_server.core.tags import get_tag

__all__ = ["Clause", "Condition", "ArgSpec", "parse", "OPERATORS", "KEYWORDS"]

OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
#: condition words that take no comparison
KEYWORDS = ("call", "return", "all", "tagged")

_CLAUSE = re.compile(r"^\s*([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*)*)\s*(==|!=|<=|>=|<|>)\s*(.*?)\s*$", re.S)
_IDENT = re.compile(r"^[A-Za-z_]\w*$")


class _NoArg:
    """Stands for an argument that was not passed and has no default: every comparison fails."""

    __slots__ = ()

    def _fail(self, other):
        raise LookupError("argument not passed")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _fail
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "<no argument>"


NOARG = _NoArg()


@dataclass(frozen=True)
class Clause:
    """One comparison ``arg.attrs OP value``; ``arg`` is an argument name or ``return``."""

    arg: str
    attrs: tuple[str, ...]
    op: str
    value: Any


@dataclass(frozen=True)
class Condition:
    """A parsed condition. ``kind``: exceptions | call | return | all | tagged | match.
    ``text``: the condition as the user wrote it (stripped), None for exceptions only;
    it is the label of the trace contexts it records."""

    text: str | None
    kind: str
    tagged_arg: str | None = None
    clauses: tuple[Clause, ...] = field(default=())

    @property
    def when(self) -> str | None:
        """When the condition is evaluated: ``call``, ``return``, ``all`` (both) or None (exceptions)."""
        if self.kind == "exceptions":
            return None
        if self.kind in ("call", "return", "all"):
            return self.kind
        if self.kind == "tagged":
            return "call"
        return "return" if any(c.arg == "return" for c in self.clauses) else "call"

    @property
    def label(self) -> str:
        """The label of contexts recorded by this condition (``call``, ``number==77``, ...)."""
        return self.text or "exceptions"

    def check(self, argspec: "ArgSpec") -> None:
        """Raise OTraceError when the condition names an argument the function does not have."""
        names = [c.arg for c in self.clauses if c.arg != "return"]
        if self.tagged_arg:
            names.append(self.tagged_arg)
        for name in names:
            if not argspec.has(name):
                raise OTraceError(f"condition {self.text!r}: {argspec.name}() has no argument {name!r}")

    def expression(self, argspec: "ArgSpec", constants: dict[str, Any]) -> str | None:
        """Python source of a boolean expression over ``args``, ``kwargs`` and ``r`` that is true
        when the condition matches (None: nothing to test, i.e. call/return/all/exceptions).
        Names it needs are added to ``constants`` (the globals of the compiled code). The
        expression may raise; callers treat any exception as "no match"."""
        if self.kind == "tagged":
            constants["_get_tag"] = get_tag
            if self.tagged_arg is None:
                constants["_any_tagged"] = _any_tagged
                return "_any_tagged(args, kwargs)"
            return f"_get_tag({argspec.fetch(self.tagged_arg, constants)}) is not None"
        if self.kind != "match":
            return None
        parts = []
        for k, clause in enumerate(self.clauses):
            fetch = "r" if clause.arg == "return" else argspec.fetch(clause.arg, constants)
            value = fetch + "".join(f".{a}" for a in clause.attrs)
            lit, op = _literal(clause.value, f"_L{k}", constants), clause.op
            numeric = isinstance(clause.value, (int, float)) and not isinstance(clause.value, bool)
            if numeric and op in ("==", "!="):
                text = _literal(str(clause.value), f"_S{k}", constants)
                # type() is specialized by the interpreter, ``.__class__`` is a slow attribute lookup
                test = f"((_v{k} := {value}) == {lit} or (type(_v{k}) is str and _v{k} == {text}))"
                parts.append(test if op == "==" else f"not {test}")
            elif numeric:
                constants["_float"] = float
                parts.append(f"(_v{k} {op} {lit} if type(_v{k} := {value}) is not str "
                             f"else _float(_v{k}) {op} {lit})")
            else:
                parts.append(f"{value} {op} {lit}")
        return " and ".join(parts)

    def matcher(self, argspec: "ArgSpec") -> Callable[..., bool]:
        """A standalone predicate ``match(args, kwargs, r=None) -> bool`` (never raises)."""
        self.check(argspec)
        constants: dict[str, Any] = {}
        expr = self.expression(argspec, constants)
        if expr is None:
            return lambda args, kwargs, r=None: True
        source = (f"def match(args, kwargs, r=None):\n"
                  f"    try:\n        return bool({expr})\n"
                  f"    except Exception:\n        return False\n")
        exec(compile(source, f"<otrace condition {self.text}>", "exec"), constants)
        return constants["match"]


def _any_tagged(args: tuple, kwargs: dict) -> bool:
    for value in args:
        if get_tag(value) is not None:
            return True
    for value in kwargs.values():
        if get_tag(value) is not None:
            return True
    return False


def _literal(value: Any, name: str, constants: dict[str, Any]) -> str:
    """Source text for ``value`` in generated code: the literal itself for the plain types whose
    repr reads back as an equal value (a constant of the code, cheaper than a variable), else
    ``name``, bound to the value in ``constants``."""
    if type(value) in (int, str, bool, type(None)) or (type(value) is float and math.isfinite(value)):
        return repr(value)
    constants[name] = value
    return name


@dataclass(frozen=True)
class ArgSpec:
    """The parameters of a Python function, for fetching arguments from ``(args, kwargs)`` by
    positional index and for binding a call to ``{name: value}``."""

    name: str
    positional: tuple[str, ...]
    kwonly: tuple[str, ...]
    defaults: dict[str, Any]
    varargs: str | None
    varkw: str | None

    @classmethod
    def of(cls, func: FunctionType) -> "ArgSpec":
        """The ArgSpec of a plain Python function (not a classmethod/staticmethod object)."""
        code = func.__code__
        names = code.co_varnames
        npos, nkw = code.co_argcount, code.co_kwonlyargcount
        positional = names[:npos]
        kwonly = names[npos:npos + nkw]
        i = npos + nkw
        varargs = names[i] if code.co_flags & 0x04 else None
        i += 1 if varargs else 0
        varkw = names[i] if code.co_flags & 0x08 else None
        defaults = dict(zip(positional[npos - len(func.__defaults__ or ()):], func.__defaults__ or ()))
        defaults.update(func.__kwdefaults__ or {})
        return cls(func.__qualname__, positional, kwonly, defaults, varargs, varkw)

    def has(self, name: str) -> bool:
        """True when a call may pass an argument called ``name``."""
        return name in self.positional or name in self.kwonly or name == self.varargs or self.varkw is not None

    def fetch(self, name: str, constants: dict[str, Any]) -> str:
        """Source text of an expression giving argument ``name`` of a call ``(args, kwargs)``
        (for the ``*args`` name: the tuple of extra positional arguments; for the ``**kwargs``
        name: the dict of extra keyword arguments)."""
        if name == self.varargs:
            return f"args[{len(self.positional)}:]"
        if name == self.varkw:
            constants["_bind"] = self.bind
            return f"_bind(args, kwargs)[{name!r}]"
        default = f"_D_{name}"
        constants[default] = self.defaults.get(name, NOARG)
        if name in self.positional:
            i = self.positional.index(name)
            has = "args" if i == 0 else f"len(args) > {i}"   # a tuple's truth needs no call
            return f"(args[{i}] if {has} else kwargs.get({name!r}, {default}))"
        return f"kwargs.get({name!r}, {default})"

    def bind(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        """``{parameter: value}`` of a call, defaults filled in (like ``inspect.Signature.bind``,
        without its cost and without raising for bad calls)."""
        bound = dict(zip(self.positional, args))
        for name in self.positional[len(args):]:
            if name in kwargs:
                bound[name] = kwargs[name]
            elif name in self.defaults:
                bound[name] = self.defaults[name]
        if self.varargs is not None:
            bound[self.varargs] = args[len(self.positional):]
        for name in self.kwonly:
            if name in kwargs:
                bound[name] = kwargs[name]
            elif name in self.defaults:
                bound[name] = self.defaults[name]
        if self.varkw is not None:
            bound[self.varkw] = {k: v for k, v in kwargs.items() if k not in bound}
        return bound


def parse(text: str | None) -> Condition:
    """Parse a condition text (see the module doc). Raises OTraceError with a one-line message
    for a malformed condition."""
    if text is None:
        return Condition(None, "exceptions")
    if not isinstance(text, str):
        raise OTraceError(f"a condition must be a string, got {text!r}")
    stripped = text.strip()
    if not stripped:
        return Condition(None, "exceptions")
    if stripped in ("call", "return", "all"):
        return Condition(stripped, stripped)
    if stripped.startswith("tagged") and _IDENT.match(stripped):
        arg = stripped[len("tagged"):] or None
        return Condition(stripped, "tagged", tagged_arg=arg)
    clauses = tuple(_clause(part, stripped) for part in _split(stripped))
    return Condition(stripped, "match", clauses=clauses)


def _clause(part: str, text: str) -> Clause:
    m = _CLAUSE.match(part)
    if m is None:
        raise OTraceError(f"bad condition {text!r}: expected arg[.attr]OPvalue (OP: {' '.join(OPERATORS)}), "
                          f"'call', 'return', 'all' or 'tagged[arg]', got {part.strip()!r}")
    arg, attrs, op, literal = m.groups()
    if not literal:
        raise OTraceError(f"bad condition {text!r}: no value after {op!r} in {part.strip()!r}")
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise OTraceError(f"bad condition {text!r}: {literal!r} is not a Python literal (quote strings)") from None
    return Clause(arg, tuple(a.strip() for a in attrs.split(".")[1:]), op, value)


def _split(text: str) -> list[str]:
    """Split on commas that are outside quotes and brackets."""
    parts, current, quote, depth = [], [], None, 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and i + 1 < len(text):
                current.append(text[i:i + 2])
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    if quote:
        raise OTraceError(f"bad condition {text!r}: unterminated string")
    parts.append("".join(current))
    if any(not p.strip() for p in parts):
        raise OTraceError(f"bad condition {text!r}: empty comparison between commas")
    return parts
