"""aiohttp and Starlette are optional extras: otrace_server.web imports without them, and asking for
their routes then is an ImportError naming the extra to install (a fresh interpreter in which the
framework cannot be imported)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(60)

SCRIPT = """
import sys
sys.modules[{framework!r}] = None            # as if not installed: importing it raises ImportError
import otrace_server.web as otweb
otweb.handlers("/otrace")                      # Tornado's routes are always there
try:
    otweb.{routes}("/otrace")
except ImportError as exc:
    print("ImportError:", exc)
"""


@pytest.mark.parametrize("framework, routes, extra", [("aiohttp", "aiohttp_routes", "otrace-server[aiohttp]"),
                                                      ("starlette", "starlette_routes", "otrace-server[starlette]")])
def test_the_web_package_imports_without_the_framework(repo_root, framework, routes, extra):
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(framework=framework, routes=routes)],
                          cwd=repo_root, capture_output=True, text=True, timeout=30,
                          env={"PYTHONPATH": str(repo_root), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ImportError:") and f"pip install {extra}" in done.stdout
