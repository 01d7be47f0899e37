"""otrace_server.autoreload: a Tornado app with ``debug=True`` run under ``otrace`` comes back under
otrace when Tornado's autoreload re-executes it after a source change: its discovery file is
written again (same pid, new ports and token), a real LSP connection to the new run works and
answers shell commands over the new code; a program starting otrace itself removes its discovery
file before the exec."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

from otrace_server import autoreload
from tests.lsp.rpc import Client
from tests.support.served import ROOT, ServedScript, free_port, http_get
from tests.support.waiting import wait_for

APP = '''
import asyncio, sys
import tornado.web

VERSION = {version}

class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write(f"version {{VERSION}}")

async def main():
    app = tornado.web.Application([(r"/", MainHandler)], debug=True)
    app.listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()

if __name__ == "__main__":
    asyncio.run(main())
'''


def discovery_of(run: Path, pid: int) -> dict | None:
    """The discovery record of ``pid`` in the runtime dir ``run``, or None (absent or half-written)."""
    try:
        return json.loads((run / "otrace" / f"otrace-{pid}.json").read_text())
    except (OSError, ValueError):
        return None


def command(info: dict, line: str) -> str:
    """``line`` run over a real LSP connection to the process of discovery record ``info``."""
    client = Client(info["lsp_port"])
    try:
        client.initialize(info["token"], name="autoreload-test")
        return client.request("otrace/command", {"line": line})["output"]
    finally:
        client.close()


def reloaded(script: Path, run: Path, pid: int, before: dict, version: int | None = None) -> dict:
    """Change the script (``version``: its new VERSION; else only its modification time, as an
    editor's save), again every half second (Tornado's autoreload records the times at its first
    look, which may come after a change), until the re-executed process has written its own
    discovery file (a new token); that record."""
    if version is not None:
        script.write_text(APP.format(version=version))
    bumps = iter(range(1, 1000))

    def new_run():
        info = discovery_of(run, pid)
        if info and info["token"] != before["token"]:
            return info
        later = os.stat(script).st_mtime + next(bumps)
        os.utime(script, (later, later))
        return None

    return wait_for(new_run, timeout=30, what="the re-executed process's discovery file", interval=0.5)


def test_the_app_comes_back_under_otrace_after_a_source_change(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(APP.format(version=1))
    run = tmp_path / "run"
    with ServedScript(script, otrace=["--no-console"], env={"XDG_RUNTIME_DIR": str(run)}) as app:
        pid = app.process.pid
        first = wait_for(lambda: discovery_of(run, pid), what="the discovery file")
        assert command(first, "pr VERSION").strip() == "1"
        assert http_get(app.url) == (200, "version 1")

        again = reloaded(script, run, pid, first, version=2)
        assert again["argv"] == first["argv"] and again["cwd"] == first["cwd"]   # what editors match
        assert again["lsp_port"] != first["lsp_port"] or again["started"] > first["started"]
        assert app.process.poll() is None                # the same process, re-executed in place
        app.wait_serving()
        assert command(again, "pr VERSION").strip() == "2"   # the new code, with otrace attached
        assert http_get(app.url) == (200, "version 2")
        app.process.send_signal(signal.SIGINT)
        assert app.wait(10) == 1                         # Ctrl-C, as before the reload
    assert discovery_of(run, pid) is None


SELF_STARTING = '''
import asyncio, sys
import tornado.web
from otrace_server import start

class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write("ok")

async def main():
    app = tornado.web.Application([(r"/", MainHandler)], autoreload=True)
    app.listen(int(sys.argv[1]), "127.0.0.1")
    start(globals(), console=False)
    print("otrace started", flush=True)
    await asyncio.Event().wait()

if __name__ == "__main__":
    asyncio.run(main())
'''


HOLDING = APP.replace('''    def get(self):
        self.write''', '''    async def get(self):
        if self.get_argument("n", "") == "77":
            asyncio.get_running_loop().call_soon(lambda: print("held", flush=True))
        await traceassert(self.get_argument("n", "") != "77", label="hold_check", action="hold")
        self.write''').replace("import tornado.web", "import tornado.web\nfrom otrace_server import traceassert")


def test_a_request_held_when_the_source_changes_gets_its_answer_before_the_reload(tmp_path):
    """The exec ends the process at once: the held request is answered (outcome ``shutdown``, the
    old code's answer) before it, not dropped with its connection; the new run serves the new code."""
    script = tmp_path / "app.py"
    script.write_text(HOLDING.format(version=1))
    run = tmp_path / "run"
    with ServedScript(script, otrace=["--no-console", "-s", "trace_active=True"],
                      env={"XDG_RUNTIME_DIR": str(run)}) as app:
        pid = app.process.pid
        first = wait_for(lambda: discovery_of(run, pid), what="the discovery file")
        answers = []
        client = threading.Thread(target=lambda: answers.append(http_get(app.url + "/?n=77", timeout=30)))
        client.start()
        app.wait_line("held")
        reloaded(script, run, pid, first, version=2)
        client.join(30)
        assert answers == [(200, "version 1")], app.output
        app.wait_serving()
        assert http_get(app.url) == (200, "version 2")


def test_a_program_starting_otrace_itself_writes_a_fresh_discovery_file_after_the_reload(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(SELF_STARTING)
    run = tmp_path / "run"
    with ServedScript(script, env={"XDG_RUNTIME_DIR": str(run)}) as app:
        pid = app.process.pid
        first = wait_for(lambda: discovery_of(run, pid), what="the discovery file")
        again = reloaded(script, run, pid, first)
        assert command(again, "pr 6 * 7").strip() == "42"
        assert app.output.count("otrace started") == 2


def test_the_command_line_of_a_re_execution(monkeypatch):
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    monkeypatch.setattr(sys, "argv", ["/venv/bin/otrace", "app.py"])
    try:
        assert autoreload.reexecute_as(["--no-console", "app.py", "8888"]) == [
            "/venv/bin/otrace", "--no-console", "app.py", "8888"]
        spec = type("Spec", (), {"name": "otrace_server.cli"})()
        monkeypatch.setattr(sys.modules["__main__"], "__spec__", spec, raising=False)   # python -m otrace_server.cli
        assert autoreload.reexecute_as(["app.py"]) == ["-m", "otrace_server.cli", "app.py"]
    finally:
        assert autoreload.reexecute_as(None) is None


def test_the_terminal_console_comes_back_after_the_reload(tmp_path):
    """Under a terminal (a pty): the console of the re-executed run prompts and answers over the
    new code."""
    import pty

    script = tmp_path / "app.py"
    script.write_text(APP.format(version=1))
    run = tmp_path / "run"
    master, slave = pty.openpty()
    seen = bytearray()

    def read_until(text: bytes, start: int = 0, timeout: float = 20) -> int:
        def found():
            readable, _, _ = select.select([master], [], [], 0.1)
            if readable:
                try:
                    seen.extend(os.read(master, 65536))
                except OSError:
                    pass
            return seen.find(text, start) + 1
        return wait_for(found, timeout, f"{text!r} on the terminal (got {bytes(seen)!r})", interval=0) - 1

    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_RUNTIME_DIR=str(run), TERM="dumb")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "otrace_server.cli", str(script), str(port)], cwd=tmp_path,
                            env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        first_prompt = read_until(b"globals> ")
        first = wait_for(lambda: discovery_of(run, proc.pid), what="the discovery file")
        reloaded(script, run, proc.pid, first, version=2)
        read_until(b"globals> ", first_prompt + 1)          # the new run's console
        os.write(master, b"pr VERSION\n")
        read_until(b"\r\n2\r\n", first_prompt + 1)
    finally:
        proc.kill()
        proc.wait(10)
        os.close(master)
