"""Every bench, each run several times, every goal judged on the median of its runs: ``make bench``.

    .venv/bin/python bench/suite.py                 # all benches, 3 runs each, one table at the end
    .venv/bin/python bench/suite.py --runs 5 overhead holds
    .venv/bin/python bench/suite.py --quick         # smoke run: benches that take --quick get it, 1 run

Each bench is a separate process per run (``bench/<name>.py --json FILE`` plus its arguments below),
run one after the other, never in parallel: they measure the machine. A bench reports its goals
through ``bench/goals.py``; a goal's figure in the table is the median of its runs, printed with its
noise band (lowest and highest run), and the goal is met when the median meets it. The machine's load
average is printed at the start and end of the suite: figures from a busy machine say so.
The table is also written as JSON (``--json FILE``, default ``artifacts/bench/latest.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.goals import Goal, format_figure, load  # noqa: E402


@dataclass
class Bench:
    """A bench script of ``bench/`` and the arguments the suite runs it with."""

    name: str
    args: list[str] = field(default_factory=list)
    quick_args: list[str] = field(default_factory=lambda: ["--quick"])


# Every bench that judges goals; `make bench` runs them in this order.
BENCHES = [
    Bench("overhead", quick_args=[]),
    Bench("holds"),
    Bench("web_eval"),
    Bench("login_flood"),
    Bench("handler_record"),
    Bench("monitoring"),
    Bench("control_latency"),
    Bench("fleet"),
]


@dataclass
class Row:
    """One goal over several runs."""

    goal: Goal                      # the first run's (text, limit, unit)
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def met(self) -> bool:
        return Goal(**{**self.goal.__dict__, "value": self.median}).met

    def band(self) -> str:
        if len(self.values) < 2:
            return "(1 run)"
        low, high = min(self.values), max(self.values)
        return f"{format_figure(low, self.goal.unit)} .. {format_figure(high, self.goal.unit)}"


def run_bench(bench: Bench, runs: int, quick: bool) -> tuple[list[list[Goal]], list[str]]:
    """Run ``bench`` ``runs`` times; its goals per run, and the failures (a run that wrote no goals)."""
    per_run, failures = [], []
    script = ROOT / "bench" / f"{bench.name}.py"
    for index in range(runs):
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out = tmp.name
        command = [sys.executable, str(script), *bench.args, *(bench.quick_args if quick else []), "--json", out]
        print(f"--- {bench.name}, run {index + 1} of {runs}: {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        status = subprocess.run(command, cwd=ROOT, stdin=subprocess.DEVNULL).returncode
        try:
            goals = load(out) if os.path.getsize(out) else []
        except (OSError, ValueError, KeyError, TypeError) as error:
            goals = []
            failures.append(f"{bench.name} run {index + 1}: unreadable goals ({error})")
        finally:
            os.unlink(out)
        print(f"--- {bench.name}, run {index + 1}: exit {status}, {time.monotonic() - started:.0f} s", flush=True)
        if not goals:
            failures.append(f"{bench.name} run {index + 1}: exit {status}, no goals written")
        per_run.append(goals)
    return per_run, failures


def combine(per_run: list[list[Goal]]) -> list[Row]:
    """One row per goal key, in the order the benches reported them."""
    rows: dict[str, Row] = {}
    for goals in per_run:
        for goal in goals:
            if goal.key in rows:
                rows[goal.key].values.append(goal.value)
            else:
                rows[goal.key] = Row(goal, [goal.value])
    return list(rows.values())


def table(rows: list[Row], runs: int) -> str:
    """The suite's table (Markdown): goal, limit, median, noise band, met."""
    lines = [f"| goal | limit | median of {runs} | band (low .. high) | met |", "|---|---:|---:|---|---|"]
    for row in rows:
        goal = row.goal
        lines.append(f"| {goal.text} | {goal.op} {format_figure(goal.limit, goal.unit)} | "
                     f"{format_figure(row.median, goal.unit)} | {row.band()} | {'yes' if row.met else '**NO**'} |")
    return "\n".join(lines)


def load_average() -> str:
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benches to run (default all: {', '.join(b.name for b in BENCHES)})")
    parser.add_argument("--runs", type=int, default=3, help="runs of each bench (default 3; --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="smoke run: short benches, one run each")
    parser.add_argument("--json", default=str(ROOT / "artifacts" / "bench" / "latest.json"),
                        help="where to write the table as JSON")
    args = parser.parse_args(argv)
    known = {bench.name: bench for bench in BENCHES}
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)} (known: {', '.join(known)})")
    chosen = [known[name] for name in args.names] or BENCHES
    runs = 1 if args.quick and args.runs == 3 else args.runs
    print(f"bench suite: {', '.join(b.name for b in chosen)}; {runs} run(s) each; Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs; load average {load_average()}", flush=True)
    rows, failures = [], []
    for bench in chosen:
        per_run, failed = run_bench(bench, runs, args.quick)
        rows += combine(per_run)
        failures += failed
    print()
    print(table(rows, runs))
    print()
    print(f"load average at the end: {load_average()}")
    for failure in failures:
        print(f"ERROR  {failure}")
    missed = [row for row in rows if not row.met]
    print(f"{len(rows) - len(missed)} of {len(rows)} goals met (median of {runs})"
          + (f"; not met: {', '.join(row.goal.key for row in missed)}" if missed else ""))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "runs": runs, "python": sys.version.split()[0],
        "rows": [{**row.goal.__dict__, "value": row.median, "values": row.values, "met": row.met} for row in rows],
        "failures": failures}, indent=1))
    return 0 if not missed and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
