#!/usr/bin/env python3
"""Benchmark of the control plane under a flood of clients that never log in (issue 15, "bounded
before login"): the Tornado demo (demos/torna_trace.py) runs as its own process; while hostile
connections to its language-server or DAP port each send a large message body without the token
(and reconnect whenever they are closed), an authenticated client measures its round trips.
Printed against the same app with no attack, measured in the same run:

  rss growth   the app process's peak resident memory during the attack minus before it
  round trip   p50 / p99 of an authenticated client's requests (LSP ``otrace/command pwd``;
               DAP ``threads``), with no attack and during the attack, and their ratio

    .venv/bin/python bench/login_flood.py                 # ~1 minute
    .venv/bin/python bench/login_flood.py --tree OTHER    # the app from another checkout (e.g. an
                                                          # older commit, for a before/after)

Goals (issue 15): 60 hostile connections each sending a large body -> app memory growth < 100 MB
and the authenticated client's round-trip p50 < 50 ms during the attack, on both ports.

Traffic goes to 127.0.0.1 only; every loop is bounded in time and the script stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.goals import Goal, add_json_argument, report  # noqa: E402
from tests.support.framed import FramedClient  # noqa: E402

BODY = 8 * 1024 * 1024          # what each hostile connection announces and sends (8 MiB)
CHUNK = b"x" * 65536


def _rss(pid: int) -> int:
    """Resident memory of ``pid`` in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class App:
    """The demo app as a subprocess with its own discovery directory (``--tree``: its checkout)."""

    def __init__(self, tree: str) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        env = dict(os.environ, XDG_RUNTIME_DIR=self.tmp.name, PYTHONPATH=tree)
        self.proc = subprocess.Popen([sys.executable, os.path.join(tree, "demos", "torna_trace.py"), "--port", "0",
                                      "--no-console", "--exit-on-stdin-eof"], cwd=tree, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        path = os.path.join(self.tmp.name, "otrace", f"otrace-{self.proc.pid}.json")
        deadline = time.monotonic() + 30
        while not os.path.exists(path):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("login_flood: the demo did not start")
            time.sleep(0.05)
        time.sleep(0.2)
        self.info = json.load(open(path))

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.tmp.cleanup()


class Rpc(FramedClient):
    """An authenticated client of one port: ``roundtrip()`` times one request."""

    def __init__(self, port: int, token: str, dap: bool) -> None:
        super().__init__(port)
        self.dap = dap
        self.seq = 0
        self.answers: dict = {}
        if dap:
            self.call({"type": "request", "command": "initialize", "arguments": {"adapterID": "otrace"}})
            self.call({"type": "request", "command": "attach", "arguments": {"token": token}})
        else:
            self.call({"jsonrpc": "2.0", "method": "initialize",
                       "params": {"capabilities": {}, "initializationOptions": {"token": token}}})

    def _received(self, message: dict) -> None:
        key = message.get("request_seq") if self.dap else message.get("id")
        if key is not None:
            self.answers[key] = message

    def call(self, message: dict, timeout: float = 30.0) -> dict:
        self.seq += 1
        message = dict(message, **({"seq": self.seq} if self.dap else {"id": self.seq}))
        self.send(message)
        seq = self.seq
        return self._wait(lambda: self.answers.pop(seq, None), timeout, f"answer {seq}")

    def roundtrip(self) -> float:
        start = time.perf_counter()
        if self.dap:
            self.call({"type": "request", "command": "threads"})
        else:
            self.call({"jsonrpc": "2.0", "method": "otrace/command", "params": {"line": "pwd"}})
        return time.perf_counter() - start


def _hostile(port: int, stop: threading.Event, counts: dict) -> None:
    """One hostile connection: announce an 8 MiB body, send it as fast as the server takes it,
    reconnect when closed; never logs in."""
    while not stop.is_set():
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
            counts["connections"] += 1
            sock.sendall(b"Content-Length: %d\r\n\r\n" % BODY)
            sent = 0
            while sent < BODY and not stop.is_set():
                sock.sendall(CHUNK)
                sent += len(CHUNK)
            counts["bytes"] += sent
            while not stop.is_set():       # all sent: hold the connection until the server closes it
                if not sock.recv(65536):
                    break
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except (OSError, UnboundLocalError):
                pass


def _measure(rpc: Rpc, seconds: float, pid: int) -> tuple[list[float], int]:
    """Round trips for ``seconds`` (one every 20 ms) and the peak RSS seen meanwhile."""
    times, peak = [], _rss(pid)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        times.append(rpc.roundtrip())
        peak = max(peak, _rss(pid))
        time.sleep(0.02)
    return times, peak


def run(tree: str, port_name: str, hostile: int, seconds: float) -> dict:
    app = App(tree)
    try:
        dap = port_name == "dap"
        port = app.info[f"{port_name}_port"]
        rpc = Rpc(port, app.info["token"], dap)
        quiet, _ = _measure(rpc, seconds / 2, app.proc.pid)
        before = _rss(app.proc.pid)
        stop, counts = threading.Event(), {"connections": 0, "bytes": 0}
        threads = [threading.Thread(target=_hostile, args=(port, stop, counts), daemon=True) for _ in range(hostile)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        attacked, peak = _measure(rpc, seconds, app.proc.pid)
        stop.set()
        for t in threads:
            t.join(5)
        rpc.close()
        return {"quiet": quiet, "attacked": attacked, "growth": peak - before, "before": before, **counts}
    finally:
        app.stop()


def _ms(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else values[0] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", default=ROOT, help="checkout whose demo and otrace_server run (default: this one)")
    parser.add_argument("--hostile", type=int, default=60, help="hostile connections (default 60)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the attack (default 10 s)")
    parser.add_argument("--quick", action="store_true", help="a 3 s attack (smoke run)")
    add_json_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.seconds = 3.0
    goals = []
    print(f"login_flood: {args.hostile} connections each sending an {BODY >> 20} MiB body without the token, "
          f"{args.seconds:g} s; app from {os.path.abspath(args.tree)}")
    for port_name in ("lsp", "dap"):
        r = run(os.path.abspath(args.tree), port_name, args.hostile, args.seconds)
        q50, a50 = _ms(r["quiet"], 50), _ms(r["attacked"], 50)
        print(f"{port_name}: rss before {r['before'] / 2**20:.0f} MB, growth during the attack {r['growth'] / 2**20:.1f} MB "
              f"; hostile connections "
              f"{r['connections']:,}, {r['bytes'] / 2**20:,.0f} MiB sent")
        print(f"{port_name}: round trip p50 {q50:.2f} ms quiet, {a50:.2f} ms attacked ({a50 / q50:.1f}x); p99 {_ms(r['quiet'], 99):.2f} / {_ms(r['attacked'], 99):.2f} ms; "
              f"{len(r['attacked'])} requests")
        goals += [Goal(f"login_flood.{port_name}_rss_growth_mb", f"{port_name.upper()} port: app memory growth under "
                       f"{args.hostile} hostile connections", r["growth"] / 2**20, "<", 100, unit="MB"),
                  Goal(f"login_flood.{port_name}_attacked_p50_ms", f"{port_name.upper()} port: authenticated round "
                       f"trip p50 during the attack", a50, "<", 50, unit="ms", note=f"quiet p50 {q50:.2f} ms")]
    return report(goals, args.json)


if __name__ == "__main__":
    sys.exit(main())
