"""How the framework demos run: as ``python demos/X.py`` and unmodified under the ``otrace``
command; stopping one with a held request answers that request and exits cleanly."""

from __future__ import annotations

import sys
import time

import pytest

from tests.demos.process import DEMOS, ROOT, DemoProcess
from tests.demos.test_hold_story import ANSWER_77, command, hold_77
from tests.test_cli import otrace

pytestmark = pytest.mark.timeout(60)

SCRIPTS = pytest.mark.parametrize("script", [script for _, script, _ in DEMOS], ids=[i for i, _, _ in DEMOS])


@SCRIPTS
def test_stdin_eof_answers_the_held_request_and_exits_0(script, tmp_path):
    """--exit-on-stdin-eof (how tests and parents that go away stop a demo): otrace stops first, so
    the held request gets its page before the server drains, and the process exits 0 promptly."""
    demo = DemoProcess(script, tmp_path)
    editor = demo.lsp_client()
    held, _ = hold_77(demo, editor)
    started = time.monotonic()
    code = demo.stop()
    assert code == 0 and time.monotonic() - started < 10, demo.output
    status, _, body = held.wait()
    assert status == 200 and ANSWER_77 in body
    assert "Traceback" not in demo.output, demo.output


@SCRIPTS
def test_the_demo_runs_unmodified_under_the_otrace_command(script, tmp_path):
    """``otrace demos/X.py``: the demo's own start() replaces the command's App; 77 is held and
    resumed through the demo's language server; stopping it exits 0."""
    demo = DemoProcess(script, tmp_path, command=[sys.executable, "-m", "otrace_server.cli"])
    editor = demo.lsp_client()
    held, started = hold_77(demo, editor)
    assert command(editor, "set trace_active").startswith("trace_active = True\n")   # the .trc was sourced
    assert editor.request("otrace/resume", {"all": True}) == {"resumed": [started["id"]]}
    status, _, body = held.wait()
    assert status == 200 and ANSWER_77 in body
    assert demo.stop() == 0, demo.output
    assert "already started" not in demo.output and "Traceback" not in demo.output, demo.output


@SCRIPTS
def test_otrace_batch_runs_over_the_demo_once_it_serves(script, tmp_path):
    """``otrace --batch FILE demos/X.py``: the batch runs over the demo's own App once its server
    listens (aiohttp's runner, uvicorn), then the demo is stopped as Ctrl-C would; status 0."""
    (tmp_path / "cmds.osh").write_text("set trace_active\nls /osh/globals\n")
    proc = otrace("--batch", str(tmp_path / "cmds.osh"), str(ROOT / "demos" / script), "--port", "0", "--no-lsp",
                  cwd=ROOT, env_extra={"XDG_RUNTIME_DIR": str(tmp_path)}, timeout=45)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "trace_active = True" in lines                     # the demo's .trc was sourced, in its App
    assert "get_reciprocal" in proc.stdout.split() and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
