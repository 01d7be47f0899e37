"""A zoo of hostile application objects: what an application may hand otrace to show, list, enter,
trace or tag. ``make_zoo()`` returns a fresh ``{name: object}`` dict (every name a valid Python
identifier, so shells can use it as a global); the shell, LSP and DAP tests show that otrace
answers each with a result or a one-line error, never an "internal error".

Kinds: ``__getattr__`` answering every name (``__wrapped__``, ``__code__``, ``__func__``,
``__module__``, ``__doc__``...), ``__getattribute__`` raising (also with an exception whose
``__str__`` raises), ``__dir__`` raising / not iterable / returning non-strings / huge,
``__repr__``/``__str__`` raising, returning non-strings, 10 MB or many lines, ``__len__``/
``__iter__``/``__bool__``/``__eq__``/``__hash__`` raising, metaclasses with a hostile
``__getattr__``/``__getattribute__``/``__dir__``, a ``__class__`` that lies or raises, properties
that raise, recursive containers, a dict subclass with hostile ``keys()``, a dict with a hostile
key, a module-like object, a huge int, a deeply nested list.
"""

from __future__ import annotations

import types

__all__ = ["make_zoo", "BadStr"]

#: the size of the huge repr (characters) and the number of names of the huge __dir__
HUGE_REPR = 10_000_000
HUGE_DIR = 20_000


class BadStr(Exception):
    """An exception whose message cannot be shown."""

    def __str__(self):
        raise RuntimeError("str of the exception")


class AnswersEverything:
    """``__getattr__`` answers every name with a callable returning 42."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: 42


class AnswersSelf:
    """``__getattr__`` answers every name with the object itself (``__wrapped__`` loops)."""

    def __getattr__(self, name):
        return self


class AnswersInt:
    def __getattr__(self, name):
        return 7


class GetattributeRaises:
    def __getattribute__(self, name):
        raise RuntimeError(f"no attribute reads ({name})")


class GetattributeBadStr:
    def __getattribute__(self, name):
        raise BadStr()


class GetattrRaises:
    def __getattr__(self, name):
        raise ValueError(f"hostile {name}")


class DirRaises:
    def __dir__(self):
        raise RuntimeError("dir refused")


class DirNotIterable:
    def __dir__(self):
        return 5


class DirNonStrings:
    ok = 1

    def __dir__(self):
        return [1, None, object(), "ok", b"bytes", ("a",)]


class DirHuge:
    def __dir__(self):
        return [f"a{i}" for i in range(HUGE_DIR)]

    def __getattr__(self, name):
        if name.startswith("a"):
            return 1
        raise AttributeError(name)


class ReprRaises:
    def __repr__(self):
        raise RuntimeError("repr refused")

    def __str__(self):
        raise RuntimeError("str refused")


class ReprBadStr:
    def __repr__(self):
        raise BadStr()

    __str__ = __repr__


class ReprNotString:
    def __repr__(self):
        return 42

    def __str__(self):
        return None


class ReprHuge:
    def __repr__(self):
        return "x" * HUGE_REPR

    __str__ = __repr__


class ReprLines:
    def __repr__(self):
        return "line\n" * 100_000


class ProtocolsRaise:
    def __len__(self):
        raise RuntimeError("len")

    def __iter__(self):
        raise RuntimeError("iter")

    def __bool__(self):
        raise RuntimeError("bool")

    def __eq__(self, other):
        raise RuntimeError("eq")

    def __hash__(self):
        raise RuntimeError("hash")

    def __contains__(self, item):
        raise RuntimeError("contains")

    def __getitem__(self, key):
        raise RuntimeError("getitem")


class AnsweringMeta(type):
    def __getattr__(cls, name):
        return lambda *args, **kwargs: 42

    def __dir__(cls):
        raise RuntimeError("metaclass dir")


class AnsweringClass(metaclass=AnsweringMeta):
    """A class whose metaclass answers every attribute."""


def _raising_classes() -> tuple[type, type]:
    """Two classes whose metaclass refuses attribute reads (``__class__`` too: ``isinstance(cls,
    X)`` raises); made per zoo, so that they die with it (tests scanning ``gc.get_objects()`` with
    ``isinstance`` would meet them otherwise)."""

    class RaisingMeta(type):
        def __getattribute__(cls, name):
            if name in ("__mro__", "__dict__", "__name__", "__qualname__", "__module__", "__bases__"):
                return type.__getattribute__(cls, name)
            raise RuntimeError(f"metaclass refuses {name}")

    class RaisingClass(metaclass=RaisingMeta):
        def method(self):
            return 1

    class NamelessMeta(type):
        def __getattribute__(cls, name):
            if name in ("__mro__",):
                return type.__getattribute__(cls, name)
            raise RuntimeError(f"metaclass refuses {name}")

    class NamelessClass(metaclass=NamelessMeta):
        pass

    return RaisingClass, NamelessClass


class ClassLies:
    @property
    def __class__(self):
        return int


class ClassRaises:
    @property
    def __class__(self):
        raise RuntimeError("no class")


class Properties:
    @property
    def broken(self):
        raise RuntimeError("property refused")

    @property
    def broken_message(self):
        raise BadStr()

    def method(self):
        return 1


class HostileKeysDict(dict):
    def keys(self):
        raise RuntimeError("keys")

    def __iter__(self):
        raise RuntimeError("iter")

    def __getitem__(self, key):
        raise RuntimeError("getitem")

    def __contains__(self, key):
        raise RuntimeError("contains")

    def __len__(self):
        raise RuntimeError("len")

    def items(self):
        raise RuntimeError("items")


class HostileKey:
    def __str__(self):
        raise RuntimeError("key str")

    __repr__ = __str__

    def __hash__(self):
        return 1

    def __eq__(self, other):
        raise RuntimeError("key eq")


class HostileSet(set):
    def __iter__(self):
        raise RuntimeError("set iter")


class ModuleLike(types.ModuleType):
    def __getattr__(self, name):
        return self


def make_zoo() -> dict:
    """A fresh ``{name: hostile object}``."""
    recursive_list: list = []
    recursive_list.append(recursive_list)
    recursive_dict: dict = {}
    recursive_dict["me"] = recursive_dict
    nested: list = []
    inner = nested
    for _ in range(100_000):
        inner.append([])
        inner = inner[0]
    RaisingClass, NamelessClass = _raising_classes()
    module = ModuleLike("hostile_module")
    module.__file__ = None
    module.__name__ = 5
    return {
        "answers_everything": AnswersEverything(), "answers_self": AnswersSelf(), "answers_int": AnswersInt(),
        "getattribute_raises": GetattributeRaises(), "getattribute_badstr": GetattributeBadStr(),
        "getattr_raises": GetattrRaises(),
        "dir_raises": DirRaises(), "dir_not_iterable": DirNotIterable(), "dir_non_strings": DirNonStrings(),
        "dir_huge": DirHuge(),
        "repr_raises": ReprRaises(), "repr_badstr": ReprBadStr(), "repr_not_string": ReprNotString(),
        "repr_huge": ReprHuge(), "repr_lines": ReprLines(), "protocols_raise": ProtocolsRaise(),
        "AnsweringClass": AnsweringClass, "RaisingClass": RaisingClass, "NamelessClass": NamelessClass,
        "raising_instance": RaisingClass(), "AnsweringMeta": AnsweringMeta,
        "class_lies": ClassLies(), "class_raises": ClassRaises(), "properties": Properties(),
        "hostile_keys": HostileKeysDict(a=1), "hostile_key": {HostileKey(): 1, "fine": 2},
        "hostile_set": HostileSet({1, 2}), "module_like": module,
        "huge_int": 10 ** 100_000, "recursive_list": recursive_list, "recursive_dict": recursive_dict,
        "nested": nested, "hostile_items": [AnswersEverything(), ReprRaises(), ReprHuge(), ClassRaises()],
        "hostile_values": {"a": ReprRaises(), "b": GetattributeRaises(), "c": ReprHuge()},
    }
