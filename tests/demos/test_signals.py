"""Stopping a framework demo with a request held: Ctrl-C and SIGTERM answer the hold first (issue 16
point 4), in aiohttp's runner and in uvicorn (which otherwise waits for the held request for ever)."""

from __future__ import annotations

import signal
import time

import pytest

from tests.demos.process import DemoProcess
from tests.demos.test_hold_story import ANSWER_77, hold_77
from tests.demos.test_run import SCRIPTS

pytestmark = pytest.mark.timeout(60)


@SCRIPTS
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_answers_the_held_request_first_and_the_demo_exits_promptly(script, sig, tmp_path):
    """Ctrl-C and SIGTERM stop the server as the framework does, holds answered first (issue 16
    point 4): the held request gets its page, not a reset connection nor a wait for ever. Exit
    status: 0, except uvicorn's own re-raise of a SIGTERM it stopped on (the process then ends by it)."""
    demo = DemoProcess(script, tmp_path)
    try:
        held, _ = hold_77(demo, demo.lsp_client())
        started = time.monotonic()
        demo.proc.send_signal(sig)
        code = demo.proc.wait(15)
        assert time.monotonic() - started < 10, demo.output
        status, _, body = held.wait()
    finally:
        demo.stop()
    assert status == 200 and ANSWER_77 in body
    assert code == 0 or (sig == signal.SIGTERM and "uvicorn" in demo.output.lower() and code == -sig), (code, demo.output)
    assert "Traceback" not in demo.output, demo.output
