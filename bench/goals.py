"""The one way a bench reports the goals it judges, so that ``bench/suite.py`` (``make bench``) can
run every bench several times and judge each goal on the median of the runs.

A bench builds a list of :class:`Goal` and ends with ``return report(goals, args.json)``:

    parser = argparse.ArgumentParser(...)
    add_json_argument(parser)
    ...
    goals = [Goal("overhead.exceptions_only", "exceptions-only traced vs pass-through",
                  exc_ratio, "<=", 1.1, unit="x")]
    return report(goals, args.json)

``report`` prints one ``PASS``/``FAIL`` line per goal (as the benches always did), writes the goals
as JSON when asked (``--json FILE``), and returns the exit status (1 when a goal is not met).
A goal whose value is a ratio names its baseline in ``text`` ("vs bare Tornado", "vs pass-through"):
figures are ratios against a baseline measured in the same run wherever the goal allows it.
"""

from __future__ import annotations

import argparse
import json
import operator
from dataclasses import asdict, dataclass

OPERATORS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}


@dataclass
class Goal:
    """One goal of a bench: ``value op limit`` must hold (e.g. ``1.04 <= 1.1``).

    ``key`` is stable across runs (``bench.name``; the suite groups runs by it), ``text`` says what
    is measured against what, ``unit`` is printed after the figures (``x`` for ratios, ``ms``,
    ``us``, ``B``...), ``note`` adds context for the table (e.g. the bare baseline's own figure).
    A yes/no goal (identity kept) uses value 1.0 or 0.0 with ``== 1``.
    """

    key: str
    text: str
    value: float
    op: str
    limit: float
    unit: str = "x"
    note: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"unknown goal operator {self.op!r} (one of {', '.join(OPERATORS)})")
        self.value = float(self.value)
        self.limit = float(self.limit)

    @property
    def met(self) -> bool:
        """True when the figure meets the goal."""
        return bool(OPERATORS[self.op](self.value, self.limit))

    def describe(self, value: float | None = None) -> str:
        """``text: figure unit (goal op limit unit)`` for ``value`` (default: this goal's own)."""
        shown = self.value if value is None else value
        return f"{self.text}: {format_figure(shown, self.unit)} (goal {self.op} {format_figure(self.limit, self.unit)})"


def format_figure(value: float, unit: str) -> str:
    """A figure with its unit, to a precision that suits its size."""
    if unit == "bool":
        return "yes" if value else "no"
    digits = 3 if abs(value) < 10 else 1 if abs(value) < 1000 else 0
    text = f"{value:,.{digits}f}"
    return text + ("x" if unit == "x" else f" {unit}" if unit else "")


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--json FILE``: write the goals there as well (what ``bench/suite.py`` reads)."""
    parser.add_argument("--json", metavar="FILE", help="also write the goals as JSON to FILE (for bench/suite.py)")


def report(goals: list[Goal], json_path: str | None = None) -> int:
    """Print one PASS/FAIL line per goal, write them to ``json_path`` if given; 0 if all are met."""
    for goal in goals:
        print(f"{'PASS' if goal.met else 'FAIL'}  {goal.describe()}" + (f"  [{goal.note}]" if goal.note else ""))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as out:
            json.dump({"goals": [asdict(goal) for goal in goals]}, out, indent=1)
    return 0 if all(goal.met for goal in goals) else 1


def load(json_path: str) -> list[Goal]:
    """The goals a bench wrote with ``--json``."""
    with open(json_path, encoding="utf-8") as src:
        return [Goal(**row) for row in json.load(src)["goals"]]
