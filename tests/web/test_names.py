"""The /osh/web naming rule (``otrace_server.web.names``), property-based: the name of an identity
gives the identity back (so two identities never share a name), no identity's name has the form of
another identity's tab (``<name>#N``), and every name is one plain /osh path component."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from otrace_server.web.names import MAX_NAME, TAB_MARK, identity_text, tab_name, web_name

#: identities as an app may give them: anything, and the look-alikes an attacker would pick
TRICKY = st.sampled_from(["user1", "user1.2", "user1#2", "user1%232", "user1_2", "Ann Lee", "Ann_Lee", "Ann%20Lee",
                          ".", "..", "-l", "~", "~~", "*", "a/b", "a\x1b[31mb", "\udcff", "\ud800", "é", "e\u0301"])
IDENTITIES = st.one_of(st.text(min_size=1), TRICKY, st.builds(lambda a, b: a + b, TRICKY, st.text(max_size=80)),
                       st.text(alphabet="ab._-#%~ ", min_size=1, max_size=120)).filter(lambda t: t.strip())
NAME_CHARS = re.compile(r"[A-Za-z0-9_.@+%~-]+")


def back(name: str) -> str:
    """Percent-decoding: the identity a name of at most ``MAX_NAME`` characters stands for."""
    return unquote_to_bytes(name).decode("utf-8", "surrogatepass")


@settings(max_examples=1000, deadline=None)
@given(IDENTITIES)
@example("user1")
@example("x" * 64)
def test_a_name_gives_its_identity_back_or_is_hashed_when_long(identity):
    name = web_name(identity)
    if "~" in name:
        start, digest = name.split("~")        # a long one: its start, then 128 bits of SHA-256
        assert re.fullmatch("[0-9a-f]{32}", digest) and identity.startswith(back(start))
    else:
        assert back(name) == identity          # injective: the identity is a function of its name
    assert name == web_name(identity)          # stable


@settings(max_examples=1000, deadline=None)
@given(IDENTITIES)
def test_a_name_is_one_plain_path_component(identity):
    name = web_name(identity)
    assert NAME_CHARS.fullmatch(name) and len(name) <= MAX_NAME
    assert TAB_MARK not in name and name not in (".", "..") and name[0] not in "~-."


@settings(max_examples=1000, deadline=None)
@given(IDENTITIES, IDENTITIES)
def test_two_identities_never_share_a_name(a, b):
    assume(a != b)
    assert web_name(a) != web_name(b)


@settings(max_examples=1000, deadline=None)
@given(IDENTITIES, IDENTITIES, st.integers(min_value=2, max_value=10_000))
def test_no_identity_takes_the_name_of_another_identitys_tab(a, b, tab):
    assert web_name(b) != tab_name(web_name(a), tab)


@settings(max_examples=500, deadline=None)
@given(st.text(min_size=200), st.text(min_size=1))
def test_long_identities_with_a_common_start_get_different_names(start, end):
    assert web_name(start) != web_name(start + end)
    assert len(web_name(start + end)) <= MAX_NAME


def test_readable_names_for_the_common_case():
    assert [web_name(i) for i in ("user1", "ann@example.com", "user1.2", "a-b+c")] == \
        ["user1", "ann@example.com", "user1.2", "a-b+c"]
    assert web_name("Ann Lee/admin") == "Ann%20Lee%2Fadmin"
    assert web_name("user1#2") == "user1%232" != tab_name("user1", 2) == "user1#2"
    assert tab_name("user1", 1) == "user1"


def test_identity_text():
    assert [identity_text(v) for v in (None, "", "  ", b"", "ann", b"ann", 7)] == [None, None, None, None,
                                                                                  "ann", "ann", "7"]
    assert identity_text(b"\xff") == "\udcff" and web_name(identity_text(b"\xff")) == "%ED%B3%BF"
