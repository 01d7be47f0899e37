"""Property: with safe_mode on, no expression runs application code, changes state, freezes the
application or answers "internal error".

Hypothesis generates ``pr`` lines over instrumented application objects: every special method of
every probe class records its call, in each of the forms a special method can take (a plain
function, a decorated wrapper, an ``lru_cache``, a callable object, a ``partialmethod``, a
staticmethod, a class claiming a standard-library ``__module__``), plus dict/int/str subclasses, a
metaclass, a sequence-protocol class, properties and ``__getattr__``, a generator, and builtin
iterators and mappings whose state a read could change (a list iterator, ``itertools.count``, a
defaultdict). The expressions use every operator, comparison, truth test, format (``%`` codes,
f-string conversions and specs), unpacking form, subscript and slice, and resource-hungry forms
(powers, shifts, repetitions, huge widths, unpacking a huge range). Derandomized: CI is deterministic.
Special methods that are builtin methods bound to application state (``CProbe``) run no Python
frame: only the static decision (``safety.refuse_special``) keeps them from running.
"""

from __future__ import annotations

import builtins
import collections
import dataclasses
import decimal
import fractions
import functools
import itertools
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from otrace_server.core.engine import Engine
from otrace_server.shell import Shell

pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")   # '1 is 1' warns when compiled

CALLS: list[str] = []

_SPECIALS = (
    "add sub mul matmul truediv floordiv mod pow lshift rshift and or xor radd rsub rmul rmatmul rtruediv "
    "rfloordiv rmod rpow rlshift rrshift rand ror rxor neg pos invert abs eq ne lt le gt ge hash bool len "
    "length_hint contains iter next reversed getitem missing int float complex index round trunc floor "
    "ceil bytes str repr format getattr class_getitem"
).split()
_RESULTS = {"bool": True, "len": 1, "length_hint": 1, "hash": 1, "index": 1, "int": 1, "float": 1.0,
            "complex": 1j, "str": "x", "repr": "x", "format": "x", "bytes": b"x", "contains": True,
            "eq": True, "ne": False, "lt": True, "le": True, "gt": False, "ge": False, "getattr": "x"}


def _result(name: str, args: tuple):
    CALLS.append(name)
    if name == "iter":
        return iter(())
    if name == "next":
        raise StopIteration
    if name == "getitem" and args and isinstance(args[-1], int) and args[-1] > 2:
        raise IndexError(args[-1])
    return _RESULTS.get(name, 1)


def _plain(name):
    def special(self, *args):
        return _result(name, args)
    return special


def _wrapped(name):
    inner = _plain(name)

    @functools.wraps(inner)
    def special(*args):
        return inner(*args)
    return special


class _Callable:
    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        return _result(self.name, args)


def _partial(name):
    def impl(self, tag, *args):
        return _result(tag, args)
    return functools.partialmethod(impl, name)


FORMS = {
    "plain": _plain, "wrapped": _wrapped, "cached": lambda n: functools.lru_cache(_plain(n)),
    "callable": _Callable, "partial": _partial, "static": lambda n: staticmethod(lambda *a: _result(n, a)),
}


def _probe_class(form: str, base: type = object, module: str | None = None, names=_SPECIALS) -> type:
    namespace = {f"__{n}__": FORMS[form](n) for n in names}
    if form == "cached":              # lru_cache hashes its arguments: self's hash must not be cached too
        namespace["__hash__"] = object.__hash__
    if module:
        namespace["__module__"] = module
    return type(f"Probe_{form}", (base,), namespace)


class Meta(type):
    pass


for _n in ("eq", "getitem", "or", "add", "bool", "len", "iter", "hash", "repr", "format", "contains"):
    setattr(Meta, f"__{_n}__", _plain(_n))


class KProbe(metaclass=Meta):
    pass


class Seq:
    def __getitem__(self, i):
        return _result("getitem", (i,))

    def __len__(self):
        return _result("len", ())


class Attrs:
    @property
    def prop(self):
        return _result("property", ())

    @functools.cached_property
    def cached(self):
        return _result("cached_property", ())

    def __getattr__(self, name):
        return _result("getattr", (name,))


class Missing(dict):
    def __missing__(self, key):
        return _result("missing", (key,))


#: state that builtin methods bound to application objects change: no Python frame shows it
COUNTER, SINK, SINK_LIST = itertools.count(), {}, []


class CProbe:
    """Special methods that are builtin methods bound to application state (C code, no frame)."""
    __hash__ = __index__ = __len__ = __int__ = COUNTER.__next__
    __getitem__ = __missing__ = SINK.setdefault
    __eq__ = __contains__ = __format__ = __lt__ = __add__ = __radd__ = __bool__ = SINK_LIST.append


@dataclasses.dataclass
class Point:
    x: object = 1
    y: object = 2


def _generator():
    CALLS.append("generator")
    yield 1


def _namespace() -> dict:
    ns = {f"p_{form}": _probe_class(form)() for form in FORMS}
    ns["__builtins__"] = builtins          # as in a module's globals (eval would add it)
    ns.update(
        claim=_probe_class("plain", module="collections")(), builtin_claim=_probe_class("plain", module="builtins")(),
        iprobe=_probe_class("plain", int, names=("add", "index", "int", "format", "repr", "eq", "hash", "bool",
                                                  "mod", "rmod", "pow", "mul", "lshift"))(5),
        sprobe=_probe_class("plain", str, names=("mod", "format", "str", "repr", "getitem", "contains", "eq",
                                                  "hash", "iter", "len", "add", "mul"))("ab"),
        KProbe=KProbe, cprobe=CProbe(), seq=Seq(), attrs=Attrs(), dmiss=Missing(a=1), dd=collections.defaultdict(list, a=[1]),
        cmap=collections.ChainMap(collections.defaultdict(int)), it=iter([1, 2, 3]), cnt=itertools.count(),
        gen=_generator(), big=range(10 ** 12), n=7, f=2.5, s="abc", b=b"ab", lst=[1, 2], tup=(1, 2), dct={"k": 1},
        st={1, 2}, fr=fractions.Fraction(3, 2), dec=decimal.Decimal("1.5"), pt=Point(), Point=Point,
    )
    ns.update(pt_probe=Point(ns["p_plain"], ns["p_wrapped"]), boxed=[ns["p_plain"]], keyed={"k": ns["p_plain"]})
    return ns


def _state(ns: dict) -> tuple:
    probes = [v for k, v in ns.items() if k.startswith("p_") or k in ("claim", "builtin_claim", "seq", "attrs")]
    return (list(CALLS), repr(COUNTER), dict(SINK), list(SINK_LIST), dict(ns["dd"]), dict(ns["dmiss"]), dict(ns["cmap"].maps[0]), ns["it"].__length_hint__(),
            repr(ns["cnt"]), ns["gen"].gi_frame is not None and ns["gen"].gi_frame.f_lasti,
            [sorted(object.__getattribute__(p, "__dict__")) for p in probes], sorted(ns))


NAMES = sorted(_namespace()) + ["p_plain.prop", "attrs.prop", "attrs.cached", "attrs.anything", "KProbe"]
LITERALS = ["1", "0", "-3", "2.5", "'s'", "b'b'", "None", "True", "(1, 2)", "[1]", "{}", "10 ** 9", "999999999"]

atoms = st.sampled_from(NAMES + LITERALS)
BINARY = ["+", "-", "*", "@", "/", "//", "%", "**", "<<", ">>", "&", "|", "^"]
COMPARE = ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"]
FORMATS = ["'%s'", "'%d'", "'%r'", "'%a'", "'%c'", "'%x'", "'%f'", "'%e'", "'%*d'", "'%.*f'", "'%(k)s'",
           "'%(a)s %(k)r'", "b'%s'", "b'%b'", "'%999999999d'", "'%s %s'"]
SPECS = ["", ">5", "^9", ".2f", "d", "x", ",", "99999999", ".99999999", "{n}", "{p_plain}", "%Y"]


def _extend(children):
    two = st.tuples(children, children)
    return st.one_of(
        st.builds(lambda op, ab: f"({ab[0]} {op} {ab[1]})", st.sampled_from(BINARY), two),
        st.builds(lambda op, a: f"({op}{a})", st.sampled_from(["-", "+", "~", "not "]), children),
        st.builds(lambda op, ab: f"({ab[0]} {op} {ab[1]})", st.sampled_from(COMPARE), two),
        st.builds(lambda op, ab: f"({ab[0]} {op} {ab[1]})", st.sampled_from(["and", "or"]), two),
        st.builds(lambda a, b, c: f"({a} if {b} else {c})", children, children, children),
        st.builds(lambda fmt, a: f"({fmt} % {a})", st.sampled_from(FORMATS), children),
        st.builds(lambda fmt, ab: f"({fmt} % ({ab[0]}, {ab[1]}))", st.sampled_from(FORMATS), two),
        st.builds(lambda a, conv, spec: f'f"{{{a}{conv}:{spec}}}"', st.sampled_from(NAMES + LITERALS[:6]),
                  st.sampled_from(["", "!r", "!s", "!a"]), st.sampled_from(SPECS)),
        st.builds(lambda form, a: form.format(a), st.sampled_from(
            ["[*{}]", "(*{},)", "{{*{}}}", "{{**{}}}", "{{{}}}", "{{{}: 1}}", "[{}, 1]", "{}[1]", "{}[0:2]",
             "{}[::-1]", "{}['k']", "{}['zz']", "{}.real", "len({})", "format({})", "reversed({})",
             "'{{}}'.format({})", "str({})", "{}()"]), children),
        st.builds(lambda ab: f"{ab[0]}[{ab[1]}]", two),
        st.builds(lambda ab: f"{ab[0]}[{ab[1]}:{ab[1]}]", two),
    )


expressions = st.recursive(atoms, _extend, max_leaves=6)

NS = _namespace()
SESSION = Shell(Engine(), NS).session("property")
STATE = _state(NS)


@settings(max_examples=10000, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(expressions)
def test_safe_mode_runs_no_application_code(expression):
    started = time.monotonic()
    result = SESSION.execute(f"pr {expression}")
    elapsed = time.monotonic() - started
    assert not result.output.startswith("internal error"), (expression, result.output)
    assert "\n" not in result.output or not result.error, (expression, result.output)
    assert _state(NS) == STATE, (expression, result.output, CALLS)
    assert elapsed < 2, (expression, elapsed)


def test_the_probes_do_count_when_safe_mode_is_off():
    """The instrumentation works: each form of special method records its call when run."""
    ns = _namespace()
    session = Shell(Engine(), ns).session("unsafe")
    session.execute("set safe_mode False")
    for name in [k for k in ns if k.startswith("p_")] + ["claim", "builtin_claim"]:
        del CALLS[:]
        assert not session.execute(f"pr {name} == 1").error
        assert CALLS == ["eq"], name
    del CALLS[:]
