"""core.reprs.visible: foreign text made safe to show on a terminal (and safe_repr uses it)."""

from __future__ import annotations

import re

import pytest

from otrace_server.core.reprs import HIDDEN, safe_repr, visible

#: what a screen must never receive from foreign text (newline and tab aside)
RAW = re.compile(f"[{HIDDEN}]")


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),                 # clear the screen
    ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),           # set the terminal's title
    ("ok\rFAKE", "ok\\rFAKE"),                            # overwrite the line
    ("a\x08\x08b\x7f", "a\\x08\\x08b\\x7f"),              # backspaces, DEL
    ("\x9b31m", "\\x9b31m"),                              # C1 CSI
    ("abc\u202edef", "abc\\u202edef"),                    # right-to-left override
    ("x\u2066y\u2069\u200b\ufeff", "x\\u2066y\\u2069\\u200b\\ufeff"),
    ("tag\U000e0041", "tag\\U000e0041"),                  # invisible tag characters
    ("lone \ud800", "lone \\ud800"),                      # a lone surrogate (cannot be encoded)
    ("two\nlines\tand tab", "two\nlines\tand tab"),       # kept in multi-line text
    ("plain é ✓ 漢字 👨\u200d👩\u200d👧", "plain é ✓ 漢字 👨\u200d👩\u200d👧"),   # printable text as it is
])
def test_controls_and_invisible_characters_become_their_escapes(raw, shown):
    assert visible(raw) == shown
    assert not RAW.search(visible(raw))
    assert visible(visible(raw)) == visible(raw)          # idempotent


def test_one_line_escapes_newlines_and_tabs_too():
    assert visible("a\nb\tc\r", one_line=True) == "a\\nb\\tc\\r"
    assert "\n" not in visible("x\n" * 5, one_line=True)


def test_every_hidden_code_point_is_escaped_and_nothing_else_changes():
    for code in range(0x110000):
        char = chr(code)
        if char in "\n\t":
            continue
        hidden = RAW.fullmatch(char) is not None
        assert (visible(char) != char) == hidden, hex(code)
        assert RAW.search(visible(char)) is None


def test_a_non_str_is_shown_as_its_str():
    assert visible(12) == "12"


class _Hostile:
    def __repr__(self) -> str:
        return "\x1b[2J\x1b]0;owned\x07<Hostile\u202e>"


class _NotText:
    def __repr__(self):
        return b"bytes"    # repr() itself raises TypeError for this


def test_safe_repr_shows_an_application_repr_escaped():
    assert safe_repr(_Hostile()) == "\\x1b[2J\\x1b]0;owned\\x07<Hostile\\u202e>"
    assert safe_repr(_Hostile(), 10) == "\\x1b[2J..."     # escaped first, then cut
    assert safe_repr(_NotText()).startswith("<unrepresentable _NotText:")


def test_safe_repr_of_an_exception_message_with_escapes_is_escaped():
    class Broken:
        def __repr__(self):
            raise ValueError("\x1b[31mred")
    assert safe_repr(Broken()) == "<unrepresentable Broken: \\x1b[31mred>"
