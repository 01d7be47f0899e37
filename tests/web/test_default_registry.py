"""``otrace_server.start`` serves /osh/web with the default registry whether the program makes it
before ``start`` or after (the ``otrace`` command starts otrace before the program builds its
routes); ``web=None`` serves none, and a stopped App takes no registry made later. Run in a fresh
interpreter: the default registry is process-wide."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(60)

SCRIPT = """
import otrace_server, otrace_server.web as otweb

def started(**options):
    return otrace_server.start({}, console=False, lsp=False, dap_port=None, **options)

early = started()
early.stop()                                  # stopped before the registry was made: never attached
app = started()
assert app.web is None and app.shell.web is None
routes = otweb.ROUTES("/otrace")            # the program builds its routes after start
registry = otweb.get_registry()
assert app.web is registry and app.shell.web is registry and registry.runtime is app.runtime
assert early.web is None
app.stop()
assert registry.runtime is None               # stop detached it
app = started()                               # made before start: attached at once
assert app.shell.web is registry and registry.runtime is app.runtime
app.stop()
app = started(web=None)
assert app.shell.web is None and registry.runtime is None
app.stop()
print("ok")
"""


@pytest.mark.parametrize("routes", ["handlers", "aiohttp_routes", "starlette_routes"])
def test_start_serves_the_default_registry_made_before_or_after_it(repo_root, routes):
    done = subprocess.run([sys.executable, "-c", SCRIPT.replace("ROUTES", routes)], cwd=repo_root, capture_output=True,
                          text=True, timeout=30, env={"PYTHONPATH": str(repo_root), "PATH": "/usr/bin:/bin"})
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr
