"""Adapters are chosen by what the program uses: active once its framework is imported, never
because it is installed; otrace imports no framework for that."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import sys
from otrace_server import frameworks
def state():
    return [a.name for a in frameworks.active()], sorted(m for m in ("tornado.web", "aiohttp.web", "starlette")
                                                        if m in sys.modules)
print(state())
import aiohttp.web
print(state())
import fastapi
print(state())
"""


def test_an_adapter_is_active_once_its_framework_is_imported():
    out = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "([], [])",
        "(['aiohttp'], ['aiohttp.web'])",
        "(['aiohttp', 'starlette'], ['aiohttp.web', 'starlette'])",
    ]
