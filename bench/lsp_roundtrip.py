#!/usr/bin/env python3
"""Round-trip latency of the embedded language server: p50/p99 of N ``otrace/command`` (``pwd``)
requests over TCP, idle and while the app serves HTTP load from a separate process (bounded:
a fixed number of concurrent keep-alive clients on loopback).

    .venv/bin/python bench/lsp_roundtrip.py [-n 1000] [--load-clients 4]

Goals (docs/performance.md): p50 < 1 ms, p99 < 5 ms idle.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lsp.rpc import Client  # noqa: E402

LOAD = r"""
import http.client, sys, threading, time
port, clients, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
count = [0]
def run():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        conn.request("GET", "/?number=4"); conn.getresponse().read(); count[0] += 1
threads = [threading.Thread(target=run) for _ in range(clients)]
[t.start() for t in threads]; [t.join() for t in threads]
print(count[0] / seconds, flush=True)
"""


def measure(client: Client, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.request("otrace/command", {"line": "pwd"})
        times.append((time.perf_counter() - t0) * 1000)
    return times


def summary(times: list[float]) -> str:
    q = statistics.quantiles(times, n=100)
    return f"p50 {statistics.median(times):.3f} ms  p99 {q[98]:.3f} ms  max {max(times):.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--load-clients", type=int, default=4)
    args = parser.parse_args()
    xdg = tempfile.mkdtemp()
    env = dict(os.environ, XDG_RUNTIME_DIR=xdg, PYTHONPATH=str(ROOT))
    demo = subprocess.Popen([sys.executable, str(ROOT / "demos" / "torna_trace.py"), "--port", "0",
                             "--no-console", "--exit-on-stdin-eof"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        http = lsp = None
        while lsp is None:
            line = demo.stdout.readline()
            if line.startswith("Listening on"):
                http = int(line.rsplit(":", 1)[1])
            elif line.startswith("otrace language server"):
                lsp = int(line.split(":")[1].split()[0])
        token = json.loads((Path(xdg) / "otrace" / f"otrace-{demo.pid}.json").read_text())["token"]
        client = Client(lsp)
        client.initialize(token, name="bench")
        measure(client, 100)  # warm up
        idle = measure(client, args.n)
        print(f"idle      ({args.n} x otrace/command pwd): {summary(idle)}")
        seconds = max(3.0, args.n * 0.004)
        load = subprocess.Popen([sys.executable, "-c", LOAD, str(http), str(args.load_clients), str(seconds)],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        busy = measure(client, args.n)
        rps = float(load.communicate(timeout=seconds + 30)[0])
        print(f"app load  ({args.n} x otrace/command pwd, {args.load_clients} HTTP clients, {rps:.0f} req/s): "
              f"{summary(busy)}")
        client.close()
    finally:
        demo.stdin.close()
        demo.wait(10)


if __name__ == "__main__":
    main()
