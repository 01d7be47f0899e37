"""bench/goals.py and bench/suite.py: goals are written and read back, judged on the median of the
runs (not on the best or the last), with their noise band; a bench that writes no goals fails the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import suite  # noqa: E402
from bench.goals import Goal, load, report  # noqa: E402


def test_report_writes_goals_that_load_reads_back(tmp_path, capsys):
    goals = [Goal("b.ratio", "case vs bare", 1.04, "<=", 1.1), Goal("b.ms", "p99", 30.0, "<", 25, unit="ms")]
    status = report(goals, str(tmp_path / "g.json"))
    out = capsys.readouterr().out
    assert status == 1                                   # one goal missed -> the bench exits 1
    assert "PASS  case vs bare: 1.040x (goal <= 1.100x)" in out
    assert "FAIL  p99: 30.0 ms (goal < 25.0 ms)" in out
    assert [(g.key, g.value, g.met) for g in load(str(tmp_path / "g.json"))] == [("b.ratio", 1.04, True),
                                                                              ("b.ms", 30.0, False)]


def test_unknown_operator_is_refused():
    with pytest.raises(ValueError, match="unknown goal operator"):
        Goal("b.x", "x", 1, "=<", 2)


def test_goal_is_judged_on_the_median_of_the_runs():
    runs = [[Goal("b.r", "r", value, "<=", 1.1)] for value in (1.30, 1.05, 1.08)]
    (row,) = suite.combine(runs)
    assert row.values == [1.30, 1.05, 1.08]
    assert row.median == 1.08 and row.met                # one noisy run does not fail the goal...
    (bad,) = suite.combine([[Goal("b.r", "r", value, "<=", 1.1)] for value in (1.30, 1.05, 1.20)])
    assert not bad.met                                   # ...nor does one lucky run pass it
    assert bad.band() == "1.050x .. 1.300x"
    text = suite.table([row, bad], 3)
    assert "| r | <= 1.100x | 1.080x | 1.050x .. 1.300x | yes |" in text
    assert "| r | <= 1.100x | 1.200x | 1.050x .. 1.300x | **NO** |" in text


def test_suite_rejects_unknown_bench_and_fails_when_a_bench_writes_no_goals(tmp_path, monkeypatch):
    unknown = subprocess.run([sys.executable, str(ROOT / "bench" / "suite.py"), "no_such_bench"],
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "unknown bench no_such_bench" in unknown.stderr
    broken = tmp_path / "bench" / "broken.py"
    broken.parent.mkdir()
    broken.write_text("import sys\nprint('crashed before its goals')\nsys.exit(3)\n")
    monkeypatch.setattr(suite, "ROOT", tmp_path)
    per_run, failures = suite.run_bench(suite.Bench("broken", quick_args=[]), 2, quick=False)
    assert per_run == [[], []]
    assert failures == ["broken run 1: exit 3, no goals written", "broken run 2: exit 3, no goals written"]
