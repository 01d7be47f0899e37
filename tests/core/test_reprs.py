"""core.reprs.safe_repr: the one bounded, never-raising repr of application objects."""

from __future__ import annotations

import pytest

from otrace_server.core.reprs import safe_repr


class _Broken:
    def __repr__(self) -> str:
        raise ValueError("no repr today")


def test_a_short_repr_is_returned_as_it_is():
    assert safe_repr([1, "a"], 72) == "[1, 'a']"
    assert safe_repr("x" * 100) == repr("x" * 100)          # no limit: not cut


@pytest.mark.parametrize("limit", [10, 72, 500])
def test_a_long_repr_is_cut_to_the_limit_and_ends_with_dots(limit):
    text = safe_repr(list(range(1000)), limit)
    assert len(text) == limit and text.endswith("...") and text.startswith("[0, 1,")


def test_a_broken_repr_never_raises_and_says_why():
    assert safe_repr(_Broken(), 72) == "<unrepresentable _Broken: no repr today>"
    assert safe_repr(_Broken(), 20) == "<unrepresentable ..."


def test_render_replaces_repr_and_its_failures_are_caught_too():
    assert safe_repr({"b": 1}, render=lambda v: ",".join(v)) == "b"
    assert safe_repr(3, render=lambda v: 1 / 0) == "<unrepresentable int: division by zero>"
