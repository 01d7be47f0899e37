"""Resource limits of safe mode: no expression may freeze the application or fill its memory.

    check_arithmetic(op, a, b)   integer results over MAX_INT_BITS bits (``**``, ``*``, ``<<``) and
                                 repetitions (``'a' * n``, ``[0] * n``) over MAX_ITEMS items, the
                                 items of nested containers and strings counted (``[[0] * 1000] * 1000``)
    check_size(n, what)          unpacking (``[*r]``, ``{**m}``) of more than MAX_ITEMS items
    check_format_spec(spec)      a width or precision over MAX_WIDTH (``f'{x:999999999}'``)
    percent_fields(fmt)          the fields of a printf-style format, for ``%`` in safe mode

Each refusal is an OTraceError naming the limit. With safe_mode False nothing is limited.

Thread-safety: pure functions.
"""

from __future__ import annotations

import math
import re
from collections import deque
from itertools import chain, compress
from fractions import Fraction
from typing import Any, Iterator

from otrace_server.core.errors import OTraceError
from otrace_server.core.policy import refused

__all__ = ["MAX_INT_BITS", "MAX_ITEMS", "MAX_WIDTH", "Field", "check_arithmetic", "check_size",
           "check_format_spec", "check_width", "percent_fields"]

#: an integer result of at most this many bits (about 315,000 decimal digits)
MAX_INT_BITS = 1 << 20
#: a repetition or an unpacking of at most this many items (characters, bytes, elements)
MAX_ITEMS = 1_000_000
#: a format width or precision of at most this
MAX_WIDTH = 10_000

_REPEATED = (str, bytes, bytearray, list, tuple, deque)
_TEXTS = frozenset(map(id, (str, bytes, bytearray)))   # what _items counts and opens, by type id
_OPENED = _TEXTS | frozenset(map(id, (list, tuple, deque, set, frozenset, dict)))
_END = object()


def _refuse(what: str, limit: int) -> OTraceError:
    return OTraceError(refused(what, f"over the limit of {limit:,}"))


def _bits(value: Any) -> int | None:
    """Size in bits of an exact rational (int, bool, Fraction), None for other values."""
    kind = type(value)
    if issubclass(kind, int):
        return int.bit_length(value)
    if issubclass(kind, Fraction):
        return max(value.numerator.bit_length(), value.denominator.bit_length())
    return None


def _elements(container: Any) -> Iterator[Any]:
    """The elements of an exact list, tuple, deque, set or dict (a dict's keys and values)."""
    return chain.from_iterable(dict.items(container)) if type(container) is dict else iter(container)


def _opened(container: Any) -> Iterator[Any]:
    """The elements of ``container`` that ``_items`` opens (texts and containers), picked in C
    (by the id of their type: nothing is hashed or compared)."""
    kinds = map(_OPENED.__contains__, map(id, map(type, _elements(container))))
    return compress(_elements(container), kinds)


def _items(value: Any, budget: int) -> int | None:
    """The items of ``value`` (a list, tuple, deque, str, bytes...) as its repr writes them out:
    its elements, an element that is itself a container (list, tuple, deque, set, dict) or a text
    counting its own items too, every time it appears (``[[0] * 1000] * 2``: 2,002). None when they
    are more than ``budget``. Runs no application code (only exact library types are opened) and
    one step of Python per container or text it holds, at most about ``budget``."""
    total = len(value)
    if total > budget:
        return None
    if id(type(value)) not in _OPENED or id(type(value)) in _TEXTS:
        return total
    walked: dict[int, int] = {id(value): 0}   # id of a container -> its items (0: being walked)
    stack = [(value, _opened(value), 0)]      # (container, its elements to open, total before it)
    while stack:
        container, elements, before = stack[-1]
        item = next(elements, _END)
        if item is _END:
            stack.pop()
            walked[id(container)] = total - before
            continue
        if id(type(item)) in _TEXTS:
            total += len(item)
        elif (known := walked.get(id(item))) is not None:
            total += known
        else:
            walked[id(item)] = 0
            stack.append((item, _opened(item), total))
            total += 2 * len(item) if type(item) is dict else len(item)
        if total > budget:
            return None
    return total


def check_arithmetic(op: str, a: Any, b: Any) -> None:
    """OTraceError when ``a op b`` would build an integer over MAX_INT_BITS bits or a repetition
    over MAX_ITEMS items (nested items counted: ``_items``). ``a`` and ``b`` are library types
    (already guarded)."""
    if op == "*":
        for seq, times in ((a, b), (b, a)):
            if issubclass(type(seq), _REPEATED) and type(times) in (int, bool) and times > 1:
                if len(seq) * times > MAX_ITEMS:
                    raise _refuse(f"a repetition of {len(seq) * times:,} items", MAX_ITEMS)
                if _items(seq, MAX_ITEMS // times) is None:
                    raise _refuse(f"a repetition of {len(seq) * times:,} items holding more than "
                                  f"{MAX_ITEMS:,} items", MAX_ITEMS)
        bits_a, bits_b = _bits(a), _bits(b)
        if bits_a is not None and bits_b is not None and bits_a + bits_b > MAX_INT_BITS:
            raise _refuse(f"a product of about {bits_a + bits_b:,} bits", MAX_INT_BITS)
    elif op == "<<":
        if type(a) is int and type(b) is int and a and a.bit_length() + b > MAX_INT_BITS:
            raise _refuse(f"a shift to {a.bit_length() + b:,} bits", MAX_INT_BITS)
    elif op == "**":
        bits = _bits(a)
        if bits is None or bits <= 1 or type(b) is not int or b <= 1:   # 0, 1, -1: no growth
            return
        estimate = b * (math.log2(int.__abs__(a)) if issubclass(type(a), int) else bits)
        if estimate > MAX_INT_BITS:
            raise _refuse(f"a power of about {estimate:,.0f} bits", MAX_INT_BITS)


def check_size(n: int | None, what: str) -> None:
    """OTraceError when ``what`` has more than MAX_ITEMS items (``n`` None: too many to count)."""
    if n is None or n > MAX_ITEMS:
        raise _refuse(f"{what} of {'too many' if n is None else f'{n:,}'} items", MAX_ITEMS)


_DIGITS = re.compile(r"\d+")


def check_format_spec(spec: str) -> None:
    """OTraceError when a format spec asks for a width or precision over MAX_WIDTH."""
    for digits in _DIGITS.findall(spec):
        if len(digits) > 6 or int(digits) > MAX_WIDTH:
            raise _refuse(f"a format width or precision of {digits[:12]}", MAX_WIDTH)


def check_width(value: Any) -> None:
    """OTraceError when a ``*`` width or precision of a ``%`` format is over MAX_WIDTH."""
    if type(value) is int and abs(value) > MAX_WIDTH:
        raise _refuse(f"a format width or precision of {value:,}", MAX_WIDTH)


class Field:
    """One ``%`` field: its mapping key (or None), width and precision (None, ``"*"`` or an int)
    and conversion character (``"%"`` for ``%%``). (A plain class: a NamedTuple's generated
    ``__new__`` is code of no file, which safe mode would refuse to run.)"""

    __slots__ = ("key", "width", "precision", "conversion")

    def __init__(self, key: str | None, width: int | str | None, precision: int | str | None,
                 conversion: str) -> None:
        self.key, self.width, self.precision, self.conversion = key, width, precision, conversion


def _number(fmt: str, i: int) -> tuple[int | str | None, int]:
    if i < len(fmt) and fmt[i] == "*":
        return "*", i + 1
    j = i
    while j < len(fmt) and fmt[j].isdigit():
        j += 1
    if j == i:
        return None, i
    digits = fmt[i:j]
    return (int(digits) if len(digits) <= 12 else 10 ** 12), j


def percent_fields(fmt: str) -> list[Field]:
    """The fields of a printf-style format (``str`` or, decoded as latin-1, ``bytes``) as Python's
    ``%`` reads them; a malformed end is left to Python's own error."""
    fields: list[Field] = []
    i = 0
    while (i := fmt.find("%", i)) >= 0:
        i += 1
        key = None
        if fmt[i:i + 1] == "(":
            depth, j = 1, i + 1
            while j < len(fmt) and depth:
                depth += {"(": 1, ")": -1}.get(fmt[j], 0)
                j += 1
            key, i = fmt[i + 1:j - 1], j
        while i < len(fmt) and fmt[i] in "#0- +":
            i += 1
        width, i = _number(fmt, i)
        precision = None
        if fmt[i:i + 1] == ".":
            precision, i = _number(fmt, i + 1)
            precision = 0 if precision is None else precision
        while i < len(fmt) and fmt[i] in "hlL":
            i += 1
        fields.append(Field(key, width, precision, fmt[i:i + 1]))
        i += 1
    return fields
