"""The fleet demo (demos/torna_fleet.py) as users run it, for the fleet tests and bench/fleet.py: N
real worker processes on one port of 127.0.0.1, their discovery files in a directory of their own.

    fleet = FleetDemo(tmp_path, workers=3)          # started: every worker's discovery record read
    fleet.url, fleet.records()                      # the live workers' records, oldest first
    editor = fleet.lsp_client(record)               # a language-server client of one worker
    fleet.stop()                                    # closes stdin: the parent ends every worker

Thread-safety: use a FleetDemo from one thread; a daemon thread reads the demo's output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

from otrace_server.control.discovery import list_processes
from tests.lsp.rpc import Client
from tests.support.processes import end_process
from tests.support.waiting import wait_for

__all__ = ["FleetDemo", "ROOT"]

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"Listening on http://127\.0\.0\.1:(\d+) \((\d+) workers\)")


class FleetDemo:
    """``demos/torna_fleet.py --port 0 --workers N --exit-on-stdin-eof`` (and ``flags``) with
    ``XDG_RUNTIME_DIR=xdg`` (its discovery files in ``xdg/otrace``) and ``env``; started once
    every worker wrote its discovery file (AssertionError with the output otherwise)."""

    def __init__(self, xdg: Path, workers: int = 3, *flags: str, env: dict | None = None,
                 timeout: float = 30.0) -> None:
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        self.directory = xdg / "otrace"
        self.count = workers
        environment = dict(os.environ, XDG_RUNTIME_DIR=str(xdg), PYTHONPATH=path, PYTHONUNBUFFERED="1", **(env or {}))
        argv = [sys.executable, str(ROOT / "demos" / "torna_fleet.py"), "--port", "0", "--workers", str(workers),
                "--exit-on-stdin-eof", "--no-console", *flags]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=environment, text=True, cwd=str(ROOT))
        self.lines: list[str] = []
        self._clients: list[Client] = []
        threading.Thread(target=self._read, name="fleet-output", daemon=True).start()
        try:
            self.port = int(wait_for(lambda: self._find(_LISTENING), timeout, "the fleet to listen").group(1))
            self.url = f"http://127.0.0.1:{self.port}"
            self.wait_workers(workers, timeout)
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def _find(self, pattern: re.Pattern):
        if self.proc.poll() is not None:
            raise AssertionError(f"the fleet demo ended ({self.proc.returncode}):\n{self.output}")
        return next((m for m in map(pattern.search, list(self.lines)) if m), None)

    def records(self) -> list[dict]:
        """The discovery records of the live workers (dead ones' files are removed), oldest first."""
        return list_processes(self.directory)

    def wait_workers(self, count: int, timeout: float = 30.0, without: set[int] = frozenset()) -> list[dict]:
        """The records once ``count`` live workers wrote theirs, none of the pids ``without``."""
        def ready():
            self._find(re.compile("^$a"))   # raises when the demo ended
            found = [r for r in self.records() if r["pid"] not in without]
            return found if len(found) == count else None
        return wait_for(ready, timeout, f"{count} workers' discovery files\n{self.output}", interval=0.05)

    def lsp_client(self, record: dict, name: str = "test-fleet") -> Client:
        """A language-server client of one worker (its record), initialized with its token
        (closed by ``stop``)."""
        client = Client(record["lsp_port"])
        self._clients.append(client)
        client.initialize(record["token"], name=name)
        return client

    def stop(self, wait: float = 20) -> int:
        """Close the clients and stdin (the parent ends every worker, then itself); its exit code."""
        for client in self._clients:
            client.close()
        end_process(self.proc, wait)
        return self.proc.returncode
