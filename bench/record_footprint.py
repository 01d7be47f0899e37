"""What one recorded call touches when it runs cold, counted by cachegrind (no goal: a tool).

    .venv/bin/python bench/record_footprint.py            # ~1 min; needs valgrind
    .venv/bin/python bench/record_footprint.py --top 12   # and the functions that cost most

Why: at real call rates (bench/handler_record.py's paced case, 200 requests/s) a recording runs
with the caches cold, and what it costs then depends on how many cache lines it touches, not on
its instruction count alone; on a shared machine the timed figure moves by more than the effect.
cachegrind's simulated caches do not move: each call here follows a 16 MB write (a memset that
evicts the simulated first-level data cache), and the figures are per call, the difference of a
traced method and its untraced twin (same code), each the difference of a run of N2 and one of N1
calls (which takes start-up and the first calls' costs out). Per recorded call: instructions
(Ir), first-level instruction-cache misses (I1mr: code lines fetched again) and data misses
(D1mr + D1mw: data lines read or written cold). The C recorder (core/quickrecord.py) is what
runs when the accelerator is built; the bench says which path it measured.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: the measured program: argv = kind ("traced" / "twin"), calls
PROGRAM = '''
import sys
sys.path.insert(0, {root!r})
import otrace_server
from otrace_server.core import quickrecord

class Handler:
    def get(self, x):
        return x + 1

class Twin:
    def get(self, x):
        return x + 1

app = otrace_server.start({{"Handler": Handler}}, console=False, lsp=False, dap_port=None, trace_active=True)
app.shell.session("bench").execute("trace -c call Handler.get")
kind, calls = sys.argv[1], int(sys.argv[2])
obj = Handler() if kind == "traced" else Twin()
big, zero = bytearray(16 << 20), bytes(16 << 20)

def deep(n):                      # a few frames under the call, as a handler has
    if n:
        return deep(n - 1)
    for i in range(calls):
        big[:] = zero             # the first-level data cache is cold again
        obj.get(i)

deep(8)
print("C recorder" if quickrecord._recorder is not None else "Python path (the accelerator is not built)")
app.stop()
'''

EVENTS = ("Ir", "I1mr", "D1mr", "D1mw")


def run(kind: str, calls: int, workdir: str) -> tuple[dict[tuple[str, str], list[int]], list[str], str]:
    """cachegrind's counts per (file, function) of one run, the event names, and what it printed."""
    script = os.path.join(workdir, "program.py")
    with open(script, "w") as f:
        f.write(PROGRAM.format(root=ROOT))
    out = os.path.join(workdir, f"cg.{kind}.{calls}")
    done = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=yes", f"--cachegrind-out-file={out}",
                           sys.executable, script, kind, str(calls)],
                          env=dict(os.environ, PYTHONHASHSEED="0"), capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f"record_footprint: the run under valgrind failed:\n{done.stderr[-2000:]}")
    return *parse(out), done.stdout.strip()


def parse(path: str) -> tuple[dict[tuple[str, str], list[int]], list[str]]:
    """A cachegrind out file: counts summed per (file, function)."""
    totals: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0] * 16)
    events: list[str] = []
    fl = fn = ""
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("fl="):
                fl = line[3:].strip()
            elif line.startswith("fn="):
                fn = line[3:].strip()
            elif line[:1].isdigit():
                counts = totals[(os.path.basename(fl), fn)]
                for i, value in enumerate(line.split()[1:]):
                    counts[i] += int(value)
    return totals, events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs=2, default=(20, 120), metavar=("N1", "N2"),
                        help="calls of the two runs whose difference is taken (default 20 120)")
    parser.add_argument("--top", type=int, default=0, help="also list the N functions that cost most")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("record_footprint: needs valgrind (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    n1, n2 = args.calls
    with tempfile.TemporaryDirectory() as tmp:
        runs = {(kind, n): run(kind, n, tmp) for kind in ("traced", "twin") for n in (n1, n2)}
    events = runs[("traced", n1)][1]
    index = {e: events.index(e) for e in EVENTS}
    print(runs[("traced", n1)][2])
    per_call: dict[tuple[str, str], list[float]] = {}
    for key in set().union(*(r[0] for r in runs.values())):
        def count(kind: str, n: int) -> list[int]:
            return runs[(kind, n)][0].get(key, [0] * 16)
        per_call[key] = [((count("traced", n2)[i] - count("traced", n1)[i])
                          - (count("twin", n2)[i] - count("twin", n1)[i])) / (n2 - n1) for i in range(len(events))]
    total = [sum(v[index[e]] for v in per_call.values()) for e in EVENTS]
    print(f"one recorded call, cold, over its untraced twin ({n2 - n1} calls):")
    print(f"  instructions {total[0]:,.0f}; instruction lines fetched again {total[1]:,.0f}; "
          f"data lines missed {total[2] + total[3]:,.0f} (read {total[2]:,.0f}, written {total[3]:,.0f})")
    if args.top:
        print(f"  {'Ir':>8} {'I1mr':>6} {'D1mr':>6} {'D1mw':>6}  function")
        for key, v in sorted(per_call.items(), key=lambda kv: -(kv[1][index['I1mr']] + kv[1][index['D1mr']]
                                                                 + kv[1][index['D1mw']]))[:args.top]:
            print(f"  {v[index['Ir']]:8.0f} {v[index['I1mr']]:6.1f} {v[index['D1mr']]:6.1f} {v[index['D1mw']]:6.1f}"
                  f"  {key[0]}:{key[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
