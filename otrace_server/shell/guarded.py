"""The safe-mode form of an expression: every implicit call goes through a guard first.

``guard(tree)`` rewrites an expression (already ``check_safe``: no calls, no assignments) so that
each operation that may run a special method goes through a helper of ``HELPERS`` (bound to the
name ``HELPER_NAME`` in the evaluation's namespace). The helper refuses the operation when one of
those special methods is not library code (``safety.refuse_special``), applies the resource limits
(``limits``), then does what Python would do:

    a + b, a % b, -a, ...     binop/unary: both operands' forward and reflected methods; ``%`` on a
                              str/bytes format checks every value its fields convert (``__int__``,
                              ``__float__``, ``__index__``, ``__str__``, ``__repr__``, ``__bytes__``)
                              and reads a ``%(key)`` mapping without inserting
    ==, <, in, ...            compare: the methods of each comparison an operand takes part in;
                              ``in`` on an iterator is refused (it would consume it), a scan of a
                              range (an element that is not an int) is limited
    not, and/or, if           truth: ``__bool__``, ``__len__``
    f'{x!r:>{w}}'             format: the conversion's and ``__format__``; widths are limited
    *x, **m                   star/dstar: the iteration / mapping protocol; iterators are refused
                              (unpacking consumes them); at most ``limits.MAX_ITEMS`` items
    {x}, {k: v}               hashable: ``__hash__``, ``__eq__``
    c[k], c[a:b]              item/slice: ``__getitem__``, ``__missing__``, ``__class_getitem__``,
                              the key's ``__index__``/``__hash__``; a read never inserts (a
                              defaultdict, a dict's ``__missing__``, a ChainMap or mappingproxy over one)

Identity (``is``) runs no code and is left alone. What builtin code does with the *elements* of a
container (``[a] == [b]``, hashing a tuple) is stopped by ``safety.NoAppCode``, under which the
guarded expression runs.

Thread-safety: pure; the helpers run on the evaluating thread.
"""

from __future__ import annotations

import ast
import operator
import types
from collections import ChainMap
from itertools import islice
from typing import Any

from otrace_server.core.errors import OTraceError
from otrace_server.shell import limits
from otrace_server.core.policy import refused
from otrace_server.shell.safety import NOT_FOUND, is_iterator, is_library_special, \
    refuse_special, special_of, type_name

__all__ = ["HELPER_NAME", "HELPERS", "guard"]

#: the name the helpers are bound to in the evaluation's namespace (never shadows a user's name)
HELPER_NAME = "__otrace_safe__"

_BINARY = {
    ast.Add: ("+", operator.add, "add"), ast.Sub: ("-", operator.sub, "sub"), ast.Mult: ("*", operator.mul, "mul"),
    ast.MatMult: ("@", operator.matmul, "matmul"), ast.Div: ("/", operator.truediv, "truediv"),
    ast.FloorDiv: ("//", operator.floordiv, "floordiv"), ast.Mod: ("%", operator.mod, "mod"),
    ast.Pow: ("**", operator.pow, "pow"), ast.LShift: ("<<", operator.lshift, "lshift"),
    ast.RShift: (">>", operator.rshift, "rshift"), ast.BitOr: ("|", operator.or_, "or"),
    ast.BitXor: ("^", operator.xor, "xor"), ast.BitAnd: ("&", operator.and_, "and"),
}
_BY_SYMBOL = {symbol: (func, (f"__{name}__", f"__r{name}__")) for symbol, func, name in _BINARY.values()}
_BY_SYMBOL["*"] = (operator.mul, ("__mul__", "__rmul__", "__index__"))    # seq * n reads n's __index__
_UNARY = {ast.USub: ("-", operator.neg, "__neg__"), ast.UAdd: ("+", operator.pos, "__pos__"),
          ast.Invert: ("~", operator.invert, "__invert__")}
_BY_UNARY = {symbol: (func, name) for symbol, func, name in _UNARY.values()}
_TRUTH = ("__bool__", "__len__")
_ORDER = ("__lt__", "__le__", "__gt__", "__ge__")
_EQUALITY = ("__eq__", "__ne__")
_ELEMENT = ("__eq__", "__hash__")
_CONTAINER = ("__contains__", "__iter__", "__getitem__", "__len__")
_ITERATION = ("__iter__", "__getitem__", "__len__", "__length_hint__")
_MAPPING = ("keys", "__getitem__", "__iter__", "__len__", "__missing__")
_CONVERSION = {-1: ("__format__", "__str__", "__repr__"), ord("s"): ("__str__", "__repr__"),
               ord("r"): ("__repr__",), ord("a"): ("__repr__",)}
_CONVERT = {-1: lambda v: v, ord("s"): str, ord("r"): repr, ord("a"): ascii}
#: what a % field may call on its value: int(), float(), operator.index(), str(), repr(), bytes()
_PERCENT_VALUE = ("__int__", "__index__", "__float__", "__trunc__", "__str__", "__repr__", "__bytes__",
                  "__buffer__")


def _names_for(op: ast.cmpop, right: bool) -> tuple[str, ...]:
    """The special methods a comparison may run on its left or right operand."""
    if isinstance(op, (ast.Eq, ast.NotEq)):
        return _EQUALITY
    if isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)):
        return _ORDER
    if isinstance(op, (ast.In, ast.NotIn)):
        return _CONTAINER if right else _ELEMENT
    return ()                                    # is, is not: identity runs no code


class _Rewrite(ast.NodeTransformer):
    @staticmethod
    def _call(helper: str, *args: ast.expr) -> ast.expr:
        return ast.Call(ast.Attribute(ast.Name(HELPER_NAME, ast.Load()), helper, ast.Load()), list(args), [])

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        symbol = _BINARY[type(node.op)][0]
        return self._call("binop", ast.Constant(symbol), self.visit(node.left), self.visit(node.right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        if isinstance(node.op, ast.Not):
            return ast.UnaryOp(node.op, self._call("truth", self.visit(node.operand)))
        return self._call("unary", ast.Constant(_UNARY[type(node.op)][0]), self.visit(node.operand))

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:   # the last value's truth is not tested
        values = [self.visit(v) for v in node.values]
        return ast.BoolOp(node.op, [self._call("truth", v) for v in values[:-1]] + values[-1:])

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        return ast.IfExp(self._call("truth", self.visit(node.test)), self.visit(node.body), self.visit(node.orelse))

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)):   # x in c: one helper
            test = self._call("contains", self.visit(node.left), self.visit(node.comparators[0]))
            return ast.UnaryOp(ast.Not(), test) if isinstance(node.ops[0], ast.NotIn) else test
        operands = []
        for i, operand in enumerate([node.left, *node.comparators]):
            roles = ([(node.ops[i - 1], True)] if i else []) + ([(node.ops[i], False)] if i < len(node.ops) else [])
            names = tuple(dict.fromkeys(name for op, right in roles for name in _names_for(op, right)))
            container = any(right and isinstance(op, (ast.In, ast.NotIn)) for op, right in roles)
            value = self.visit(operand)
            operands.append(self._call("operand", value, ast.Constant(names), ast.Constant(container))
                            if names else value)
        return ast.Compare(operands[0], node.ops, operands[1:])

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.expr:
        spec = self.visit(node.format_spec) if node.format_spec is not None else ast.Constant("")
        return ast.FormattedValue(self._call("format", self.visit(node.value), ast.Constant(node.conversion), spec),
                                  -1, None)

    def visit_Starred(self, node: ast.Starred) -> ast.expr:
        return ast.Starred(self._call("star", self.visit(node.value)), node.ctx)

    def visit_Set(self, node: ast.Set) -> ast.expr:
        return ast.Set([self.visit(e) if isinstance(e, ast.Starred) else self._call("hashable", self.visit(e))
                        for e in node.elts])

    def visit_Dict(self, node: ast.Dict) -> ast.expr:
        keys = [None if k is None else self._call("hashable", self.visit(k)) for k in node.keys]
        values = [self._call("dstar", self.visit(v)) if k is None else self.visit(v) for k, v in zip(node.keys, node.values)]
        return ast.Dict(keys, values)

    def visit_Slice(self, node: ast.Slice) -> ast.expr:
        return self._call("slice", *(ast.Constant(None) if part is None else self.visit(part)
                                     for part in (node.lower, node.upper, node.step)))

    def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
        return self._call("item", self.visit(node.value), self.visit(node.slice))


def guard(tree: ast.Expression) -> ast.Expression:
    """The guarded form of ``tree`` (see the module doc); evaluate it with ``HELPERS`` bound to
    ``HELPER_NAME``. Raises RecursionError for a too deeply nested expression."""
    return ast.fix_missing_locations(_Rewrite().visit(tree))


# ---- run time ------------------------------------------------------------------------------


def _binop(symbol: str, a: Any, b: Any) -> Any:
    func, names = _BY_SYMBOL[symbol]
    what = f"'{symbol}'"
    refuse_special(a, names, what)
    refuse_special(b, names, what)
    if symbol == "%" and issubclass(type(a), (str, bytes, bytearray)):
        return _percent(a, b)
    limits.check_arithmetic(symbol, a, b)
    return func(a, b)


def _unary(symbol: str, value: Any) -> Any:
    func, name = _BY_UNARY[symbol]
    refuse_special(value, (name,), f"'{symbol}'")
    return func(value)


def _truth(value: Any) -> Any:
    refuse_special(value, _TRUTH, "a truth test")
    return value


def _operand(value: Any, names: tuple[str, ...], container: bool) -> Any:
    refuse_special(value, names, "a comparison")
    if container and issubclass(type(value), range):        # in a chain: the element is not known here
        limits.check_size(_length(value), "membership in a range")
    if container:
        _refuse_consuming(value, "'in' on")
    return value


def _refuse_consuming(value: Any, what: str) -> None:
    if is_iterator(value):
        raise OTraceError(refused(f"{what} an iterator", f"it would consume the {type_name(type(value))}"))


def _contains(element: Any, container: Any) -> bool:
    """``element in container``: guarded; a range scanned item by item (an element that is not an
    int) holds at most ``limits.MAX_ITEMS`` items."""
    refuse_special(element, _ELEMENT, "a comparison")
    refuse_special(container, _CONTAINER, "a comparison")
    _refuse_consuming(container, "'in' on")
    if issubclass(type(container), range) and type(element) not in (int, bool):
        limits.check_size(_length(container), "membership in a range")
    return element in container


def _format(value: Any, conversion: int, spec: str) -> str:
    refuse_special(value, _CONVERSION[conversion], "formatting")
    limits.check_format_spec(spec)
    return format(_CONVERT[conversion](value), spec)


def _length(value: Any) -> int | None:
    try:
        return len(value)
    except (TypeError, OverflowError):
        return None


def _star(value: Any) -> Any:
    refuse_special(value, _ITERATION, "unpacking")
    _refuse_consuming(value, "unpacking")
    n = _length(value)
    if n is None:              # no length (or too large for one): count at most MAX_ITEMS + 1 items
        items = list(islice(iter(value), limits.MAX_ITEMS + 1))
        limits.check_size(len(items) if len(items) <= limits.MAX_ITEMS else None, "unpacking")
        return items
    limits.check_size(n, "unpacking")
    return value


def _dstar(value: Any) -> Any:
    refuse_special(value, _MAPPING, "'**' unpacking")
    limits.check_size(_length(value), "'**' unpacking")
    return value


def _hashable(value: Any) -> Any:
    refuse_special(value, _ELEMENT, "hashing")
    return value


def _slice(lower: Any, upper: Any, step: Any) -> slice:
    for part in (lower, upper, step):
        refuse_special(part, ("__index__",), "a slice")
    return slice(lower, upper, step)


def _item(container: Any, key: Any) -> Any:
    """``container[key]`` in safe mode: guarded, and never inserting (a missing key raises KeyError)."""
    kind = type(container)
    refuse_special(container, ("__getitem__", "__missing__"), "subscription")
    if issubclass(kind, type) and special_of(kind, "__getitem__") is NOT_FOUND:   # C[k]: __class_getitem__
        hook = special_of(container, "__class_getitem__")
        if hook is not NOT_FOUND and not is_library_special(hook):
            raise OTraceError(refused("calls", f"subscription of {type_name(container)} may run its "
                                                  "__class_getitem__"))
    if type(key) is not slice:
        refuse_special(key, ("__index__", "__hash__", "__eq__"), "a subscript")
    if issubclass(kind, dict):
        if special_of(kind, "__missing__") is not NOT_FOUND and not dict.__contains__(container, key):
            raise KeyError(key)
    elif issubclass(kind, ChainMap):
        for mapping in container.maps:
            try:
                return _item(mapping, key)
            except KeyError:
                continue
        raise KeyError(key)
    elif kind is types.MappingProxyType and key not in container:
        raise KeyError(key)
    return container[key]


def _percent(fmt: str | bytes | bytearray, args: Any) -> Any:
    """``fmt % args`` for a library str/bytes format: every value a field converts is guarded,
    widths are limited, a ``%(key)`` mapping is read without inserting."""
    text = fmt.decode("latin-1") if not issubclass(type(fmt), str) else str.__str__(fmt)
    fields = limits.percent_fields(text)
    for field in fields:
        for number in (field.width, field.precision):
            if type(number) is int:
                limits.check_width(number)
    if any(field.key is not None for field in fields):
        values = {}
        for field in fields:
            if field.key is not None and field.key not in values:
                key = field.key if issubclass(type(fmt), str) else field.key.encode("latin-1")
                values[key] = _item(args, key)
        args_to_check = list(values.values())
        args = values              # a plain dict: Python's % reads it without __missing__
    else:
        args_to_check = [tuple.__getitem__(args, i) for i in range(tuple.__len__(args))] \
            if issubclass(type(args), tuple) else [args]
        position = 0
        for field in fields:
            for number in (field.width, field.precision):
                if number == "*" and position < len(args_to_check):
                    limits.check_width(args_to_check[position])
                    position += 1
            position += field.conversion != "%"
    for value in args_to_check:
        refuse_special(value, _PERCENT_VALUE, "'%' formatting")
    return fmt % args


#: the helpers a guarded expression calls
HELPERS = types.SimpleNamespace(binop=_binop, unary=_unary, truth=_truth, operand=_operand, contains=_contains,
                                format=_format,
                                star=_star, dstar=_dstar, hashable=_hashable, slice=_slice, item=_item)
