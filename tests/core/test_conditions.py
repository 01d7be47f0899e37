"""core.conditions: parsing otrace's -c conditions and the predicates compiled from them."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from otrace_server.core.conditions import ArgSpec, parse
from otrace_server.core.errors import OTraceError


def respond(self, number, request=None, *rest, flag=False, **extra):
    return number


SPEC = ArgSpec.of(respond)


class Obj:
    def __init__(self, value=1, method="GET"):
        self.value = value
        self.method = method
        self.inner = self


def match(text, *args, r=None, **kwargs):
    return parse(text).matcher(SPEC)(args, kwargs, r)


@pytest.mark.parametrize("text, kind, when", [
    (None, "exceptions", None), ("", "exceptions", None), ("call", "call", "call"),
    ("return", "return", "return"), ("all", "all", "all"), ("tagged", "tagged", "call"),
    ("taggedself", "tagged", "call"), ("number==77", "match", "call"), ("return>=5", "match", "return"),
    ("number==1, return!=2", "match", "return"),
])
def test_parse_kinds_and_when(text, kind, when):
    cond = parse(text)
    assert (cond.kind, cond.when) == (kind, when)


def test_label_is_the_condition_text():
    assert parse(" number==77 ").label == "number==77"
    assert parse("taggedself").tagged_arg == "self"
    assert parse("tagged").tagged_arg is None


def test_number_literal_matches_int_and_its_string():
    assert match("number==77", Obj(), 77)
    assert match("number==77", Obj(), "77")
    assert not match("number==77", Obj(), 78)
    assert not match("number==77", Obj(), "78")
    assert match("number!=77", Obj(), "78")
    assert not match("number!=77", Obj(), "77")


def test_string_literal_does_not_match_a_number():
    assert match("number=='77'", Obj(), "77")
    assert not match("number=='77'", Obj(), 77)


def test_ordering_converts_numeric_strings_and_fails_quietly_otherwise():
    assert match("number>=50", Obj(), "77")
    assert match("number<5.5", Obj(), 5)
    assert not match("number>50", Obj(), "abc")
    assert not match("number>50", Obj(), None)


def test_attribute_paths_and_quoted_commas():
    assert match('request.method=="PO,ST"', Obj(), 1, Obj(method="PO,ST"))
    assert match("self.inner.inner.value==3", Obj(value=3), 1)
    assert not match("self.value!=1", Obj(value=1), 1)
    assert match("self.value!=1", Obj(value=2), 1)


def test_missing_attribute_or_argument_is_no_match():
    assert not match("self.nope==1", Obj(), 1)
    assert not match("self.nope!=1", Obj(), 1)
    assert not match("number!=1", Obj())          # number not passed, no default


def test_all_clauses_must_hold():
    assert match("number==1,self.value==2", Obj(value=2), 1)
    assert not match("number==1,self.value==2", Obj(value=3), 1)
    assert not match("number==2,self.value==2", Obj(value=2), 1)


def test_keywords_defaults_and_kwonly_arguments():
    assert match("number==5", Obj(), number=5)
    assert match("request==None", Obj(), 1)       # default used when not passed
    assert match("flag==True", Obj(), 1, flag=True)
    assert match("other=='x'", Obj(), 1, other="x")  # **extra accepts any name


def test_return_clause_compares_the_return_value():
    assert match("return>=5", Obj(), 1, r=7)
    assert not match("return>=5", Obj(), 1, r=2)


def test_broken_eq_is_no_match():
    class Hostile:
        def __eq__(self, other):
            raise RuntimeError("boom")
    assert not match("number==1", Obj(), Hostile())


@pytest.mark.parametrize("text", [
    "number=77", "number==", "number==foo", "==5", "a==1,,b==2", "number=='x", "1abc==2",
    "self..value==1", "call,return",
])
def test_malformed_conditions_raise_one_line_errors(text):
    with pytest.raises(OTraceError) as info:
        parse(text)
    assert "\n" not in str(info.value)


def test_non_string_condition_is_rejected():
    with pytest.raises(OTraceError):
        parse(77)


def test_unknown_argument_is_rejected_at_compile_time():
    def f(a, b):
        pass
    with pytest.raises(OTraceError, match="no argument 'c'"):
        parse("c==1").matcher(ArgSpec.of(f))


def test_argspec_bind_matches_python_binding():
    bound = SPEC.bind((1, 2), {"flag": True, "z": 9})
    assert bound == {"self": 1, "number": 2, "request": None, "rest": (), "flag": True, "extra": {"z": 9}}


@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_integer_equality_agrees_with_python(value, literal):
    m = parse(f"number=={literal}").matcher(SPEC)
    assert m((None, value), {}) == (value == literal)
    assert m((None, str(value)), {}) == (value == literal)
    assert parse(f"number<{literal}").matcher(SPEC)((None, value), {}) == (value < literal)


@pytest.mark.parametrize("text, value, expected", [
    ("number==-5", -5, True), ("number==-5", "-5", True), ("number<1.5", 1, True), ("number<1.5", 2, False),
    ("number<1e999", 10 ** 400, True), ("number>1e999", 1.0, False),      # inf: not a literal in the code
    ("number=='it\\'s'", "it's", True), ("number==None", None, True), ("number==True", True, True),
    ("number==True", 1.5, False),
])
def test_literals_of_every_plain_type_compile_to_what_they_mean(text, value, expected):
    assert match(text, Obj(), value) is expected   # respond(self, number, ...)
