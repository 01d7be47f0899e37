"""``shell.editor``'s placement of inserted statements, shared by "Hold here live" (LSP), DAP
breakpoints and "Insert traceassert": before the statement a line belongs to, indented as that line
is written (tabs stay tabs), on real imported modules."""

from __future__ import annotations

import ast

import pytest

from otrace_server.shell import editor
from tests.support.modules import imported

TABBED = (
    "async def handle(request):\n"
    '\t"""Tab-indented, as some code is."""\n'
    "\ttotal = (len(request) +\n"
    "\t         1)\n"
    "\tif total:\n"
    "\t\treturn total\n"
    "\treturn 0\n"
)


@pytest.fixture
def tabbed(tmp_path):
    with imported(tmp_path / "tabbed_mod.py", "tabbed_mod", TABBED) as module:
        yield module, TABBED.splitlines(keepends=True)


@pytest.mark.parametrize("cursor, before", [
    (0, 2),   # the def line: past the docstring, which stays the docstring
    (1, 2),   # the docstring
    (3, 2),   # a continuation line: before its statement, not inside the parentheses
    (5, 5),   # a nested block's line keeps its deeper indentation
])
def test_hold_source_on_tabs_compiles_and_goes_before_the_statement(tabbed, cursor, before):
    module, lines = tabbed
    source, at, line_map = editor.hold_source(module.handle, lines, cursor, "t")
    assert at == before
    tree = ast.parse(source)                     # was a TabError: the hold was indented with spaces
    func = tree.body[0]
    assert ast.get_docstring(func) == "Tab-indented, as some code is."
    held = [n for n in ast.walk(tree) if isinstance(n, ast.Await)]
    assert len(held) == 1 and line_map[held[0].lineno - 1] == before + 1


def test_insert_traceassert_edit_uses_the_lines_own_indentation(tabbed):
    _, lines = tabbed
    title, edits = editor.insert_traceassert_edits(lines, 3)
    assert title == "Insert traceassert hold here"
    assert edits[-1]["newText"] == '\tawait traceassert(True, label="handle_3", action="hold")\n'
    assert edits[-1]["range"]["start"]["line"] == 2


def test_statement_start_of_code_that_does_not_parse_falls_back_to_indentation():
    lines = ["def f(:\n", "    x = 1\n"]
    assert editor.statement_start(lines, 1) is None
    title, edits = editor.insert_traceassert_edits(lines, 1)
    assert edits[-1]["newText"].startswith("    traceassert(")
