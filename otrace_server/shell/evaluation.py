"""Evaluating Python in a directory's namespace: ``pr`` (expressions, safe_mode-checked) and
``exec`` (statements; ``print`` output is captured, the value of a final expression is shown).

Safe mode never runs application code (code outside the standard library, see ``shell.safety``):

- ``check_safe`` refuses, by inspecting the AST, anything that calls or assigns: calls, assignments
  (``=``, ``+=``, annotated, walrus), attribute/item stores, ``del``, lambdas, comprehensions and
  generator expressions, ``await``/``yield``.
- Every implicit call is guarded at run time (``shell.guarded``): operators, comparisons, truth
  tests, formats and conversions, ``*``/``**`` unpacking, hashing, subscripts; an item read never
  inserts (a defaultdict or a dict's ``__missing__`` raises KeyError for a missing key).
- The whole evaluation, and the ``repr`` of its result (``format_value(..., safe=True)``), run under
  ``safety.NoAppCode``: a property, ``__getattr__``, an element's ``__eq__`` or any other Python
  function of the application is stopped before its first instruction.
- Resource limits (``shell.limits``): integer powers, products and shifts, repetitions, unpacking
  and format widths are bounded, so no expression can freeze the application.
Builtin, C and standard-library types (numbers, strings, containers, datetimes, enums, paths) work
as usual.

Thread-safety: runs on the caller's thread; the evaluated code touches the application's objects
directly, like otrace's ``pr``/``exec``.
"""

from __future__ import annotations

import ast
import io
import pprint
from typing import Any

from otrace_server.core.errors import OTraceError
from otrace_server.core.reprs import safe_repr
from otrace_server.shell.guarded import HELPER_NAME, HELPERS, guard
from otrace_server.shell.mappings import Overlay
from otrace_server.shell.result import MAX_OUTPUT
from otrace_server.core.policy import refused
from otrace_server.shell.safety import NoAppCode, repr_without_app_code

__all__ = ["check_safe", "evaluate", "execute", "format_value"]

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
                raise OTraceError(refused(what))
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)) or (
                isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del))):
            raise OTraceError(refused("assignments"))


def _syntax_error(exc: SyntaxError) -> OTraceError:
    return OTraceError(f"SyntaxError: {exc.msg} (column {exc.offset})" if exc.offset else f"SyntaxError: {exc.msg}")


def format_value(value: Any, pretty: bool, safe: bool = False) -> str:
    """How ``pr`` shows a value: ``pprint.pformat`` when ``pretty``, else ``repr``; a string of
    several lines (e.g. a traceback or a page) as its text, since its repr is unreadable; a value
    whose repr is longer than ``result.MAX_OUTPUT`` is not pretty-printed (that would take seconds;
    the session truncates the output anyway, see ``result.truncate_output``). With ``safe``, no
    application code runs: an object whose repr would run it shows as ``<module.Class object at
    0x...>`` (``safety.repr_without_app_code``)."""
    if issubclass(type(value), str) and "\n" in str.rstrip(value, "\n"):
        return str.rstrip(value, "\n")
    text = safe_repr(value, render=repr_without_app_code if safe else repr)
    if pretty and len(text) <= MAX_OUTPUT:
        text = safe_repr(value, render=_pretty_without_app_code if safe else _pretty)
    return text


def _pretty(value: Any) -> str:
    return pprint.pformat(value, width=100)


def _pretty_without_app_code(value: Any) -> str:
    try:
        with NoAppCode():
            return _pretty(value)
    except OTraceError:
        return repr_without_app_code(value)


def _error_line(exc: BaseException, safe: bool = False) -> str:
    """``Type: message``, first line only; in safe mode without application code (a KeyError's
    message is its key's repr)."""
    try:
        if safe:
            with NoAppCode():
                text = f"{type(exc).__name__}: {exc}".splitlines()
        else:
            text = f"{type(exc).__name__}: {exc}".splitlines()
    except Exception:
        text = []
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
    except (ValueError, RecursionError, MemoryError) as exc:   # null bytes, nesting the parser refuses
        raise OTraceError(f"pr: {type(exc).__name__}: {_error_line(exc)}") from None
    except SyntaxError as exc:
        try:
            statement = ast.parse(source, "<pr>", "exec")
        except SyntaxError:
            raise _syntax_error(exc) from None
        if safe:
            check_safe(statement)
        raise OTraceError("pr: statements need 'exec' (or '!'), e.g. !" + source) from None
    namespace = locals_map if locals_map is not None else globals_dict
    try:
        if not safe:
            return eval(compile(tree, "<pr>", "eval"), globals_dict, namespace)
        check_safe(tree)
        code = compile(guard(tree), "<pr>", "eval")
        with NoAppCode(allowed=code):
            return eval(code, globals_dict, Overlay({HELPER_NAME: HELPERS}, namespace))
    except OTraceError:
        raise
    except RecursionError:
        raise OTraceError("pr: expression nested too deeply") from None
    except Exception as exc:
        raise OTraceError(_error_line(exc, safe)) from None


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
