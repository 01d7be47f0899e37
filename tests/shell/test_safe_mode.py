"""shell.evaluation in safe_mode (on by default): ``pr`` refuses calls and assignments, including the
calls hidden in operators on application objects, and a plain item read never changes state."""

from collections import defaultdict
from datetime import date
from fractions import Fraction

import pytest


class Spy:
    """An application object whose special methods record that they ran."""

    def __init__(self, log):
        self.log = log

    def __add__(self, other):
        self.log.append("add")
        return 1

    def __eq__(self, other):
        self.log.append("eq")
        return True

    __hash__ = object.__hash__

    def __bool__(self):
        self.log.append("bool")
        return True

    def __format__(self, spec):
        self.log.append("format")
        return "x"

    def __iter__(self):
        self.log.append("iter")
        return iter(())

    def __contains__(self, item):
        self.log.append("contains")
        return True

    def __index__(self):
        self.log.append("index")
        return 0

    def __getitem__(self, key):
        self.log.append("getitem")
        return key

    @property
    def prop(self):
        self.log.append("prop")
        return 7


class Hashy:
    def __init__(self, log):
        self.log = log

    def __hash__(self):
        self.log.append("hash")
        return 1


@pytest.fixture
def spied(app):
    log = []
    app.update(spy=Spy(log), hashy=Hashy(log), cache=defaultdict(list, a=[1]), day=date(2024, 5, 1),
               third=Fraction(1, 3))
    return log


@pytest.mark.parametrize("expr", [
    "spy + 1", "1 + spy", "spy == 1", "not spy", "spy and 1", "1 if spy else 2", "f'{spy}'",
    "f'{spy:>3}'", "[*spy]", "(*spy,)", "1 in spy", "numbers[spy]", "{hashy}", "{hashy: 1}", "{**spy}",
    "spy[3]", "spy.prop",          # reads that would run the application's __getitem__ / property
])
def test_operators_on_application_objects_are_refused(session, spied, expr):
    r = session.execute(expr)
    assert r.error and r.output.startswith("calls: refused in safe mode ("), r.output
    assert r.output.endswith("); set safe_mode False to allow it")
    assert spied == []                       # the application's code did not run


def test_identity_comparisons_run_no_code_and_stay_allowed(session, spied):
    assert session.execute("spy is None").output == "False"
    assert session.execute("spy is not None is not spy").output == "True"
    assert session.execute("spy is None or 1").output == "1"     # the truth of a bool, not of spy
    assert session.execute("spy or 1").error                      # spy's own truth stays guarded
    assert spied == []


def test_operators_run_when_safe_mode_is_off(session, spied):
    session.execute("set safe_mode False")
    r = session.execute("spy + 1")
    assert (r.error, r.output, spied) == (False, "1", ["add"])


def test_item_read_of_a_defaultdict_does_not_insert(session, app, spied):
    r = session.execute("cache['missing']")
    assert r.error and r.output == "KeyError: 'missing'"
    assert dict(app["cache"]) == {"a": [1]}
    assert session.execute("cache['a']").output == "[1]"


@pytest.mark.parametrize("expr, expected", [
    ("counter + 1", "4"), ("numbers[1] * 2", "40"), ("numbers[::-1][0]", "30"), ("numbers[0:2]", "[10, 20]"),
    ("'a' in 'abc' and not numbers == []", "True"), ("f'{counter:>3}|{config[\"port\"]}'", "'  3|8888'"),
    ("{**config}['port']", "8888"), ("-counter if counter else 0", "-3"), ("(day - day).days", "0"),
    ("third + 1", "Fraction(4, 3)"), ("receiver.value", "5"),
])
def test_plain_reads_and_builtin_operators_still_work(session, spied, expr, expected):
    r = session.execute(expr)
    assert (r.error, r.output) == (False, expected)


def test_a_users_name_slice_is_not_shadowed_by_the_guard(engine):
    """The guard's helpers have names of their own: an application global called ``slice`` reads
    as itself, and slicing still works, in safe mode."""
    from otrace_server.shell import Shell

    session = Shell(engine, {"slice": "mine", "items": [1, 2, 3]}).session("t")
    assert session.execute("slice").output == "'mine'"
    assert session.execute("items[1:]").output == "[2, 3]"
