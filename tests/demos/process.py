"""The framework demos (demos/aiohttp_trace.py, starlette_trace.py, fastapi_trace.py) as users run
them: a process of their own on 127.0.0.1:<free port>, with their own discovery directory, and the
clients the tests talk to them with (HTTP, the language server, the DAP endpoint).

    demo = DemoProcess("aiohttp_trace.py", tmp_path)      # started: demo.http, demo.lsp, demo.dap
    held = demo.get_in_thread("?number=77")               # tests.tornado_holds.demo_server.Pending
    editor = demo.lsp_client()                            # initialized with the process's token
    code = demo.stop()                                    # closes stdin: the demo exits

Output (stdout and stderr together: uvicorn logs its "running on" line to stderr) is read by a
thread into ``lines``, so a chatty server never blocks on a full pipe.
Thread-safety: use a DemoProcess from the test thread; ``lines`` grows on the reader thread.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from tests.dap.dapclient import DapClient
from tests.lsp.rpc import Client
from tests.support.processes import end_process
from tests.support.waiting import wait_for
from tests.tornado_holds.demo_server import Pending

__all__ = ["ROOT", "DEMOS", "DemoProcess", "HTTP_LINE", "CONTROL_LINE"]

ROOT = Path(__file__).resolve().parents[2]
#: the demos: (test id, script, framework name on the page)
DEMOS = [("aiohttp", "aiohttp_trace.py", "aiohttp"), ("starlette", "starlette_trace.py", "Starlette"),
         ("fastapi", "fastapi_trace.py", "FastAPI")]
#: where the server listens: aiohttp's and uvicorn's own lines
HTTP_LINE = re.compile(r"(?:Running on|Uvicorn running on) http://127\.0\.0\.1:(\d+)")
#: the line the demo prints after otrace_server.start
CONTROL_LINE = re.compile(r"otrace language server on 127\.0\.0\.1:(\d+) \(token in (.*)\)")


class DemoProcess:
    """``demos/<script>`` running with ``--port 0 --exit-on-stdin-eof`` (and ``flags``), its
    discovery file in ``tmp``: ``http``, ``lsp``, ``dap`` ports, ``token``. ``command``: what runs
    the script (default: this Python). AssertionError when it exits before serving; the test's
    timeout bounds the wait."""

    def __init__(self, script: str, tmp: Path, *flags: str, command: list[str] | None = None) -> None:
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)   # this tree first
        env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp), PYTHONPATH=path, PYTHONUNBUFFERED="1")
        argv = [*(command or [sys.executable]), str(ROOT / "demos" / script), "--port", "0", "--exit-on-stdin-eof",
                *flags]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, text=True, cwd=str(ROOT))
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, name="demo-output", daemon=True).start()
        self.http = int(self.wait_line(HTTP_LINE).group(1))
        self.url = f"http://127.0.0.1:{self.http}"
        self.lsp = self.dap = self.token = None
        if "--no-lsp" not in flags and "--bare" not in flags:
            control = self.wait_line(CONTROL_LINE)
            self.lsp = int(control.group(1))
            info = json.loads(Path(control.group(2)).read_text())
            self.token, self.dap = info["token"], info["dap_port"]
        self._clients: list = []

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self) -> str:
        """Everything the demo printed so far."""
        with self._cond:
            return "".join(self.lines)

    def wait_line(self, pattern: re.Pattern, timeout: float = 20.0) -> re.Match:
        """The match of the first output line ``pattern`` finds; AssertionError when the demo
        exits first or nothing matches within ``timeout`` s."""
        def find():
            for line in self.lines:
                match = pattern.search(line)
                if match:
                    return match
            assert self.proc.poll() is None, f"the demo exited ({self.proc.returncode}):\n{''.join(self.lines)}"
            return None
        with self._cond:
            found = self._cond.wait_for(find, timeout)
        assert found, f"no line matching {pattern.pattern!r} within {timeout}s:\n{self.output}"
        return found

    # ---- clients ------------------------------------------------------------------------------
    def get(self, query: str = "", timeout: float = 10.0) -> tuple[int, str, str]:
        """GET /<query>: (status, reason, body), an HTTP error status included."""
        try:
            with urllib.request.urlopen(f"{self.url}/{query}", timeout=timeout) as resp:
                return resp.status, resp.reason, resp.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.reason, error.read().decode()

    def get_in_thread(self, query: str, timeout: float = 30.0) -> Pending:
        """GET /<query> on a thread of its own (a request that may be held)."""
        return Pending(self, query, timeout)

    def lsp_client(self, name: str = "test-demos") -> Client:
        """A language-server client, initialized with the token (closed by ``stop``)."""
        client = Client(self.lsp)
        self._clients.append(client)
        client.initialize(self.token, name=name)
        return client

    def dap_client(self) -> DapClient:
        """A DAP client, attached with the token (closed by ``stop``)."""
        client = DapClient(self.dap)
        self._clients.append(client)
        client.attach(self.token)
        return client

    def wait_holds(self, client: Client, count: int, timeout: float = 10.0) -> list[dict]:
        """The holds ``otrace/holds`` lists once there are ``count`` of them (oldest first)."""
        return wait_for(lambda: (lambda holds: holds if len(holds) == count else None)(
            client.request("otrace/holds")["holds"]), timeout, f"{count} holds", interval=0.02)

    def stop(self, wait: float = 15) -> int:
        """Close the clients and stdin (the demo stops as on Ctrl-C); the exit code."""
        for client in self._clients:
            client.close()
        end_process(self.proc, wait)
        return self.proc.returncode
