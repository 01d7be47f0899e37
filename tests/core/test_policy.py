"""core.policy: the one safe-mode refusal."""

from __future__ import annotations

import pytest

from otrace_server.core.errors import OTraceError
from otrace_server.core.policy import refusal, refused, require_unsafe
from otrace_server.core.settings import Settings


def test_one_refusal_shape():
    settings = Settings()
    assert refused("exec") == "exec: refused in safe mode; set safe_mode False to allow it"
    assert refusal(settings, "debugpy", "its port has no token") == \
        "debugpy: refused in safe mode (its port has no token); set safe_mode False to allow it"
    with pytest.raises(OTraceError, match=r"^patch: refused in safe mode; set safe_mode False to allow it$"):
        require_unsafe(settings, "patch")
    settings.set("safe_mode", False)
    assert refusal(settings, "exec") is None
    require_unsafe(settings, "exec")
