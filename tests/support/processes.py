"""Ending the app processes the tests start with ``--exit-on-stdin-eof`` (or an equivalent
stdin watchdog): close stdin, wait, kill only if it does not end."""

from __future__ import annotations

import subprocess

__all__ = ["end_process"]


def end_process(proc: subprocess.Popen, wait: float = 10) -> None:
    """Close ``proc``'s stdin (it exits at EOF) and wait ``wait`` s; then kill it."""
    proc.stdin.close()
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
