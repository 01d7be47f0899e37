"""The terminal console in a REAL pseudo-terminal (pexpect), and with a plain pipe as stdin.

Each test spawns a small program (PROGRAM) that builds a real Shell over its globals and runs a
Console on its own thread, as ``otrace_server.app.start`` does. A background thread of the program
records a real trace context (a failed ``traceassert``) when the test creates a trigger file, so
trace events arrive from another thread at a moment the test chooses.
"""

from __future__ import annotations

import io
import os
import re
import threading
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otrace_server.console import CLOSED_MESSAGE, PARTIAL_LINE_DELAY, Console, ConsoleStream
from otrace_server.core.engine import Engine
from otrace_server.shell import Shell
from tests.support.waiting import wait_for

pexpect = pytest.importorskip("pexpect")

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "globals> "
EVENT = re.compile(r"poke:as-poke:\d\d-\d\d-\d\d")

PROGRAM = r'''
import os, sys, threading, time
from otrace_server.core.engine import get_engine
from otrace_server.core.assertions import traceassert
from otrace_server.shell import Shell
from otrace_server.console import Console

engine = get_engine()
engine.settings.set("trace_active", True)
TRIGGER = sys.argv[1]
alpha_value = 41
alpha_beta = 2
ticks = {"n": 0}

def answer():
    return 41

class Hostile:
    def __repr__(self):
        return "\x1b[2J\x1b]0;owned\x07<hostile \u202eevil>"

hostile_value = Hostile()
globals()["esc\x1b[31mone"] = globals()["esc\x1b[31mtwo"] = 0   # names with escapes, to complete

def escapes():
    seen = Hostile()   # a local of the recorded context
    traceassert(False, label="esc")

def poke():
    traceassert(False, label="poke")

def background():
    while True:
        ticks["n"] += 1
        if os.path.exists(TRIGGER):
            os.unlink(TRIGGER)
            poke()
            open(TRIGGER + ".done", "w").close()          # the event is recorded
        if os.path.exists(TRIGGER + ".log"):
            os.unlink(TRIGGER + ".log")
            import logging
            logging.getLogger("app").error("disk almost full")   # no logging configured by the app
        if os.path.exists(TRIGGER + ".print"):
            os.unlink(TRIGGER + ".print")
            print("app says hello")                                    # the app's own output
            print("app complains", file=sys.stderr)
            sys.stdout.write("partial without newline")                 # ends with the flush delay
            sys.stdout.flush()
            time.sleep(1)
            print(f"tty={sys.stdout.isatty()} fd={sys.stdout.fileno()} enc={sys.stdout.encoding}")
        if os.path.exists(TRIGGER + ".esc"):
            os.unlink(TRIGGER + ".esc")
            import logging
            logging.getLogger("app").error("GET /\x1b[2J\x1b[31mred")   # e.g. a request URI, logged
            escapes()
        if os.path.exists(TRIGGER + ".brk"):
            os.unlink(TRIGGER + ".brk")
            traceassert(False, label="brk", action="break")   # blocks this thread until resume
        time.sleep(0.02)

threading.Thread(target=background, daemon=True).start()
console = Console(Shell(engine, globals()).session("console"), engine, history_file=None)
thread = threading.Thread(target=console.run, name="otrace-console")
thread.start()
while thread.is_alive():
    thread.join(0.1)
print("CONSOLE ENDED")
print("restored:", sys.stdout is sys.__stdout__, sys.stderr is sys.__stderr__)
'''


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), CI="1", TERM="xterm")
    env.pop("EDITOR", None)
    return env


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "console_program.py"
    path.write_text(PROGRAM)
    return path


@pytest.fixture
def term(program, tmp_path):
    """The program in a real pseudo-terminal; ``term.trigger()`` records a trace context in it."""
    child = pexpect.spawn(sys.executable, [str(program), str(tmp_path / "trigger")], env=_env(),
                          cwd=str(tmp_path), encoding="utf-8", timeout=10, dimensions=(40, 200))
    child.trigger = lambda: (tmp_path / "trigger").write_text("")
    child.wait_triggered = lambda: wait_for((tmp_path / "trigger.done").exists, what="the trace event")
    child.trigger_break = lambda: (tmp_path / "trigger.brk").write_text("")
    child.trigger_log = lambda: (tmp_path / "trigger.log").write_text("")
    child.trigger_print = lambda: (tmp_path / "trigger.print").write_text("")
    child.trigger_escapes = lambda: (tmp_path / "trigger.esc").write_text("")
    child.expect_exact(PROMPT)
    yield child
    if child.isalive():
        child.terminate(force=True)


def test_prompt_and_command(term):
    term.sendline("alpha_value")
    term.expect_exact("41")
    term.expect_exact(PROMPT)
    term.sendline("cd alpha_nothing")
    term.expect(r"alpha_nothing")          # an error line, and the console goes on
    term.expect_exact(PROMPT)
    term.sendline("alpha_beta")
    term.expect_exact("2")


def test_tab_completes_a_unique_name_and_lists_choices(term):
    term.send("alpha_v\t")
    term.expect_exact("alpha_value")        # completed on the line
    term.send("\r")
    term.expect_exact("41")
    term.expect_exact(PROMPT)
    term.send("alpha_\t\t")                 # ambiguous: the second TAB lists the choices
    term.expect(r"alpha_beta\s+alpha_value")
    term.send("beta\r")                     # the typed prefix is still on the line
    term.expect(r"\r\n2\r\n")


def test_tab_on_a_unique_directory_adds_a_slash_and_lists_last_components(term):
    term.send("cd /osh/rec\t")
    term.expect_exact("cd /osh/recent/")     # like bash: the next TAB goes on into it
    term.send("\t\t")                        # the choices, by their last component only
    listing = term.expect(r"asserts/\s+breaks/\s+exceptions/\s+holds/\s+tags/\s+traces/")
    assert listing == 0 and "/osh/recent/asserts" not in term.before + term.after
    term.expect_exact(PROMPT + "cd /osh/recent/")   # the prompt and typed line redrawn
    term.send("exc\t\r")
    term.expect_exact("osh..exceptions> ")


def test_trace_event_while_a_line_is_half_typed_keeps_the_line(term):
    term.send("pr alph")
    term.expect_exact("pr alph")            # echoed: the console's line holds it
    term.trigger()
    term.expect(EVENT)                      # the event on its own line ...
    term.expect_exact(PROMPT + "pr alph")   # ... then the prompt and the half-typed text redrawn
    term.send("a_value\r")                  # finishing the SAME line runs it whole
    term.expect(r"\r\n41\r\n")
    term.expect_exact(PROMPT)


def test_prompt_is_marked_brk_while_a_break_waits(term):
    term.send("pr alph")
    term.expect_exact("pr alph")            # echoed: the console's line holds it
    term.trigger_break()                    # a thread stops at a break while a line is half typed
    term.expect(r"background:br-brk:\d\d-\d\d-\d\d  \(held; to continue: resume ")
    term.expect_exact("BRK:" + PROMPT + "pr alph")   # redrawn at once with otrace's BRK: mark
    term.send("a_value\r")
    term.expect(r"\r\n41\r\n")
    term.expect_exact("BRK:" + PROMPT)      # still waiting
    ticks = "ticks['n']"
    term.sendline("resume all")
    term.expect(r"Resuming background:br-brk:")
    term.expect(r"\r\n" + re.escape(PROMPT))  # the mark is gone with the last break
    term.sendline(ticks)                    # and the stopped thread runs again
    term.expect(r"\r\n(\d+)\r\n")
    first = int(term.match.group(1))

    def ticked():
        term.sendline(ticks)
        term.expect(r"\r\n(\d+)\r\n")
        return int(term.match.group(1)) > first

    wait_for(ticked, what="the thread to tick again")


def test_app_log_record_while_a_line_is_half_typed_keeps_the_line(term):
    term.send("pr alph")
    term.expect_exact("pr alph")            # echoed: the console's line holds it
    term.trigger_log()
    term.expect_exact("\r\x1b[Kdisk almost full\r\n")   # the typed line wiped, the record on its own line
    term.expect_exact(PROMPT + "pr alph")                # ... then prompt and typed text redrawn
    term.send("a_value\r")
    term.expect(r"\r\n41\r\n")


def test_app_output_from_another_thread_while_a_line_is_half_typed_keeps_the_line(term):
    term.send("pr alph")
    term.expect_exact("pr alph")            # echoed: the console's line holds it
    term.trigger_print()
    for line in ("app says hello", "app complains", "partial without newline"):   # stdout, stderr, partial
        term.expect_exact("\r\x1b[K" + line + "\r\n")      # the typed line wiped, the output on its own line
        term.expect_exact(PROMPT + "pr alph")               # ... then prompt and typed text redrawn
    term.expect(r"\r\x1b\[Ktty=True fd=1 enc=utf-8\r\n")   # the stand-in behaves as the original
    term.expect_exact(PROMPT + "pr alph")
    assert PROMPT + "app" not in term.before
    term.send("a_value\r")                                   # finishing the SAME line runs it whole
    term.expect(r"\r\n41\r\n")
    term.sendline("quit")
    term.expect_exact("CONSOLE ENDED")
    term.expect_exact("restored: True True")                # the original streams are back


def test_escapes_in_reprs_log_records_and_events_are_shown_as_text(term):
    term.sendline("set safe_mode False")        # safe mode would show <Hostile object at 0x..>: no app repr
    term.expect_exact(PROMPT)
    term.logfile_read = seen = io.StringIO()   # everything the terminal received from here on
    term.sendline("hostile_value")
    term.expect_exact("\\x1b[2J\\x1b]0;owned\\x07<hostile \\u202eevil>\r\n")
    term.expect_exact(PROMPT)
    term.trigger_escapes()
    term.expect_exact("GET /\\x1b[2J\\x1b[31mred\r\n")            # a log record
    term.expect(r"escapes:as-esc:\d\d-\d\d-\d\d")                  # its event
    term.sendline("cd ~~")
    term.sendline("ls -l")
    term.expect_exact("= \\x1b[2J\\x1b]0;owned\\x07<hostile \\u202eevil>\r\n")   # a local of it
    term.expect_exact("> ")
    raw = seen.getvalue()
    assert all(s not in raw for s in ("\x1b[2J", "\x1b]0", "\x07", "\u202e", "\x1b[31m")), raw


def test_completion_choices_named_with_escapes_are_listed_as_text(term):
    term.logfile_read = seen = io.StringIO()
    term.send("esc\t\t")                   # two names: the second TAB lists them
    term.expect(r"esc\\x1b\[31mone\s+esc\\x1b\[31mtwo")
    term.send("\x03")
    term.expect_exact(PROMPT)
    assert "\x1b[31m" not in seen.getvalue(), seen.getvalue()


def test_event_between_commands_is_printed(term):
    term.trigger()
    term.expect(EVENT)
    term.sendline("ls ~~")
    term.expect(r"/osh/recent/asserts/poke/as-poke/\d\d-\d\d-\d\d")


def test_ctrl_c_cancels_the_line_and_the_console_goes_on(term):
    term.send("this line is cancelled")
    term.send("\x03")
    term.expect_exact(PROMPT)
    term.sendline("alpha_beta")
    term.expect(r"\r\n2\r\n")
    assert term.isalive()


def test_lock_asks_for_the_password_without_echo(term):
    term.sendline("set password s3cret")
    term.expect_exact(PROMPT)
    term.sendline("lock")
    term.expect_exact("Password: ")
    assert term.before.count("locked") == 1 and "console locked; type the password to unlock" in term.before
    term.sendline("wrong")
    term.expect_exact("wrong password")
    term.expect_exact("Password: ")
    term.sendline("s3cret")
    term.expect_exact("console unlocked")
    assert "s3cret" not in term.before and "wrong\r" not in term.before   # echo was off
    term.expect_exact(PROMPT)
    term.sendline("alpha_value")
    term.expect_exact("41")


def test_events_while_locked_are_shown_after_unlock(term):
    term.sendline("set password pw")
    term.expect_exact(PROMPT)
    term.sendline("lock")
    term.expect_exact("Password: ")
    term.trigger()
    term.wait_triggered()                   # recorded while locked
    term.sendline("pw")
    term.expect_exact("console unlocked")
    assert not EVENT.search(term.before)
    term.expect(EVENT)


def test_repeat_redraws_until_a_line_is_typed(term):
    term.sendline('repeat pr ticks["n"]')
    term.expect_exact('repeat pr ticks["n"]')
    term.expect(r"\r\n(\d+)\r\n")
    first = int(term.match.group(1))
    term.expect_exact('repeat pr ticks["n"]')     # redrawn ...
    term.expect(r"\r\n(\d+)\r\n")
    assert int(term.match.group(1)) > first        # ... with fresh output
    term.sendline("")
    term.expect_exact(PROMPT)
    term.sendline("alpha_beta")
    term.expect(r"\r\n2\r\n")


def test_repeat_stops_at_a_trace_event(term):
    term.sendline('repeat pr ticks["n"]')
    term.expect_exact('repeat pr ticks["n"]')
    term.trigger()
    term.expect(EVENT)
    term.expect_exact(PROMPT)
    term.sendline("alpha_beta")
    term.expect(r"\r\n2\r\n")


def test_edit_opens_the_editor_and_patches(term):
    term.sendline("set safe_mode False")
    term.expect_exact(PROMPT)
    term.sendline("set editor 'sed -i s/41/42/'")    # a non-interactive "editor" on the temp file
    term.expect_exact(PROMPT)
    term.sendline("edit answer")
    term.expect_exact(PROMPT)
    term.sendline("answer()")
    term.expect(r"\r\n42\r\n")


def test_eof_ends_the_console_not_the_program(term):
    term.sendeof()
    term.expect_exact(CLOSED_MESSAGE)          # one line saying the application goes on
    term.expect_exact("CONSOLE ENDED")
    assert CLOSED_MESSAGE not in term.before
    term.expect(pexpect.EOF)
    term.close()
    assert term.exitstatus == 0


def test_quit_says_the_application_keeps_running(term):
    term.sendline("quit")
    term.expect_exact(CLOSED_MESSAGE)
    term.expect_exact("CONSOLE ENDED")
    term.expect(pexpect.EOF)


TORNADO_APP = """
import asyncio, sys
import tornado.web

class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world")

async def main():
    tornado.web.Application([(r"/", MainHandler)]).listen(0, "127.0.0.1")
    await asyncio.Event().wait()

if __name__ == "__main__":
    asyncio.run(main())
"""


def test_sigterm_while_the_console_reads_leaves_the_terminal_as_it_was(tmp_path):
    """Tornado's hello world under ``otrace`` in a terminal, stopped by SIGTERM (``kill``, a process
    manager, a file watcher restarting it) while readline reads at the prompt: the process ends by
    the signal and its terminal echoes and reads lines again (readline had it in its own mode)."""
    import signal
    import termios

    (tmp_path / "app.py").write_text(TORNADO_APP)
    child = pexpect.spawn(sys.executable, ["-m", "otrace_server.cli", str(tmp_path / "app.py")], env=_env(),
                          cwd=str(tmp_path), encoding="utf-8", timeout=20)
    try:
        before = termios.tcgetattr(child.child_fd)[3] & (termios.ECHO | termios.ICANON)
        child.expect_exact(PROMPT)
        wait_for(lambda: not termios.tcgetattr(child.child_fd)[3] & termios.ICANON, what="readline reading")
        child.kill(signal.SIGTERM)
        wait_for(lambda: not child.isalive(), what="the end of the process")
        assert termios.tcgetattr(child.child_fd)[3] & (termios.ECHO | termios.ICANON) == before
        assert child.signalstatus == signal.SIGTERM
    finally:
        child.close(force=True)


def test_non_tty_stdin_reads_plain_lines_with_prompts(program, tmp_path):
    proc = subprocess.run([sys.executable, str(program), str(tmp_path / "trigger")], env=_env(), cwd=tmp_path,
                          input="alpha_value\nls -v alpha*\n", capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(PROMPT) >= 3                # prompts printed even without a terminal
    assert "\n41\n" in proc.stdout.replace(PROMPT, "\n")
    assert "alpha_beta" in proc.stdout and "alpha_value" in proc.stdout
    assert proc.stdout.rstrip().endswith("CONSOLE ENDED\nrestored: True True")   # streams never replaced


def test_console_stream_lines_partial_delay_no_recursion_and_detach():
    """In-process, a real Console whose own output IS the stream (the worst case for recursion):
    other threads' lines go through show_line, which writes back into the stream without looping."""
    engine = Engine()
    terminal = io.StringIO()
    console = Console(Shell(engine, {}).session("t"), engine, stdin=io.StringIO(""), stdout=terminal, banner=None)
    stream = ConsoleStream(console, terminal, owner=threading.current_thread())
    console.stdout = stream                       # show_line now writes into the stream itself

    def from_thread(*texts):
        worker = threading.Thread(target=lambda: [stream.write(t) for t in texts])
        worker.start()
        worker.join(5)

    stream.write("owner ")                        # the owner thread writes straight through
    from_thread("one\ntw", "o\nthr")              # cut at newlines; the partial "thr" waits
    assert terminal.getvalue() == "owner one\ntwo\n"
    wait_for(lambda: terminal.getvalue() == "owner one\ntwo\nthr\n", timeout=PARTIAL_LINE_DELAY + 5,
             what="the partial line printed alone after the delay")
    from_thread("tail without newline")
    stream.detach_console()                       # the console stops: the pending partial is kept as is
    from_thread(" after")
    assert terminal.getvalue() == "owner one\ntwo\nthr\ntail without newline after"
    with pytest.raises(TypeError):
        stream.write(b"bytes")
    assert stream.isatty() is False and stream.getvalue() == terminal.getvalue()   # the original's


APP_PROGRAM = r'''
import asyncio, logging, os, sys, time
import otrace_server
from otrace_server.console import ConsoleStream
from otrace_server.core.engine import get_engine

engine = get_engine()
alpha_value = 41
original = sys.stdout
app = otrace_server.start(globals(), app_loop=asyncio.new_event_loop(), console=True, lsp=False, dap_port=None)
while not isinstance(sys.stdout, ConsoleStream):
    time.sleep(0.01)
handlers = list(logging.root.handlers)
print("ROUTED", engine.events.has_subscribers, len(handlers))
while not os.path.exists("go"):                # the test saw the console's prompt: it waits reading
    time.sleep(0.01)
app.stop()
engine.events.publish("output", text="AFTER-STOP")
print("STOPPED", sys.stdout is original, sys.stderr is sys.__stderr__, engine.events.has_subscribers,
      logging.root.handlers == [], flush=True)
app.console_thread.join(10)
print("THREAD ENDED", not app.console_thread.is_alive(), flush=True)
'''


def test_app_stop_stops_the_console_at_once(tmp_path):
    """A real start(console=True) on a terminal, then stop() from the main thread while the console
    thread is blocked reading: its subscription, log handler and sys.stdout routing are gone at
    once; the line it then reads is not run, and its thread ends."""
    path = tmp_path / "app_program.py"
    path.write_text(APP_PROGRAM)
    child = pexpect.spawn(sys.executable, [str(path)], env=_env(), cwd=str(tmp_path), encoding="utf-8",
                          timeout=10, dimensions=(40, 200))
    try:
        child.expect(r"ROUTED True 1")            # console subscribed and logging through it
        if PROMPT not in child.before:
            child.expect_exact(PROMPT)
        (tmp_path / "go").write_text("")
        child.expect(r"STOPPED (\w+) (\w+) (\w+) (\w+)")
        assert child.before.count("AFTER-STOP") == 0
        assert child.match.groups() == ("True", "True", "False", "True")
        child.sendline("alpha_value")              # the blocked read returns; the line is not run
        child.expect(r"THREAD ENDED (\w+)")
        assert child.match.group(1) == "True"
        assert "41" not in child.before
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_stop_ends_a_console_reading_a_pipe_at_once_and_reads_nothing_more():
    """A console on a pipe (not a terminal) waits without holding stdin's lock: stop() ends its
    thread within a fraction of a second, the line written afterwards is left in the pipe, and
    lines split over several writes, or several lines in one write, are each run once."""
    engine = Engine()
    read_fd, write_fd = os.pipe()
    stdin = os.fdopen(read_fd, "r")
    out = io.StringIO()
    console = Console(Shell(engine, {"alpha": 41}).session("pipe"), engine, stdin=stdin, stdout=out, banner=None)
    thread = threading.Thread(target=console.run, daemon=True)
    thread.start()
    try:
        os.write(write_fd, b"alp")
        time.sleep(0.2)                                  # the scenario: the rest of the line comes later
        os.write(write_fd, b"ha + 1\nalpha + 2\n")      # the end of one line and another one, in one write
        deadline = time.monotonic() + 5
        while "43" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "42" in out.getvalue() and "43" in out.getvalue()
        started = time.monotonic()
        console.stop()
        thread.join(5)
        assert not thread.is_alive() and time.monotonic() - started < 1.0
        os.write(write_fd, b"alpha + 3\n")              # nobody reads it any more: still in the pipe
        assert os.read(read_fd, 100) == b"alpha + 3\n"
        assert "44" not in out.getvalue()
    finally:
        os.close(write_fd)
        stdin.close()
