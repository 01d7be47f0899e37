"""``placement.inserted``: a running function's source with statements inserted ("Hold here live",
DAP breakpoints), on real imported modules: before the statement a line belongs to, indented as
that line is written (tabs stay tabs), with the line map back to the document."""

from __future__ import annotations

import ast

import pytest

from otrace_server import placement
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
    source, at, line_map = placement.hold_source(module.handle, lines, cursor, "t")
    assert at == before
    tree = ast.parse(source)                     # was a TabError: the hold was indented with spaces
    func = tree.body[0]
    assert ast.get_docstring(func) == "Tab-indented, as some code is."
    held = [n for n in ast.walk(tree) if isinstance(n, ast.Await)]
    assert len(held) == 1 and line_map[held[0].lineno - 1] == before + 1
