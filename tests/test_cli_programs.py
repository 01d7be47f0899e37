"""otrace_server.cli with real programs: the ``otrace`` command, run for real in subprocesses: scripts with errors show
what python would (no otrace frame), servers run under ``otrace`` (the demos call ``start`` themselves)
and ``--batch`` over a server that never returns."""

from __future__ import annotations


from tests.test_cli import ROOT, otrace

ASYNC_SERVER = '''
import asyncio
served = []
async def handle(reader, writer):
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    served.append(server.sockets[0].getsockname()[1])
    try:
        await asyncio.Event().wait()          # serves forever
    finally:
        print("server stopped", flush=True)
if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
'''


def test_uncaught_exception_traceback_has_no_otrace_frame(tmp_path):
    (tmp_path / "raises.py").write_text("def f():\n    raise KeyError('k')\nf()\n")
    proc = otrace("--no-lsp", "raises.py", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert f'  File "{tmp_path / "raises.py"}", line 3, in <module>' == lines[1]
    assert "cli.py" not in proc.stderr and lines[-1] == "KeyError: 'k'"


def test_syntax_error_in_script_is_shown_like_python_without_traceback(tmp_path):
    (tmp_path / "syn.py").write_text("x = (\n")
    proc = otrace("--no-lsp", "syn.py", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[0] == f'  File "{tmp_path / "syn.py"}", line 1'
    assert proc.stderr.splitlines()[-1] == "SyntaxError: '(' was never closed"


def test_batch_runs_over_an_asyncio_server_then_stops_it(tmp_path):
    (tmp_path / "srv.py").write_text(ASYNC_SERVER)
    (tmp_path / "cmds.osh").write_text("pr served[0] > 0\n")
    proc = otrace("--batch", "cmds.osh", "srv.py", cwd=tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout.splitlines()
    assert out[:2] == ["globals> pr served[0] > 0", "True"]            # the server was up when it ran
    assert "server stopped" in out                                  # then stopped as by Ctrl-C
    assert proc.stderr.splitlines() == ["otrace: --batch cmds.osh done; stopping srv.py as Ctrl-C would"]
    (tmp_path / "bad.osh").write_text("pr nothing_here\npr 1\n")
    proc = otrace("--batch", "bad.osh", "srv.py", cwd=tmp_path, timeout=30)
    assert proc.returncode == 1                                      # the batch's status
    assert "nothing_here" in proc.stdout and "globals> pr 1" not in proc.stdout


ASYNC_JOB = '''
import asyncio
steps = []
async def main():
    for i in range(25):                         # 2.5 s in the loop, listening on nothing
        await asyncio.sleep(0.1)
        steps.append(i)
    print("job done", flush=True)
if __name__ == "__main__":
    asyncio.run(main())
'''


def test_batch_waits_for_a_long_asyncio_job_that_serves_nothing(tmp_path):
    """A job that spends seconds in an asyncio loop is not a server: its batch runs after it
    returned (it was run at 1 s, then the job was stopped as by Ctrl-C)."""
    (tmp_path / "job.py").write_text(ASYNC_JOB)
    (tmp_path / "cmds.osh").write_text("steps[-1]\n")
    proc = otrace("--batch", "cmds.osh", "job.py", cwd=tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == ["job done", "globals> steps[-1]", "24"]
    assert proc.stderr == ""                    # neither stopped nor told it looks like a threaded server


def test_batch_gives_no_notice_to_a_job_that_returns_soon_after_its_long_loop(tmp_path):
    """The notice for a script that neither returns nor serves counts from the end of a loop it
    ran: a job whose loop ran past BATCH_NOTICE_AFTER, then tidies up for half a second (as
    asyncio.run's shutdown, only longer) and returns, is told nothing (CI once saw the notice in
    the few ms between asyncio.run's loop ending and the script returning)."""
    (tmp_path / "job.py").write_text(ASYNC_JOB.replace("asyncio.run(main())", "asyncio.run(main())\n    import time; time.sleep(0.6)"))
    (tmp_path / "cmds.osh").write_text("steps[-1]\n")
    proc = otrace("--batch", "cmds.osh", "job.py", cwd=tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == ["job done", "globals> steps[-1]", "24"]
    assert proc.stderr == ""


def test_tornado_demo_starting_otrace_itself_runs_under_otrace_with_batch(tmp_path):
    """torna_trace.py calls start() itself: under `otrace` it was 'otrace is already started'."""
    (tmp_path / "cmds.osh").write_text("trace GetHandler.respond\nset trace_active\n")
    proc = otrace("--batch", str(tmp_path / "cmds.osh"), str(ROOT / "demos" / "torna_trace.py"),
                  "--port", "0", "--no-lsp", cwd=ROOT, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "already started" not in proc.stderr and "Traceback" not in proc.stderr
    assert "Tracing GetHandler.respond" in proc.stdout
    assert "trace_active = True" in proc.stdout.splitlines()    # torna_trace.trc was sourced


OWN_START = '''
import sys
from otrace_server import app as otrace_app, start
marker = 41
first = otrace_app.current()
mine = start(globals(), console=False, lsp=False, trace_active=True)
print("REPLACED", first is not None and first is not mine and otrace_app.current() is mine,
      first is not None and first.runtime.running, flush=True)
'''


def test_a_program_that_starts_otrace_itself_replaces_the_commands_app(tmp_path):
    """Any program calling start() (not only the demos) runs under `otrace`: the command's App gives
    way to the program's (stopped, not running beside it), and --batch runs over the program's."""
    script = tmp_path / "own_start.py"
    script.write_text(OWN_START)
    (tmp_path / "cmds.osh").write_text("marker + 1\nset trace_active\n")
    proc = otrace("--batch", str(tmp_path / "cmds.osh"), str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "REPLACED True False" in proc.stdout
    assert "42" in proc.stdout.splitlines() and "trace_active = True" in proc.stdout.splitlines()
    assert "already started" not in proc.stderr


def test_the_terminal_console_carries_on_with_the_programs_app(tmp_path):
    """On a terminal, the command's console (reading with GNU readline, which cannot be stopped at
    once) goes on over the program's App: one console, its commands run in the new shell."""
    pexpect = __import__("pytest").importorskip("pexpect")
    script = tmp_path / "own_start.py"
    script.write_text(OWN_START.replace("console=False", "console=None"))
    env = dict(__import__("os").environ, PYTHONPATH=str(ROOT), CI="1", TERM="dumb")
    child = pexpect.spawn(__import__("sys").executable, ["-m", "otrace_server.cli", "--no-lsp", str(script)],
                          cwd=str(tmp_path), env=env, encoding="utf-8", timeout=15, dimensions=(40, 200))
    try:
        child.expect(r"REPLACED (\w+) (\w+)")
        assert child.match.groups() == ("True", "False")
        child.sendline("marker + 1")
        child.expect(r"\b42\b")
        child.sendline("pr first is not mine")
        child.expect(r"\bTrue\b")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)
    child.close()
    assert child.exitstatus == 0
