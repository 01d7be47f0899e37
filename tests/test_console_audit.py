"""The terminal console audits its effects and refuses in safe mode like every front end: a REAL
program started with ``otrace_server.start(console=True)`` in a real pseudo-terminal (pexpect);
its audit log file (beside the discovery file) gets one line per effect, ``front=console``,
whichever way the line asked (direct, ``cd x; command``, an alias, ``repeat``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from otrace_server.core.policy import refused
from tests.support.auditfile import AuditFile

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = r'''
import asyncio, threading
from otrace_server import start, traceassert

loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, name="app-loop", daemon=True).start()


def compute(n):
    return n * 2


async def held(n):
    return await traceassert(False, label=f"console_hold_{n}", action="hold")


app = start(globals(), app_loop=loop, console=True, dap_port=None, trace_active=True)
for n in (1, 2):
    asyncio.run_coroutine_threadsafe(held(n), loop)
app.console_thread.join()
app.stop()
'''


def test_console_effects_are_audited_once_each_and_refusals_have_the_one_shape(tmp_path):
    program = tmp_path / "console_app.py"
    program.write_text(PROGRAM)
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_RUNTIME_DIR=str(tmp_path), TERM="dumb", CI="1")
    child = pexpect.spawn(sys.executable, [str(program)], env=env, cwd=str(tmp_path), encoding="utf-8",
                          timeout=15, dimensions=(40, 200))
    try:
        child.expect_exact("globals> ")
        child.sendline("exec import os")
        child.expect_exact(refused("exec"))
        child.sendline("cd /osh/globals; trace compute")
        child.expect_exact("Tracing compute")
        child.sendline("alias un untrace \\1")
        child.sendline("un compute")
        child.expect_exact("untraced compute")
        child.sendline("ls /osh/recent/holds/held")
        child.expect(r"hd-console_hold_1\s+hd-console_hold_2")    # both holds are there
        child.sendline("resume all")
        child.expect(r"Resuming held:hd-console_hold_\d:[\d-]+\s+Resuming held:hd-console_hold_\d")
        child.sendline("set max_recent 20")
        child.expect_exact("max_recent = 20")
        child.sendline("quit")
        child.expect(pexpect.EOF)                 # quit ends the console, then the program stops otrace
    finally:
        child.terminate(force=True)               # (nothing left to do once it exited)
    [log] = (tmp_path / "otrace").glob("otrace-*.audit.log")
    audit = AuditFile(log.parent, int(log.name.split("-")[1].split(".")[0]))
    audit.seen = 0
    records = audit.new()
    assert {(r["front"], r.get("client")) for r in records} == {("console", None)}
    assert [(r["action"], r.get("name") or r.get("names") or len(r.get("ids", []))) for r in records] == [
        ("trace", "compute"), ("untrace", ["compute"]), ("resume", 2), ("set", "max_recent")]
