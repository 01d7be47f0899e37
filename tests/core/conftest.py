"""The core tests' engine: a fresh ``Engine`` (not the process's default) keeping up to 1,000
recent contexts; afterwards its patches and traces are undone and its holds answered. A test file
that needs another engine (the default one, a crossing installed) defines its own fixture."""

from __future__ import annotations

import pytest

from otrace_server.core.engine import Engine
from otrace_server.core.holds import Outcome


@pytest.fixture
def engine():
    eng = Engine()
    eng.settings.set("max_recent", 1000)
    yield eng
    eng.patcher.unpatch_all()
    eng.tracer.untrace_all()
    eng.holds.resume_all(Outcome("shutdown"))
