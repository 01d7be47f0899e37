"""dap.breakpoints: gutter breakpoints on lines that start no statement (in process, real engine, a real
module loaded from a file): a breakpoint inside a docstring, on the def line, on ``except:``/
``else:``/``finally:``/``elif`` clauses, on a continuation line or a comment moves to the next
statement, says so in ``line``, and fires there; the function keeps its docstring."""

from __future__ import annotations

import pytest

from otrace_server.core.engine import Engine
from otrace_server.dap.breakpoints import Breakpoints
from tests.support.modules import imported

SOURCE = '''\
import functools


def work(items, flag=False):
    """Sum the items.

    A docstring over several lines.
    """
    total = 0
    try:
        for item in items:
            total += item
    except TypeError:
        total = -1
    else:
        total += 0
    finally:
        pass
    if flag:
        total = (total +
                 1)
    elif total:
        total *= 1
    # a comment
    return total


class Box:
    @functools.lru_cache(maxsize=None)
    def get(self):
        return 5
'''


@pytest.fixture
def module(tmp_path):
    with imported(tmp_path / "qa_placement.py", "qa_placement", SOURCE) as mod:
        yield mod


def line(text: str) -> int:
    return next(i + 1 for i, t in enumerate(SOURCE.splitlines()) if text in t)


# requested line -> the statement it moves to (DAP: the result's ``line``)
MOVES = {
    line("def work"): line("total = 0"),                 # the def line: past the docstring
    line('"""Sum the items.'): line("total = 0"),        # inside the docstring: not code
    line("A docstring over"): line("total = 0"),
    line("except TypeError"): line("total = -1"),        # clauses start no statement
    line("else:"): line("total += 0"),
    line("finally:"): line("pass"),
    line("1)"): line("total *= 1"),                      # a continuation line; then an elif
    line("elif total"): line("total *= 1"),
    line("# a comment"): line("return total"),
    line("for item in items"): line("for item in items"),
}


def test_breakpoints_on_lines_without_a_statement_move_to_the_next_one_and_fire(module):
    engine = Engine()
    bps = Breakpoints(engine)
    original_doc = module.work.__doc__
    for asked, expected in MOVES.items():
        [result] = bps.set("me", module.__file__, [{"line": asked}])
        assert result["verified"], (asked, result["message"])
        assert result["line"] == expected, (asked, result)
        assert result["message"].startswith(f"snapshot at line {expected}")
        assert module.work.__doc__ == original_doc            # the docstring is still the docstring
        before = len(engine.store.recent("traces"))
        assert module.work([1, 2], flag=False) == 3           # the patched code computes the same
        label = f"snapshot_work_{expected}"
        fired = [c for c in engine.store.recent("traces") if c.label == label]
        if expected not in (line("total = -1"), line("total = (total +")):   # reached by this call
            assert fired and fired[-1].line == expected, (asked, label, before)
        assert bps.set("me", module.__file__, []) == []
    assert engine.patcher.patches() == []


def test_lines_outside_running_code_say_why(module):
    engine = Engine()
    bps = Breakpoints(engine)
    cached, klass, after = bps.set("me", module.__file__, [{"line": line("@functools.lru_cache")},
                                                           {"line": line("class Box")},
                                                           {"line": line("return total") + 1}])
    assert not cached["verified"] and "Box.get is a _lru_cache_wrapper, not a Python function" in cached["message"]
    assert not klass["verified"] and "not in running code" in klass["message"]
    assert not after["verified"] and "not in running code" in after["message"]
    assert engine.patcher.patches() == []


def test_hit_count_survives_adding_another_breakpoint_in_the_file(module):
    """VS Code re-sends every breakpoint of a file when one is added: an unchanged breakpoint keeps
    counting (a 'hit count 3' must not start again from 0); a changed one starts again."""
    engine = Engine()
    lines = []
    bps = Breakpoints(engine, output=lines.append)
    log = {"line": line("total += item"), "logMessage": "hit {item}", "hitCondition": "3"}
    bps.set("me", module.__file__, [log])
    module.work([1, 2])                                               # hits 1 and 2
    bps.set("me", module.__file__, [log, {"line": line("return total"), "logMessage": "end"}])
    module.work([7, 8])                                               # hit 3 logs, 4 does not
    assert lines == ["hit 7\n", "end\n"]
    bps.set("me", module.__file__, [dict(log, hitCondition="1")])    # changed: counts from 0
    module.work([9])
    assert lines[-1] == "hit 9\n"
    bps.clear("me")
    assert engine.patcher.patches() == []
