"""``placement.traceassert``: the exact edits of "Insert traceassert (hold) here", placed before the
statement a line belongs to and indented as that line is written (tabs stay tabs)."""

from __future__ import annotations

from otrace_server import placement
from tests.placement.test_inserted import TABBED
from tests.placement.test_statements import SRC


def test_insert_in_async_def_is_an_awaited_hold_with_import():
    title, edits = placement.insert_traceassert_edits(SRC, 10)
    assert title == "Insert traceassert hold here"
    assert edits == [
        {"range": {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 0}},
         "newText": "from otrace_server import traceassert\n"},
        {"range": {"start": {"line": 10, "character": 0}, "end": {"line": 10, "character": 0}},
         "newText": '            await traceassert(True, label="get_11", action="hold")\n'},
    ]


def test_insert_elsewhere_is_plain_and_import_not_repeated():
    lines = ["from otrace_server import traceassert\n"] + SRC
    title, edits = placement.insert_traceassert_edits(lines, 15)    # on "def plain():" -> first body line
    assert title == "Insert traceassert here"
    assert edits == [{"range": {"start": {"line": 16, "character": 0}, "end": {"line": 16, "character": 0}},
                      "newText": '    traceassert(True, label="plain_17")\n'}]


def test_import_into_a_file_without_imports_keeps_pep8_spacing():
    lines = ['"""Doc."""\n', "\n", "\n", "async def get():\n", "    return 1\n"]
    _, edits = placement.insert_traceassert_edits(lines, 4)
    assert edits[0] == {"range": {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 0}},
                        "newText": "from otrace_server import traceassert\n\n\n"}


def test_insert_traceassert_edit_uses_the_lines_own_indentation():
    title, edits = placement.insert_traceassert_edits(TABBED.splitlines(keepends=True), 3)
    assert title == "Insert traceassert hold here"
    assert edits[-1]["newText"] == '\tawait traceassert(True, label="handle_3", action="hold")\n'
    assert edits[-1]["range"]["start"]["line"] == 2


def test_code_that_does_not_parse_is_placed_by_indentation():
    lines = ["def f(:\n", "    x = 1\n"]
    assert placement.statement_start(lines, 1) is None
    title, edits = placement.insert_traceassert_edits(lines, 1)
    assert edits[-1]["newText"].startswith("    traceassert(")
