"""What every VS Code end-to-end module shares: when a test fails, a screenshot of the workbench
(``artifacts/vscode/FAILED-<module>-<test>.png``), then the module's own ``after_failure(env)``
if it has one (e.g. resume the holds the failed test left, so the next tests start clean).
Every module here has an ``env`` fixture holding its ``Workbench`` as ``env["bench"]``."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def screenshot_on_failure(request, env):
    """A screenshot artifact when the test fails, then the module's ``after_failure(env)``."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        part = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_vscode").lstrip("_")
        env["bench"].shot(f"FAILED-{part + '-' if part else ''}{request.node.name}")
        after_failure = getattr(request.module, "after_failure", None)
        if after_failure is not None:
            after_failure(env)
