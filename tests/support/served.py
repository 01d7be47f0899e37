"""A server script run for real in a subprocess, on 127.0.0.1:<free port> (given as its first
argument), under ``otrace`` (``python -m otrace_server.cli``) or plain ``python``: what the
shutdown and autoreload tests share.

    with ServedScript(tmp_path / "app.py", otrace=["--no-lsp", "--no-console"]) as app:
        app.wait_line("held")            # a line of its output (stdout and stderr)
        app.process.send_signal(signal.SIGINT)
        assert app.wait() == 1           # its exit status, within a timeout

Thread-safety: used from the test thread; a daemon thread reads the output.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent.parent

__all__ = ["ServedScript", "free_port", "http_get"]


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 15) -> tuple[int, str] | str:
    """``(status, body)`` of a GET (an error status too), or the text of the failure (no answer)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except Exception as exc:   # connection closed without an answer, timeout...
        return repr(exc)


class ServedScript:
    """``script PORT`` (or ``script ARGS``, ``{port}`` in them replaced) running in ``cwd`` (default:
    the script's folder), under ``otrace OPTIONS`` when ``otrace`` is a list of options, else under
    plain python; ``env`` extra variables. Started
    at construction; once its port accepts connections it is ``ready`` (TimeoutError after
    ``timeout`` s). Leaving the ``with`` block kills it if it still runs."""

    def __init__(self, script: Path, *, otrace: list[str] | None = None, env: dict | None = None,
                 cwd: Path | None = None, timeout: float = 20, args: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "otrace_server.cli", *otrace] if otrace is not None else [sys.executable]
        environment = dict(os.environ, PYTHONPATH=str(ROOT), CI="1", **(env or {}))
        arguments = [arg.format(port=self.port) for arg in args] if args is not None else [str(self.port)]
        self.process = subprocess.Popen([*command, str(script), *arguments], cwd=cwd or script.parent,
                                        env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        threading.Thread(target=self._read, name="served-output", daemon=True).start()
        try:
            self.wait_serving(timeout)
        except BaseException:
            self.__exit__()
            raise

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self._new_line.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_serving(self, timeout: float = 20) -> None:
        """Until the port accepts a connection; AssertionError (with the output) otherwise."""
        def accepts():
            if self.process.poll() is not None:
                raise AssertionError(f"the script ended ({self.process.returncode}):\n{self.output}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False

        wait_for(accepts, timeout, f"{self.url} to serve", interval=0.05)

    def wait_line(self, text: str, timeout: float = 15, start: int = 0) -> int:
        """The index of the first output line from ``start`` on containing ``text``, once printed;
        AssertionError (with the output) after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._new_line:
            while True:
                for i in range(start, len(self.lines)):
                    if text in self.lines[i]:
                        return i
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no line with {text!r} in:\n{self.output}")
                self._new_line.wait(remaining)

    def wait(self, timeout: float = 10) -> int:
        """The exit status once it ended; AssertionError (with the output) after ``timeout`` s."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout} s:\n{self.output}") from None

    def __enter__(self) -> "ServedScript":
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
