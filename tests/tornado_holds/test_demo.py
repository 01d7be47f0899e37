"""demos/torna_trace.py as users run it: a separate process, a real port, exits when stdin closes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.lsp.rpc import Client
from tests.tornado_holds.demo_server import DEMO_PATH

pytestmark = pytest.mark.timeout(60)


def _spawn(*flags):
    proc = subprocess.Popen([sys.executable, str(DEMO_PATH), "--port", "0", "--exit-on-stdin-eof", *flags],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.fullmatch(r"Listening on http://127\.0\.0\.1:(\d+)\n", line)
    assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, int(match.group(1))


def _get(port, query="", timeout=10):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{query}", timeout=timeout) as resp:
        return resp.status, resp.read().decode()


def _editor(proc):
    """An LSP client connected to the demo ``proc`` (started without ``--no-lsp``), from the language
    server line it prints: it gets ``otrace/holdStarted`` when a request is held."""
    line = proc.stdout.readline()
    match = re.fullmatch(r"otrace language server on 127\.0\.0\.1:(\d+) \(token in (.*)\)\n", line)
    assert match, line
    client = Client(int(match.group(1)))
    client.initialize(json.loads(Path(match.group(2)).read_text())["token"], name="test-demo")
    return client


def _close_and_wait(proc):
    proc.stdin.close()
    started = time.monotonic()
    code = proc.wait(15)
    return code, time.monotonic() - started


def test_demo_serves_the_form_and_reciprocals_and_exits_on_stdin_eof():
    proc, port = _spawn("--no-lsp")
    try:
        status, body = _get(port)
        assert status == 200 and '<form method="get" action="/">' in body
        assert "The reciprocal of 4.0 is 0.25" in _get(port, "?number=4")[1]
        assert "'abc' is not a number" in _get(port, "?number=abc")[1]
    finally:
        code, elapsed = _close_and_wait(proc)
    assert code == 0 and elapsed < 10


def test_demo_holds_77_and_exit_resumes_it():
    """The init file (torna_trace.trc) turned tracing on: 77 is held until the process stops, and
    stopping resumes it (the held request gets its page instead of a reset connection)."""
    import threading

    proc, port = _spawn()
    editor = _editor(proc)
    result = {}

    def held():
        result["page"] = _get(port, "?number=77", timeout=20)

    thread = threading.Thread(target=held, daemon=True)
    thread.start()
    try:
        editor.wait_notification("otrace/holdStarted")
        assert "The reciprocal of 2.0 is 0.5" in _get(port, "?number=2")[1]   # served meanwhile
        assert thread.is_alive()                                               # 77 still held
    finally:
        code, _ = _close_and_wait(proc)
        editor.close()
    thread.join(10)
    assert code == 0
    status, body = result["page"]
    assert status == 200 and "The reciprocal of 77.0 is 0.012987012987012988" in body


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_stopped_by_a_signal_answers_the_held_request_and_exits_cleanly(sig):
    """Ctrl-C and SIGTERM (what kill and service managers send) stop otrace first, whenever they come
    (handled on the loop: Ctrl-C in the middle of a request's hold start failed it and the process
    died by SIGINT): the held request gets its page, the process exits 0 and no daemon thread
    blocked on stdin aborts the
    interpreter's shutdown (a watchdog holding sys.stdin's lock made it exit with
    "Fatal Python error: _enter_buffered_busy" and SIGABRT)."""
    import threading

    proc, port = _spawn()
    editor = _editor(proc)
    result = {}
    thread = threading.Thread(target=lambda: result.update(page=_get(port, "?number=77", timeout=20)), daemon=True)
    thread.start()
    try:
        editor.wait_notification("otrace/holdStarted")
        assert thread.is_alive()                                               # 77 is held
        proc.send_signal(sig)        # at once: the app thread may still be inside the hold's start
        code = proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
        editor.close()
    thread.join(10)
    stderr = proc.stderr.read()
    assert code == 0 and "Fatal Python error" not in stderr, stderr
    status, body = result["page"]
    assert status == 200 and "The reciprocal of 77.0 is 0.012987012987012988" in body


def test_demo_prints_the_language_server_port_and_token_location():
    pytest.importorskip("otrace_server.lsp.server")
    proc, port = _spawn()
    try:
        line = proc.stdout.readline()
        assert re.fullmatch(r"otrace language server on 127\.0\.0\.1:\d+ \(token in .*otrace-\d+\.json\)\n", line)
    finally:
        code, _ = _close_and_wait(proc)
    assert code == 0
