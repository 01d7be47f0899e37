"""dap.breakpoints in process, with a real engine and a real module loaded from a file: what a
breakpoint does, why it cannot be set (file changed since loading), hit conditions, logpoint
interpolation, snapshots, unpatching."""

from __future__ import annotations

import os

import pytest

from otrace_server import placement
from otrace_server.core.engine import Engine
from otrace_server.core.errors import OTraceError
from otrace_server.dap.breakpoints import Breakpoints, hit_matches, interpolate
from tests.support.modules import imported

SOURCE = '''\
def total(items):
    result = 0
    for item in items:
        result += item
    return result
'''


@pytest.fixture
def module(tmp_path):
    with imported(tmp_path / "bp_sample.py", "bp_sample", SOURCE) as mod:
        yield mod


def test_snapshot_records_and_removal_unpatches(module):
    engine = Engine()
    bps = Breakpoints(engine)
    original, code = module.total, module.total.__code__
    [result] = bps.set("me", module.__file__, [{"line": 4}])
    assert result["verified"] and result["message"].startswith("snapshot at line 4")
    assert module.total.__code__ is not code and module.total([1, 2]) == 3   # patched in place; it does not stop
    snaps = engine.store.recent("traces")
    assert [c.label for c in snaps] == ["snapshot_total_4", "snapshot_total_4"]
    assert snaps[-1].locals["item"] == 2 and snaps[-1].file == module.__file__ and snaps[-1].line == 4
    assert bps.set("me", module.__file__, []) == []
    assert module.total is original and original.__code__ is code and engine.patcher.patches() == []


def test_file_changed_since_loading_is_refused(module, tmp_path):
    engine = Engine()
    (tmp_path / "bp_sample.py").write_text(SOURCE.replace("result += item", "result += item * 2"))
    [result] = Breakpoints(engine).set("me", module.__file__, [{"line": 4}])
    assert not result["verified"] and "file changed since the code was loaded" in result["message"]
    assert engine.patcher.patches() == []


def test_logpoint_with_condition_and_hit_count(module):
    engine = Engine()
    lines = []
    bps = Breakpoints(engine, output=lines.append)
    [result] = bps.set("me", module.__file__, [{"line": 4, "logMessage": "item={item} sum={result}",
                                                "condition": "item > 1", "hitCondition": "%2"}])
    assert result["verified"] and "logpoint" in result["message"]
    assert module.total([1, 2, 3, 4, 5]) == 15
    assert lines == ["item=3 sum=3\n", "item=5 sum=10\n"]      # hits 2 and 4 of the items > 1
    bps.clear("me")
    assert engine.patcher.patches() == []


def test_someone_elses_patch_is_left_alone(module):
    engine = Engine()
    engine.patcher.patch("total", "def total(items):\n    return -1\n", namespace=vars(module))
    [result] = Breakpoints(engine).set("me", module.__file__, [{"line": 2}])
    assert not result["verified"] and "patched already" in result["message"]
    assert module.total([1]) == -1


def test_hit_conditions_and_interpolation():
    assert hit_matches("3", 3) and not hit_matches("3", 4)
    assert hit_matches(">=2", 2) and hit_matches("%3", 6) and not hit_matches("%3", 7)
    with pytest.raises(OTraceError):
        hit_matches("often", 1)
    assert interpolate("{a + 1} {{x}} {nope}", {}, {"a": 1}) == "2 {x} <NameError: name 'nope' is not defined>"
    # a value with terminal escapes reaches the debug console escaped (core.reprs.visible)
    assert interpolate("user={name}", {}, {"name": "\x1b[2J\u202eevil"}) == "user=\\x1b[2J\\u202eevil"


def test_patched_positions_map_to_the_file_until_patched_again(module):
    """The patch's line map (read by placement.source_position): a position in breakpoint-patched code maps to the file
    line, still after removal (held requests may run the old code), but not once the name is
    patched again (a whole-source patch's lines are then matched to the original's)."""
    engine = Engine()
    bps = Breakpoints(engine)
    bps.set("me", module.__file__, [{"line": 4}])
    [patch] = engine.patcher.patches()
    patched = patch.source.splitlines()
    inserted = next(i + 1 for i, text in enumerate(patched) if "reached(" in text)
    addition = next(i + 1 for i, text in enumerate(patched) if "result += item" in text)
    assert placement.source_position(engine.patcher, patch.filename, inserted) == (module.__file__, 4)
    assert placement.source_position(engine.patcher, patch.filename, addition) == (module.__file__, 4)
    assert placement.source_position(engine.patcher, patch.filename, addition + 1) == (module.__file__, 5)
    assert placement.source_position(engine.patcher, "other.py", 7) == ("other.py", 7)
    bps.set("me", module.__file__, [])
    assert placement.source_position(engine.patcher, patch.filename, addition) == (module.__file__, 4)
    engine.patcher.patch("total", "def total(items):\n    return -1\n", namespace=module.__dict__)
    # patched again from a whole source: the old map is gone, its lines are matched to the original's
    assert placement.source_position(engine.patcher, patch.filename, 2) == (os.path.realpath(module.__file__), 2)
    engine.patcher.unpatch("total")
    assert placement.source_position(engine.patcher, patch.filename, 2) == (patch.filename, 2)
