"""The ``otrace`` command, run for real as ``python -m otrace_server.cli`` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = '''
import sys
greeting = "hello"
def main(*args):
    print("main called with", list(args))
def answer_of(x):
    return x
if __name__ == "__main__":
    print("running as", __name__, sys.argv[1:], "argv0", sys.argv[0])
    answer = 42
'''


def otrace(*args, cwd, env_extra=None, timeout=30):
    env = dict(os.environ, PYTHONPATH=str(ROOT), CI="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "otrace_server.cli", *args], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def test_help_is_clear(tmp_path):
    proc = otrace("--help", cwd=tmp_path)
    assert proc.returncode == 0
    out = proc.stdout
    assert out.startswith("usage: otrace")
    for words in ("--batch", "-f", "script", "ps", "attach --ssh", "exit status"):
        assert words in out


def test_no_arguments_is_a_usage_error(tmp_path):
    proc = otrace(cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "otrace: give a script to run, --batch FILE, or ps; see otrace -h\n"


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "otrace: error: unrecognized arguments: --bogus; see otrace -h"),
    (["-f"], "otrace: error: argument -f/--function: expected one argument; see otrace -h"),
    (["--batch"], "otrace: error: argument --batch: expected one argument; see otrace -h"),
    (["ps", "-x"], "otrace ps: error: unrecognized arguments: -x; see otrace ps -h"),
    (["attach", "12"], "otrace attach: error: the following arguments are required: --ssh; see otrace attach -h"),
    (["-s", "nosuch=1", "script.py"], "otrace: unknown parameter 'nosuch'; 'set' lists them"),
])
def test_usage_errors_are_one_line_with_status_2(tmp_path, args, message):
    (tmp_path / "script.py").write_text(SCRIPT)
    proc = otrace(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [message] and proc.stdout == ""


def test_runs_a_script_as_main_with_its_arguments(tmp_path):
    (tmp_path / "script.py").write_text(SCRIPT)
    proc = otrace("--no-lsp", "script.py", "a", "b", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "running as __main__ ['a', 'b'] argv0 script.py" in proc.stdout   # sys.argv[0] as typed, as python


def test_script_exit_status_and_uncaught_exception(tmp_path):
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "raises.py").write_text("raise ValueError('boom')\n")
    assert otrace("--no-lsp", "exits.py", cwd=tmp_path).returncode == 3
    proc = otrace("--no-lsp", "raises.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert "ValueError: boom" in proc.stderr


def test_missing_script_is_a_usage_error(tmp_path):
    proc = otrace("nowhere.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no such script: nowhere.py" in proc.stderr


def test_function_option_calls_the_function_without_the_main_block(tmp_path):
    (tmp_path / "script.py").write_text(SCRIPT)
    proc = otrace("--no-lsp", "-f", "main", "script.py", "x", "y", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "main called with ['x', 'y']" in proc.stdout
    assert "running as" not in proc.stdout
    proc = otrace("--no-lsp", "-f", "nothing", "script.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert "'nothing' is not a function" in proc.stderr
    proc = otrace("--no-lsp", "-f", "answer_of", "script.py", "1", "2", cwd=tmp_path)
    assert proc.returncode == 2                       # FUNC cannot take these arguments: one line
    assert proc.stderr.splitlines() == [
        "otrace: -f answer_of(x) cannot take the arguments ['1', '2']: too many positional arguments"]


def test_batch_runs_commands_over_the_script_globals(tmp_path):
    (tmp_path / "script.py").write_text(SCRIPT)
    (tmp_path / "ok.osh").write_text("# a comment\ncd ~~g\npr greeting\n\nanswer + 1\n")
    proc = otrace("--batch", "ok.osh", "script.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "globals> pr greeting" in lines           # each command is echoed after its prompt
    assert "'hello'" in lines and "43" in lines


def test_batch_stops_with_status_1_at_the_first_error(tmp_path):
    (tmp_path / "script.py").write_text(SCRIPT)
    (tmp_path / "bad.osh").write_text("pr greeting\npr no_such_name\npr answer\n")
    proc = otrace("--batch", "bad.osh", "script.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert "no_such_name" in proc.stdout              # the error is printed
    assert "pr answer" not in proc.stdout             # and nothing after it ran


def test_batch_after_a_script_that_keeps_running_says_what_it_waits_for(tmp_path):
    (tmp_path / "slow.py").write_text("import time\nstarted = True\ntime.sleep(2 + 2)\n")
    (tmp_path / "ok.osh").write_text("pr started\n")
    proc = otrace("--batch", "ok.osh", "slow.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        "otrace: --batch ok.osh runs when slow.py returns or serves an asyncio/Tornado loop, and it "
        "does neither yet (a threaded server: give the file to the script's own option, or use -f FUNC)"]
    assert "True" in proc.stdout.splitlines()        # and it ran once the script returned


TORNADO_MAIN = '''
import asyncio
import tornado.web
listening = False
class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world")
def make_app():
    return tornado.web.Application([(r"/", MainHandler)])
async def main():                               # as Tornado's documentation writes it
    global listening
    make_app().listen(0, "127.0.0.1")
    listening = True
    await asyncio.Event().wait()
if __name__ == "__main__":
    asyncio.run(main())
'''

TORNADO_IOLOOP = '''
import tornado.ioloop
import tornado.web
class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world")
if __name__ == "__main__":                      # the older style: IOLoop.current().start()
    tornado.web.Application([(r"/", MainHandler)]).listen(0, "127.0.0.1")
    listening = True
    try:
        tornado.ioloop.IOLoop.current().start()
    finally:
        print("loop stopped", flush=True)
'''


@pytest.mark.parametrize("source", [TORNADO_MAIN, TORNADO_IOLOOP], ids=["asyncio.run", "IOLoop.start"])
def test_batch_runs_over_a_tornado_app_written_as_tornados_docs_do_then_stops_it(tmp_path, source):
    """A Tornado app that never returns is recognised as serving: its batch runs over the running
    app, then it is stopped as Ctrl-C would."""
    (tmp_path / "app.py").write_text(source)
    (tmp_path / "cmds.osh").write_text("pr listening\n")
    proc = otrace("--batch", "cmds.osh", "app.py", cwd=tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[:2] == ["globals> pr listening", "True"]   # it ran over the running app
    assert proc.stderr.splitlines() == ["otrace: --batch cmds.osh done; stopping app.py as Ctrl-C would"]


def test_batch_stops_a_tornado_app_started_with_sigint_ignored(tmp_path):
    """Started as a background job of a shell without job control (SIGINT ignored, inherited), the
    batch still stops the app as Ctrl-C would, instead of waiting for ever."""
    (tmp_path / "app.py").write_text(TORNADO_MAIN)
    (tmp_path / "cmds.osh").write_text("pr listening\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), CI="1")
    proc = subprocess.run([sys.executable, "-m", "otrace_server.cli", "--batch", "cmds.osh", "app.py"], cwd=tmp_path,
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[:2] == ["globals> pr listening", "True"]
    assert proc.stderr.splitlines() == ["otrace: --batch cmds.osh done; stopping app.py as Ctrl-C would"]


def test_hello_trace_runs_its_tutorial_batch_under_otrace():
    """The server never returns, so the demo's own --batch runs the tutorial over the running app."""
    proc = otrace("--no-lsp", str(ROOT / "demos" / "hello_trace.py"), "--port", "0",
                  "--batch", str(ROOT / "demos" / "hello_test.osh"), cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert "Receive.respond:ex-ZeroDivisionError:" in proc.stdout
    assert proc.stdout.rstrip().endswith("safe_mode = True")


def test_batch_without_script_and_unreadable_batch_file(tmp_path):
    (tmp_path / "cmds.osh").write_text("set max_recent 5\nset max_recent\n")
    proc = otrace("--batch", "cmds.osh", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "max_recent = 5" in proc.stdout
    proc = otrace("--batch", "missing.osh", cwd=tmp_path)
    assert proc.returncode == 2
    assert "cannot read batch file" in proc.stderr
    (tmp_path / "binary.osh").write_bytes(b"pwd\n\xff\xfe\n")   # was a UnicodeDecodeError traceback, status 1
    proc = otrace("--batch", "binary.osh", cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (2, "otrace: cannot read batch file: binary.osh is not UTF-8 text "
                                                 "(byte 0xff at offset 4)\n")


def test_ps_skips_discovery_files_that_are_not_records(tmp_path):
    """Files under the discovery names of live pids that are not records: ``ps`` lists the good
    one and skips the others. A FIFO blocked it forever; a record whose argv holds numbers, whose
    ``started`` is text or whose ``fleet`` is not an object crashed it with a traceback."""
    rundir = tmp_path / "run" / "otrace"
    rundir.mkdir(parents=True)
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(5)]
    try:
        good, fifo, numbers, text, fleet = (p.pid for p in sleepers)
        record = {"argv": ["good.py"], "cwd": "/srv", "host": "127.0.0.1", "lsp_port": 4711, "dap_port": None,
                  "token": "t", "started": 0, "fleet": None}
        (rundir / f"otrace-{good}.json").write_text(json.dumps({**record, "pid": good}))
        os.mkfifo(rundir / f"otrace-{fifo}.json")
        for pid, bad in ((numbers, {"argv": [1, None]}), (text, {"started": "yesterday"}), (fleet, {"fleet": "x"})):
            (rundir / f"otrace-{pid}.json").write_text(json.dumps({**record, "pid": pid, **bad}))
        env = {"XDG_RUNTIME_DIR": str(tmp_path / "run")}
        proc = otrace("ps", cwd=tmp_path, env_extra=env)
        assert (proc.returncode, proc.stderr) == (0, "")
        assert [line.split()[0] for line in proc.stdout.splitlines()[1:]] == [str(good)]
        as_json = otrace("ps", "--json", cwd=tmp_path, env_extra=env)
        assert [p["pid"] for p in json.loads(as_json.stdout)] == [good]
    finally:
        for p in sleepers:
            p.kill()
            p.wait()


def test_ps_lists_live_processes_and_drops_stale_files(tmp_path):
    rundir = tmp_path / "run" / "otrace"
    rundir.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = rundir / f"otrace-{dead.pid}.json"
    stale.write_text(json.dumps({"pid": dead.pid, "argv": ["gone.py"], "cwd": "/", "host": "127.0.0.1",
                                 "lsp_port": 1, "dap_port": None, "token": "t", "started": 0}))
    live = rundir / f"otrace-{os.getpid()}.json"
    live.write_text(json.dumps({"pid": os.getpid(), "argv": ["alive.py", "--x"], "cwd": "/srv",
                                "host": "127.0.0.1", "lsp_port": 4711, "dap_port": None,
                                "token": "secret-token", "started": 0}))
    proc = otrace("ps", cwd=tmp_path, env_extra={"XDG_RUNTIME_DIR": str(tmp_path / "run")})
    assert proc.returncode == 0, proc.stderr
    assert "alive.py --x" in proc.stdout and "4711" in proc.stdout
    assert "gone.py" not in proc.stdout
    assert "secret-token" not in proc.stdout          # the token is never shown
    assert not stale.exists()
    as_json = otrace("ps", "--json", cwd=tmp_path, env_extra={"XDG_RUNTIME_DIR": str(tmp_path / "run")})
    assert as_json.returncode == 0, as_json.stderr
    assert [(p["pid"], p["argv"], "token" in p) for p in json.loads(as_json.stdout)] == [
        (os.getpid(), ["alive.py", "--x"], False)]
