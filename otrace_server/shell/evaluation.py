"""Evaluating Python in a directory's namespace: ``pr`` (expressions, safe_mode-checked) and
``exec`` (statements; ``print`` output is captured, the value of a final expression is shown).

Safe mode (``check_safe``) refuses, by inspecting the AST, anything that calls or assigns: calls,
assignments (``=``, ``+=``, annotated, walrus), attribute/item stores, ``del``, lambdas,
comprehensions and generator expressions, ``await``/``yield``. Attribute and item *reads* are
allowed (they may run properties or ``__getitem__``, as in otrace), with one exception: an item read
never inserts (``d[k]`` on a ``defaultdict`` or another dict with ``__missing__`` raises KeyError
for a missing key instead of adding it). Operators are guarded at run time (``_guard``): an
operand whose class implements an operation in Python code outside the standard library is refused
as a call (``e + 1`` would call the application's ``__add__``; also ``==``, truth in
``not``/``and``/``if``, ``in``, f-string formats, ``*``/``**`` unpacking, hashing of set/dict keys,
an index's ``__index__``); builtin, C and standard-library types (numbers, strings, containers,
datetimes, enums, paths) work as usual. Not covered: what a builtin container does with its
elements (``[a] == [b]`` compares them with their ``__eq__``), and ``repr`` of the result.

Thread-safety: runs on the caller's thread; the evaluated code touches the application's objects
directly, like otrace's ``pr``/``exec``.
"""

from __future__ import annotations

import ast
import io
import pprint
import sys
import types
from typing import Any

from otrace_server.core.errors import OTraceError
from otrace_server.core.reprs import safe_repr
from otrace_server.shell.mappings import Overlay
from otrace_server.shell.result import MAX_OUTPUT

__all__ = ["check_safe", "evaluate", "execute", "format_value", "SAFE_MODE_HINT"]

SAFE_MODE_HINT = "set safe_mode False"

_FORBIDDEN = {
    ast.Call: "calls", ast.NamedExpr: "assignments", ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions", ast.Await: "await", ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


def check_safe(tree: ast.AST) -> None:
    """Raise OTraceError when ``tree`` calls or assigns anything (see the module doc)."""
    for node in ast.walk(tree):
        for kind, what in _FORBIDDEN.items():
            if isinstance(node, kind):
                raise OTraceError(f"{what} are not permitted in safe mode; {SAFE_MODE_HINT}")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)) or (
                isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del))):
            raise OTraceError(f"assignments are not permitted in safe mode; {SAFE_MODE_HINT}")


#: special methods whose Python implementation safe mode refuses to run through an operator
_SPECIAL = frozenset(
    f"__{n}__" for n in (
        "add sub mul matmul truediv floordiv mod divmod pow lshift rshift and or xor "
        "radd rsub rmul rmatmul rtruediv rfloordiv rmod rdivmod rpow rlshift rrshift rand ror rxor "
        "neg pos invert abs eq ne lt le gt ge bool len contains iter next format str hash index keys".split()))
_GUARD, _ITEM, _SLICE = "__otrace_guard__", "__otrace_item__", "__otrace_slice__"   # never shadow a user's name


def _python_special(cls: type) -> str | None:
    """The name of a special method of ``cls`` written in Python outside the standard library
    (application code), or None."""
    for klass in cls.__mro__:
        if str(getattr(klass, "__module__", "")).split(".")[0] in sys.stdlib_module_names:
            continue
        for name, attr in vars(klass).items():
            if name in _SPECIAL and isinstance(attr, (types.FunctionType, staticmethod, classmethod, property)):
                return name
    return None


def _guard(value: Any) -> Any:
    """``value`` unchanged when operators on it run no Python code; OTraceError otherwise."""
    name = _python_special(type(value))
    if name is not None:
        raise OTraceError(f"calls are not permitted in safe mode (operators on a {type(value).__name__} "
                          f"may run its {name}); {SAFE_MODE_HINT}")
    return value


def _item(container: Any, key: Any) -> Any:
    """``container[key]``, except that a dict with ``__missing__`` raises KeyError for a missing key."""
    if isinstance(container, dict) and hasattr(type(container), "__missing__") and not dict.__contains__(container, key):
        raise KeyError(key)
    return container[key]


class _Guarded(ast.NodeTransformer):
    """Rewrites an expression (already ``check_safe``) so operands pass through ``_guard`` and item
    reads through ``_item``."""

    @staticmethod
    def _wrap(func: str, *args: ast.expr) -> ast.expr:
        return ast.Call(ast.Name(func, ast.Load()), list(args), [])

    def _g(self, node: ast.expr | None) -> ast.expr | None:
        return None if node is None else self._wrap(_GUARD, self.visit(node))

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        return ast.BinOp(self._g(node.left), node.op, self._g(node.right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        return ast.UnaryOp(node.op, self._g(node.operand))

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        return ast.BoolOp(node.op, [self._g(v) for v in node.values])

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        if all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):   # identity runs no code
            return ast.Compare(self.visit(node.left), node.ops, [self.visit(c) for c in node.comparators])
        return ast.Compare(self._g(node.left), node.ops, [self._g(c) for c in node.comparators])

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        return ast.IfExp(self._g(node.test), self.visit(node.body), self.visit(node.orelse))

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.expr:
        spec = self.visit(node.format_spec) if node.format_spec is not None else None
        return ast.FormattedValue(self._g(node.value), node.conversion, spec)

    def visit_Starred(self, node: ast.Starred) -> ast.expr:
        return ast.Starred(self._g(node.value), node.ctx)

    def visit_Set(self, node: ast.Set) -> ast.expr:
        return ast.Set([self._g(e) for e in node.elts])

    def visit_Dict(self, node: ast.Dict) -> ast.expr:
        return ast.Dict([self._g(k) for k in node.keys], [self.visit(v) if k is not None else self._g(v)
                                                          for k, v in zip(node.keys, node.values)])

    def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
        key = node.slice
        if isinstance(key, ast.Slice):
            key = ast.Call(ast.Name(_SLICE, ast.Load()), [self._g(part) if part else ast.Constant(None)
                                                            for part in (key.lower, key.upper, key.step)], [])
        else:
            key = self._g(key)
        return self._wrap(_ITEM, self.visit(node.value), key)


def _syntax_error(exc: SyntaxError) -> OTraceError:
    return OTraceError(f"SyntaxError: {exc.msg} (column {exc.offset})" if exc.offset else f"SyntaxError: {exc.msg}")


def format_value(value: Any, pretty: bool) -> str:
    """How ``pr`` shows a value: ``pprint.pformat`` when ``pretty``, else ``repr``; a string of
    several lines (e.g. a traceback or a page) as its text, since its repr is unreadable; a value
    whose repr is longer than ``result.MAX_OUTPUT`` is not pretty-printed (that would take seconds;
    the session truncates the output anyway, see ``result.truncate_output``)."""
    if isinstance(value, str) and "\n" in value.rstrip("\n"):
        return value.rstrip("\n")
    text = safe_repr(value)
    if pretty and len(text) <= MAX_OUTPUT:
        text = safe_repr(value, render=_pretty)
    return text


def _pretty(value: Any) -> str:
    return pprint.pformat(value, width=100)


def _error_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()
    return text[0] if text else type(exc).__name__


def evaluate(expression: str, globals_dict: dict, locals_map: Any, *, safe: bool) -> Any:
    """Evaluate one Python expression; OTraceError (one line) for syntax errors, safe-mode
    violations, statements (use exec) and exceptions raised by the expression."""
    source = expression.strip()
    if not source:
        raise OTraceError("pr: nothing to evaluate")
    if "\n" in source or "\r" in source:
        raise OTraceError("pr: line breaks are not permitted in expressions")
    try:
        tree = ast.parse(source, "<pr>", "eval")
    except SyntaxError as exc:
        try:
            statement = ast.parse(source, "<pr>", "exec")
        except SyntaxError:
            raise _syntax_error(exc) from None
        if safe:
            check_safe(statement)
        raise OTraceError("pr: statements need 'exec' (or '!'), e.g. !" + source) from None
    namespace = locals_map if locals_map is not None else globals_dict
    if safe:
        check_safe(tree)
        tree = ast.fix_missing_locations(_Guarded().visit(tree))
        namespace = Overlay({_GUARD: _guard, _ITEM: _item, _SLICE: slice}, namespace)
    try:
        return eval(compile(tree, "<pr>", "eval"), globals_dict, namespace)
    except OTraceError:
        raise
    except Exception as exc:
        raise OTraceError(_error_line(exc)) from None


def execute(code: str, globals_dict: dict, locals_map: Any) -> str:
    """Execute statements; returns captured ``print`` output plus the repr of a final expression
    (like the interactive interpreter). OTraceError (one line) for syntax errors and exceptions."""
    try:
        tree = ast.parse(code, "<exec>", "exec")
    except SyntaxError as exc:
        raise _syntax_error(exc) from None
    out = io.StringIO()

    def _print(*args, sep=" ", end="\n", file=None, flush=False):
        print(*args, sep=sep, end=end, file=out if file is None else file, flush=flush)

    target = locals_map if locals_map is not None else globals_dict
    namespace = Overlay({"print": _print}, target)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    try:
        exec(compile(tree, "<exec>", "exec"), globals_dict, namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "<exec>", "eval"), globals_dict, namespace)
            if value is not None:
                out.write(repr(value) + "\n")
    except Exception as exc:
        raise OTraceError(_error_line(exc)) from None
    return out.getvalue().rstrip("\n")
