"""Source analysis behind the code actions: enclosing defs and the exact inserted statements."""

from otrace_server.lsp import editor

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
    assert editor.enclosing(SRC, 10) == editor.Enclosing("Handler.get", 7, True, False)
    assert editor.enclosing(SRC, 6).qualname == "Handler.get"          # decorator line
    assert editor.enclosing(SRC, 15) == editor.Enclosing("plain", 14, False, False)
    assert editor.enclosing(SRC, 17) == editor.Enclosing("plain.inner", 16, False, True)
    assert editor.enclosing(SRC, 2) is None


def test_insert_in_async_def_is_an_awaited_hold_with_import():
    title, edits = editor.insert_traceassert_edits(SRC, 10)
    assert title == "Insert traceassert hold here"
    assert edits == [
        {"range": {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 0}},
         "newText": "from otrace_server import traceassert\n"},
        {"range": {"start": {"line": 10, "character": 0}, "end": {"line": 10, "character": 0}},
         "newText": '            await traceassert(True, label="get_11", action="hold")\n'},
    ]


def test_insert_elsewhere_is_plain_and_import_not_repeated():
    lines = ["from otrace_server import traceassert\n"] + SRC
    title, edits = editor.insert_traceassert_edits(lines, 15)    # on "def plain():" -> first body line
    assert title == "Insert traceassert here"
    assert edits == [{"range": {"start": {"line": 16, "character": 0}, "end": {"line": 16, "character": 0}},
                      "newText": '    traceassert(True, label="plain_17")\n'}]


def test_import_into_a_file_without_imports_keeps_pep8_spacing():
    lines = ['"""Doc."""\n', "\n", "\n", "async def get():\n", "    return 1\n"]
    _, edits = editor.insert_traceassert_edits(lines, 4)
    assert edits[0] == {"range": {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 0}},
                        "newText": "from otrace_server import traceassert\n\n\n"}


def test_word_at():
    assert editor.word_at("    return number + 1", 12) == "number"
    assert editor.word_at("    ", 2) is None
