"""The sys.monitoring backend (Python 3.12+): an exceptions-only trace against a BARE call.

    .venv-3.13/bin/python bench/monitoring.py      # ~10-20 s; prints a table and the goals
    .venv/bin/python bench/monitoring.py           # Python 3.11: says the path is not available,
                                                   # then runs itself under .venv-3.13 / .venv-3.12

On 3.12+ an exceptions-only trace watches the function's code object (core.monitoring): nothing
of the function changes, so its calls cost a bare call. The baseline is a twin of the traced
function compiled from the same source (its own code object: no watch sees it), timed back to
back with it in alternating rounds on the thread's CPU time (bench/overhead.py's ``paired``).
Also shown (not judged): the same trace served by a wrapper (as on 3.11), what an exception costs
while something is watched (PY_UNWIND is a global event on 3.12/3.13: every frame an exception
leaves runs the callback), and the PY_START callback that argument conditions would need, against
the wrapper that serves them (why they stay wrappers).

On Python 3.11 (no sys.monitoring) exceptions-only traces are wrappers, judged by bench/overhead.py
("exceptions-only traced vs pass-through"); this bench says so and, when scripts/newer-pythons.sh
made a venv of a newer interpreter (.venv-3.13, .venv-3.12), runs itself there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.goals import Goal, add_json_argument, report  # noqa: E402
from bench.overhead import paired, per_call_ns  # noqa: E402
from otrace_server.core import monitoring  # noqa: E402
from otrace_server.core.engine import Engine  # noqa: E402

SOURCE = '''
def target(a, b=2):
    return a

def raiser(a):
    raise ValueError(a)

def catcher(a):
    try:
        raiser(a)
    except ValueError:
        return a
'''


def fresh() -> dict:
    """A namespace of SOURCE's functions, with code objects of their own."""
    ns = {"__name__": "bench_monitoring_target"}
    exec(compile(SOURCE, "<bench monitoring>", "exec"), ns)
    return ns


def events_enabled() -> int:
    """Events any tool id of otrace's has enabled globally (0: none)."""
    return sum(sys.monitoring.get_events(tool) for tool in monitoring.TOOL_IDS)


def measure(quick: bool) -> list[Goal]:
    n = 20_000 if quick else 100_000
    loop = per_call_ns("pass", {}, n)
    engine = Engine()
    bare, traced, wrapped = fresh(), fresh(), fresh()
    code = traced["target"].__code__
    engine.tracer.trace("target", traced)
    untouched = traced["target"].__code__ is code and monitoring.watched(code)
    env = {"bare": bare["target"], "traced": traced["target"], "wrapped": wrapped["target"],
           "catch_bare": bare["catcher"]}
    bare_ns, exc_ns, exc_ratio = paired("bare(1)", "traced(1)", env, n, loop)

    # the same trace by a wrapper, as on 3.11 (for comparison)
    monitoring.AVAILABLE = False
    try:
        engine.tracer.trace("target", wrapped)
    finally:
        monitoring.AVAILABLE = True
    _, wrapper_ns, wrapper_ratio = paired("bare(1)", "wrapped(1)", env, n, loop)
    engine.tracer.untrace("target", wrapped)

    # an exception raised and caught in untraced code, while something is watched vs nothing
    _, raise_watched, _ = paired("catch_bare(1)", "catch_bare(1)", env, n // 4, loop)
    engine.tracer.untrace("target", traced)
    no_events = events_enabled() == 0 and monitoring.tool_id() is None and traced["target"].__code__ is code
    raise_alone = per_call_ns("catch_bare(1)", env, n // 4) - loop
    raise_ratio = raise_watched / raise_alone

    # argument conditions: the wrapper that serves them vs a bare PY_START callback reading one argument
    engine.tracer.trace("target", wrapped, condition="a==77")
    cond_env = {**env, "watched": fresh()["target"]}
    start_ns = _py_start_callback_ns(cond_env, n, loop)
    _, cond_wrapper_ns, _ = paired("bare(1)", "wrapped(1)", env, n, loop)
    engine.tracer.untrace_all()

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; empty timeit loop ({loop:.1f} ns) subtracted; "
          f"timer: thread CPU time")
    print()
    print("| case | ns/call | vs bare call |")
    print("|---|---:|---:|")
    print(f"| bare call (a twin with its own code object) | {bare_ns:.0f} | 1.00x |")
    print(f"| traced, exceptions only (sys.monitoring: code object watched) | {exc_ns:.0f} | {exc_ratio:.2f}x |")
    print(f"| traced, exceptions only by a wrapper (as on 3.11) | {wrapper_ns:.0f} | {wrapper_ratio:.2f}x |")
    print(f"| argument condition a==77, no match: wrapper (what serves it) | {cond_wrapper_ns:.0f} | "
          f"{cond_wrapper_ns / bare_ns:.2f}x |")
    print(f"| argument condition a==77, no match: a PY_START callback instead | {start_ns:.0f} | "
          f"{start_ns / bare_ns:.2f}x |")
    print()
    print(f"An exception raised and caught in untraced code: {raise_alone:.0f} ns with nothing watched, "
          f"{raise_watched:.0f} ns while a function is watched ({raise_ratio:.2f}x: one PY_UNWIND callback "
          f"per frame the exception leaves)")
    print()
    return [
        Goal("monitoring.exceptions_only", f"exceptions-only traced (sys.monitoring, Python "
             f"{sys.version_info[0]}.{sys.version_info[1]}) vs BARE call", exc_ratio, "<=", 1.1,
             note=f"bare {bare_ns:.0f} ns; by a wrapper {wrapper_ratio:.2f}x"),
        Goal("monitoring.untouched", "watched function untouched; after untrace no event enabled, tool id freed",
             float(untouched and no_events), "==", 1.0, unit="bool"),
    ]


def _py_start_callback_ns(env: dict, n: int, loop: float) -> float:
    """ns per call of a function watched by a minimal PY_START callback testing ``a == 77``."""
    mon = sys.monitoring
    code = env["watched"].__code__
    tool = next(t for t in (5, 4, 3) if mon.get_tool(t) is None)

    def on_start(c, offset):
        if c is code:
            try:
                if sys._getframe(1).f_locals["a"] == 77:
                    pass
            except Exception:
                pass

    mon.use_tool_id(tool, "bench")
    try:
        mon.register_callback(tool, mon.events.PY_START, on_start)
        mon.set_local_events(tool, code, mon.events.PY_START)
        _, value, _ = paired("bare(1)", "watched(1)", env, n, loop)
        mon.set_local_events(tool, code, 0)
        mon.register_callback(tool, mon.events.PY_START, None)
    finally:
        mon.free_tool_id(tool)
    return value


def elsewhere(argv: list[str]) -> int | None:
    """On 3.11: run this bench under the newest venv of scripts/newer-pythons.sh (its exit status),
    or None when there is none."""
    for minor in ("3.13", "3.12"):
        python = os.path.join(ROOT, f".venv-{minor}", "bin", "python")
        if os.access(python, os.X_OK):
            print(f"running under Python {minor} ({python})", flush=True)
            return subprocess.run([python, os.path.abspath(__file__), *argv], cwd=ROOT).returncode
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls per round (a smoke run)")
    add_json_argument(parser)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if monitoring.AVAILABLE:
        return report(measure(args.quick), args.json)
    print(f"Python {sys.version.split()[0]}: the sys.monitoring path is not available (3.12+); exceptions-only "
          "traces are wrappers here, judged by bench/overhead.py (exceptions-only traced vs pass-through)")
    status = elsewhere(argv)
    if status is not None:
        return status
    print("no .venv-3.13 or .venv-3.12 (scripts/newer-pythons.sh makes them): the 3.12+ goal is not measured")
    return report([Goal("monitoring.exceptions_only", "exceptions-only traced (sys.monitoring, Python 3.12+) vs "
                        "BARE call: no newer Python here", 0.0, "==", 1.0, unit="bool")], args.json)


if __name__ == "__main__":
    sys.exit(main())
