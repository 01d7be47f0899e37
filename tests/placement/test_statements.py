"""``placement.statements``: the def around a line, where a statement for a line goes, the word
under the cursor."""

from __future__ import annotations

from otrace_server import placement

SRC = '''"""Doc."""
from __future__ import annotations
import os


class Handler:
    @decorator
    async def get(self):
        number = 1
        if number:
            x = 2
        return x


def plain():
    y = 1
    def inner():
        return y
'''.splitlines(True)


def test_enclosing_finds_qualname_async_and_nesting():
    assert placement.enclosing(SRC, 10) == placement.Enclosing("Handler.get", 7, True, False)
    assert placement.enclosing(SRC, 6).qualname == "Handler.get"          # decorator line
    assert placement.enclosing(SRC, 15) == placement.Enclosing("plain", 14, False, False)
    assert placement.enclosing(SRC, 17) == placement.Enclosing("plain.inner", 16, False, True)
    assert placement.enclosing(SRC, 2) is None


def test_statement_start_of_code_that_does_not_parse_is_none():
    assert placement.statement_start(["def f(:\n", "    pass\n"], 1) is None
    assert placement.statement_start(["x = (1,\n", "     2)\n"], 1) == 0
    assert placement.statement_start(['s = """a\n', 'b"""\n'], 1) == 0   # inside a multi-line string


def test_word_at():
    assert placement.word_at("    return number + 1", 12) == "number"
    assert placement.word_at("    ", 2) is None
