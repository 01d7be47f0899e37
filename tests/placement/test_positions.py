"""``placement.positions``: a position in patched code is reported at the document line its patch's
line map names, still after the patch is undone (held requests may run that code), but not once
the name is patched again without a map; a patch from a whole new source is matched to the
original function's lines in its file."""

from __future__ import annotations

import os

import pytest

from otrace_server import placement
from otrace_server.core.engine import Engine
from tests.support.modules import imported

SOURCE = (
    "async def handle(request):\n"
    "    total = len(request)\n"
    "    return total\n"
)


@pytest.fixture
def module(tmp_path):
    with imported(tmp_path / "positions_mod.py", "positions_mod", SOURCE) as mod:
        yield mod


def hold_live(engine, module, line):
    """Patch ``handle`` with a hold before 0-based ``line``, as "Hold here live" does."""
    lines = SOURCE.splitlines(keepends=True)
    source, _, line_map = placement.hold_source(module.handle, lines, line, "t")
    return engine.patcher.patch("handle", source, module.__dict__,
                                line_map=placement.patch_lines(module.__file__, line_map))


def test_positions_in_patched_code_map_to_the_document(module):
    engine = Engine()
    patch = hold_live(engine, module, 2)
    real = os.path.realpath(module.__file__)
    assert patch.line_map.path == real
    assert placement.source_position(engine.patcher, patch.filename, 1) == (real, 1)    # def line
    assert placement.source_position(engine.patcher, patch.filename, 3) == (real, 3)    # the hold: before line 3
    assert placement.source_position(engine.patcher, patch.filename, 4) == (real, 3)
    assert placement.source_position(engine.patcher, patch.filename, 99) == (real, 99)  # past the map
    assert placement.source_position(engine.patcher, "other.py", 7) == ("other.py", 7)


def test_a_map_outlives_its_unpatch_until_the_name_is_patched_again(module):
    engine = Engine()
    patch = hold_live(engine, module, 2)
    real = os.path.realpath(module.__file__)
    engine.patcher.unpatch("handle")
    assert placement.source_position(engine.patcher, patch.filename, 4) == (real, 3)
    again = hold_live(engine, module, 1)            # a new map replaces the old one
    assert placement.source_position(engine.patcher, again.filename, 3) == (real, 2)
    engine.patcher.unpatch("handle")
    engine.patcher.patch("handle", "async def handle(request):\n    return 0\n", module.__dict__)
    # a whole new source (edit): its lines are matched to the original's: "return 0" replaced line 2
    assert placement.source_position(engine.patcher, patch.filename, 2) == (real, 2)
    engine.patcher.unpatch("handle")                # undone without a map: positions stay as they are
    assert placement.source_position(engine.patcher, patch.filename, 2) == (patch.filename, 2)


def test_an_edited_function_reports_its_lines_in_its_file(module):
    engine = Engine()
    real = os.path.realpath(module.__file__)
    edited = ("async def handle(request):\n"
              "    print('added')\n"                # added: reported at the line it follows
              "    total = len(request)\n"          # unchanged: its own line
              "    return total + 1\n")             # changed: the line it replaced
    patch = engine.patcher.patch("handle", edited, module.__dict__)
    assert patch.line_map is None
    assert [placement.source_position(engine.patcher, patch.filename, n) for n in (1, 2, 3, 4)] == \
        [(real, 1), (real, 1), (real, 2), (real, 3)]


def test_an_edited_methods_dedented_source_matches_its_indented_lines():
    old = ["    def respond(self, n):\n", "        x = 1\n", "        return x\n"]
    new = ["def respond(self, n):\n", "    raise ValueError('added')\n", "    x = 1\n", "    return x + 1\n"]
    assert placement.nearest(old, new) == [1, 1, 2, 3]     # def; added: follows it; same; replaced
