"""The interactive console: otrace's terminal front end over one shell session.

    from otrace_server.shell import Shell
    session = Shell(engine, globals()).session("console")
    Console(session, engine).run()        # blocks until EOF (Ctrl-D) or `quit`; the app keeps running

What it does: reads command lines (GNU readline on a terminal, ``fdlines.FdLines`` otherwise), runs
them and prints their results; prints engine events (``render.format_event``), log records
(``logs.ConsoleLogHandler``) and other threads' output (``streams.ConsoleStream``) above the line
being typed; ``repeat``, ``edit``, ``lock`` / ``auto_lock``; the ``BRK:`` prompt while a hold waits.
The package docstring (``otrace_server.console``) describes it for the user.

Thread-safety: ``run`` blocks the thread that calls it (app.start() gives it its own daemon thread).
Event callbacks and other threads' output arrive on any thread; they only write to the terminal,
under one lock. GNU readline is process-global: only one Console per process may use it (the one
reading ``sys.stdin``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, TextIO

from otrace_server.console import readline_binding
from otrace_server.console.fdlines import FdLines
from otrace_server.console.logs import ConsoleLogHandler
from otrace_server.console.render import format_event, initial_prompt, write_output
from otrace_server.console.streams import ConsoleStream, restore_output, route_output
from otrace_server.console.terminal import fileno, isatty
from otrace_server.core.errors import OTraceError
from otrace_server.core.reprs import visible
from otrace_server.shell.commands.listing import line_wrap

__all__ = ["Console", "HISTORY_FILE", "WAITING_MARK", "CLOSED_MESSAGE", "CLOSED_AFTER_END", "application_ended"]

#: Where readline history is kept between runs (not used when the CI environment variable is set).
HISTORY_FILE = "~/.otrace_history"
_CLEAR = "\x1b[H\x1b[2J"
_WIPE_LINE = "\r\x1b[K"
_DEFAULT = object()
#: prompt prefix while a hold or break waits for resume (otrace's breakpoint prompt)
WAITING_MARK = "BRK:"
#: printed when the console ends by EOF (Ctrl-D) or ``quit`` while the application goes on
CLOSED_MESSAGE = "console closed; the application keeps running (Ctrl-C to stop it)"
#: printed instead once ``application_ended()`` was called
CLOSED_AFTER_END = "console closed"
_application_ended = threading.Event()


def application_ended() -> None:
    """Tell the console (any thread) that the application itself has finished, so closing the
    console no longer says it keeps running (the ``otrace`` CLI calls it when its script returns)."""
    _application_ended.set()


class Console:
    """The terminal front end over ``session`` (a shell session) and ``engine`` (for events and
    settings). ``stdin``/``stdout`` default to the process's; readline is used only when stdin is
    ``sys.stdin``, stdout is ``sys.stdout`` and both are terminals. ``history_file``: path or None
    (default: ``HISTORY_FILE`` unless the CI environment variable is set). ``banner``: printed first.
    """

    def __init__(self, session, engine, stdin: TextIO | None = None, stdout: TextIO | None = None, *,
                 history_file: Any = _DEFAULT, banner: str | None = "otrace object shell (type 'help' for info)"):
        self.session = session
        self.engine = engine
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.banner = banner
        if history_file is _DEFAULT:
            history_file = None if os.environ.get("CI") else os.path.expanduser(HISTORY_FILE)
        self.history_file = history_file
        self.interactive = isatty(self.stdin)
        self._rl = self._readline_module()
        fd = fileno(self.stdin) if self._rl is None else None
        self._lines = FdLines(fd, getattr(self.stdin, "encoding", None) or "utf-8") if fd is not None else None
        self._rl_lib = None
        self._lock = threading.RLock()   # serialises terminal writes
        self._prompt = "> "
        self._reading = False
        self._locked = False
        self._pending: list[str] = []    # event lines held back while locked
        self._new_context = threading.Event()
        self._last_input = time.monotonic()
        self._was_idle = False           # the line just read came after auto_lock idle seconds
        self._stop = False
        self._terminal_before_read: tuple | None = None   # (fd, termios attributes) while readline reads
        self._attach_lock = threading.Lock()   # guards _attached (run attaches, run or stop detaches)
        self._attached: tuple | None = None

    # ---- public ---------------------------------------------------------------------------------
    def run(self) -> None:
        """Read and execute lines until EOF, ``quit`` or ``stop()``. Never raises for bad input;
        an unexpected error in a command is printed and the console goes on."""
        with self._attach_lock:
            if self._stop:
                return
            unsubscribe = self.engine.events.subscribe(self._on_event)
            log_handler = ConsoleLogHandler(self) if not logging.root.handlers else None
            if log_handler is not None:
                logging.root.addHandler(log_handler)
            self._setup_readline()
            self._attached = (unsubscribe, log_handler, self._route_output())
        try:
            if self.banner:
                self._print(self.banner)
            self._prompt = initial_prompt(self.session)
            while not self._stop:
                line = self._read_line(self._shown_prompt())
                if self._stop:
                    break
                if line is None:
                    self._print("")
                    break
                if self._was_idle and not self._lock_console("idle"):
                    break
                if line.strip() and not self.execute(line):
                    break
            if not self._stop:
                self._print(CLOSED_AFTER_END if _application_ended.is_set() else CLOSED_MESSAGE)
        finally:
            self._detach()
            self._teardown_readline()
            self._print_pending()

    def rebind(self, session) -> None:
        """Go on with the shell ``session`` of another App over the same engine (``start()``
        replacing the ``otrace`` command's App); the next prompt is the new session's. Any thread."""
        with self._lock:
            self.session = session
            self._prompt = initial_prompt(session)

    def stop(self) -> None:
        """End the console (any thread, any number of times). At once: no more engine events or
        log records are printed and ``sys.stdout``/``sys.stderr`` are the original streams again.
        ``run`` returns within 50 ms when stdin is a pipe, a file or a terminal without GNU readline,
        reading nothing more; while GNU readline reads a terminal it returns after the line being
        read, without running it (readline cannot be woken), and the terminal's settings are put
        back at once as they were before that read (a process ending now, as by SIGTERM's default
        action or Tornado's autoreload ``exec``, leaves its terminal as it found it, not in
        readline's no-echo mode). readline's completer and history are restored by ``run`` itself
        as it returns."""
        self._stop = True
        self._detach()
        reading = self._terminal_before_read
        if reading is not None:   # readline reads on: the terminal as it was before, should the process end now
            import termios

            try:
                termios.tcsetattr(reading[0], termios.TCSANOW, reading[1])
            except OSError:
                pass

    def _detach(self) -> None:
        """Undo what ``run`` attached (subscription, log handler, stream routing), once."""
        with self._attach_lock:
            attached, self._attached = self._attached, None
        if attached is None:
            return
        unsubscribe, log_handler, routed = attached
        unsubscribe()
        if log_handler is not None:
            logging.root.removeHandler(log_handler)
        restore_output(routed)

    def execute(self, line: str) -> bool:
        """Run one command line and show its result (repeat, edit and lock included).
        Returns False when the console should end (``quit``, or EOF while locked)."""
        try:
            result = self.session.execute(line)
        except Exception as exc:  # the shell promises not to raise; never let the console die
            self._print(f"error: {exc.__class__.__name__}: {exc}")
            return True
        self._prompt = result.prompt or self._prompt
        if result.repeat and not result.error:
            self._repeat(result.repeat)
            return True
        if (result.data or {}).get("lock") and not result.error:
            return self._lock_console("lock")    # says "console locked" itself (no double message)
        self._print_output(result.output)
        if result.edit is not None:
            self._edit(result.edit)
        return not result.quit

    # ---- output ---------------------------------------------------------------------------------
    def _shown_prompt(self) -> str:
        """The session's prompt, prefixed with WAITING_MARK while a hold or break waits."""
        return (WAITING_MARK if len(self.engine.holds) else "") + self._prompt

    def _print(self, text: str) -> None:
        with self._lock:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def _print_output(self, text: str | None) -> None:
        if text:
            self._print(text.rstrip("\n"))

    def _on_event(self, event) -> None:
        """Engine event callback (any thread): print the event without corrupting the typed line."""
        if event.kind == "context":
            self._new_context.set()
        try:
            text = format_event(event)
        except Exception as exc:
            text = f"(event {event.kind}: {exc})"
        if text is not None:
            self.show_line(text)

    def show_line(self, text: str) -> None:
        """Print ``text`` (any thread) without corrupting a half-typed line; held back while locked."""
        with self._lock:
            if self._locked or self._idle_expired():
                self._pending.append(text)
                return
            if not self._reading:
                self.stdout.write(text + "\n")
            elif self._rl is not None:
                self.stdout.write(_WIPE_LINE + text + "\n")
                self.stdout.flush()
                self._redisplay()
            else:
                self.stdout.write("\n" + text + "\n" + self._shown_prompt())
            self.stdout.flush()

    def _redisplay(self) -> None:
        """Redraw prompt (the current one: holds may have started or ended) + the half-typed line
        on the (fresh) current line."""
        prompt = self._shown_prompt()
        if self._rl_lib is not None:   # PyDLL: runs with the GIL, so not during a keypress
            self._rl_lib.rl_set_prompt(prompt.encode())
            self._rl_lib.rl_forced_update_display()
        else:
            self.stdout.write(prompt + self._rl.get_line_buffer())

    def _print_pending(self) -> None:
        """Print the lines held back by a lock the console ended in (nothing is dropped)."""
        with self._lock:
            pending, self._pending = self._pending, []
            if pending:
                self.stdout.write("".join(p + "\n" for p in pending))
                self.stdout.flush()

    def _route_output(self) -> list[tuple[str, ConsoleStream]]:
        """On a terminal, route sys.stdout (and sys.stderr when it is the same terminal) through
        this console (see ``streams.route_output``); returns what ``restore_output`` puts back."""
        if not (self.interactive and self.stdout is sys.stdout and isatty(self.stdout)):
            return []
        return route_output(self, self.stdout)

    # ---- input ----------------------------------------------------------------------------------
    def _read_line(self, prompt: str) -> str | None:
        """One line without its newline; None at EOF. Ctrl-C cancels the line (returns '')."""
        with self._lock:
            self._reading = True
        try:
            if self._rl is not None:
                with self._no_interrupt_signal():
                    return input(prompt)
            with self._lock:
                self.stdout.write(prompt)
                self.stdout.flush()
            line = self._stdin_line()
            return line.rstrip("\r\n") if line else None
        except EOFError:
            return None
        except KeyboardInterrupt:
            self._print("^C")
            return ""
        finally:
            with self._lock:
                self._reading = False
                self._was_idle = self._idle_expired()
            self._last_input = time.monotonic()

    def _stdin_line(self) -> str | None:
        """A line of the plain (not GNU readline) stdin with its newline; "" at EOF, None when
        ``stop()`` ended the wait (only when stdin has a file descriptor: see ``FdLines``)."""
        if self._lines is not None:
            return self._lines.readline(lambda: self._stop)
        return self.stdin.readline()

    @contextlib.contextmanager
    def _no_interrupt_signal(self):
        """While readline reads, ^C is a plain key (bound to 'discard the line') rather than the
        terminal's interrupt character: SIGINT would go to the application's main thread when the
        console runs on its own thread."""
        try:
            import termios
            fd = self.stdin.fileno()
            saved = termios.tcgetattr(fd)
        except (ImportError, OSError, ValueError):
            yield
            return
        changed = list(saved)
        changed[6] = list(saved[6])
        changed[6][termios.VINTR] = b"\x00"   # _POSIX_VDISABLE: readline forces ISIG on, so disable ^C's char
        termios.tcsetattr(fd, termios.TCSANOW, changed)
        self._terminal_before_read = (fd, saved)
        try:
            yield
        finally:
            self._terminal_before_read = None
            termios.tcsetattr(fd, termios.TCSANOW, saved)

    def _read_secret(self, prompt: str) -> str | None:
        """A line read with echo off on a terminal (plain line otherwise); None at EOF."""
        with self._lock:
            self.stdout.write(prompt)
            self.stdout.flush()
        fd = fileno(self.stdin) if self.interactive else None
        saved = None
        if fd is not None:
            import termios
            saved = termios.tcgetattr(fd)
            quiet = list(saved)
            quiet[3] &= ~termios.ECHO
            termios.tcsetattr(fd, termios.TCSANOW, quiet)
        try:
            line = self._stdin_line()
        except KeyboardInterrupt:
            line = "\n"
        finally:
            if saved is not None:
                termios.tcsetattr(fd, termios.TCSANOW, saved)
                self._print("")
        return line.rstrip("\r\n") if line else None

    def _wait_input_or_context(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True as soon as a line can be read (or EOF) or a context arrived."""
        fd = fileno(self.stdin)
        if fd is None:
            return True                      # cannot watch this stdin: do not repeat forever
        deadline = time.monotonic() + seconds
        while True:
            if self._new_context.is_set() or self._stop:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._lines is not None and self._lines.pending():
                return True
            readable, _, _ = select.select([fd], [], [], min(left, 0.05))
            if readable:
                return True

    # ---- repeat, edit, lock ---------------------------------------------------------------------
    def _repeat(self, command: str) -> None:
        """Re-run ``command`` every repeat_interval, redrawing its output, until input or a trace context."""
        self._new_context.clear()
        while True:
            result = self.session.execute(command)
            with self._lock:
                if self.interactive:
                    self.stdout.write(_CLEAR)
                self.stdout.write(f"repeat {command}   (every {self.engine.settings.repeat_interval}s; "
                                  "type Enter to stop)\n")
                write_output(self.stdout, result.output)
                self.stdout.flush()
            if result.error or result.quit:
                return
            if self._wait_input_or_context(self.engine.settings.repeat_interval):
                return

    def _edit(self, request) -> None:
        """Open the editor on ``request.source``; patch with the edited text when it changed."""
        editor = self.engine.settings.editor or os.environ.get("EDITOR") or "vi"
        with tempfile.NamedTemporaryFile("w", suffix=".py", prefix="otrace-edit-", delete=False) as f:
            f.write(request.source)
            path = f.name
        try:
            try:
                status = subprocess.call(shlex.split(editor) + [path], stdin=self.stdin, stdout=self.stdout)
            except (OSError, ValueError) as exc:
                self._print(f"edit: cannot run editor {editor!r}: {exc}")
                return
            with open(path) as f:
                source = f.read()
        finally:
            os.unlink(path)
        if status != 0:
            self._print(f"edit: editor exited with status {status}; {request.name} not patched")
        elif source == request.source:
            self._print(f"edit: no change; {request.name} not patched")
        else:
            result = self.session.execute(f"edit {request.name}", stdin=source)
            self._prompt = result.prompt or self._prompt
            self._print_output(result.output)

    def _idle_expired(self) -> bool:
        """True when auto_lock is on, a password is set and the console has been idle that long."""
        limit = self.engine.settings.auto_lock
        return bool(limit and self.engine.settings.password and not self._locked
                    and time.monotonic() - self._last_input > limit)

    def _lock_console(self, why: str) -> bool:
        """Refuse every command until ``session.unlock(password)`` succeeds. False at EOF."""
        with self._lock:
            self._locked = True
        self._print("console locked (idle); the line typed was not run" if why == "idle"
                    else "console locked; type the password to unlock")
        while True:
            password = self._read_secret("Password: ")
            if password is None:
                return False
            try:
                ok = self.session.unlock(password)
            except OTraceError as exc:
                self._print(str(exc))
                ok = False
            if ok:
                break
            self._print("wrong password")
        with self._lock:
            self._locked = False
            pending, self._pending = self._pending, []
            self.stdout.write("console unlocked\n" + "".join(p + "\n" for p in pending))
            self.stdout.flush()
        self._last_input = time.monotonic()
        return True

    # ---- readline -------------------------------------------------------------------------------
    def _readline_module(self):
        if not (self.interactive and self.stdin is sys.stdin and self.stdout is sys.stdout
                and isatty(self.stdout)):
            return None
        try:
            import readline
        except ImportError:
            return None
        return readline

    def _setup_readline(self) -> None:
        if self._rl is not None:
            self._rl_lib = readline_binding.library(self._rl)
            self._saved_completer = readline_binding.bind(self._rl, self._complete, self._display_matches,
                                                          self.history_file)

    def _teardown_readline(self) -> None:
        if self._rl is not None:
            readline_binding.unbind(self._rl, self._saved_completer, self.history_file)

    def _complete(self, text: str, state: int) -> str | None:
        """readline completer: candidates from ``session.complete`` for the word before the cursor."""
        if state == 0:
            rl = self._rl
            line, cursor = rl.get_line_buffer(), rl.get_endidx()
            try:
                items = list(self.session.complete(line, cursor))
            except Exception:
                items = []
            self._matches = [readline_binding.as_word(text, item) for item in items]
        return self._matches[state] if state < len(self._matches) else None

    def _display_matches(self, substitution: str, matches: list[str], longest: int) -> None:
        """readline's list of choices (second TAB): each by its last path component, in columns,
        then the prompt and the typed line redrawn. A name is the application's: shown ``visible``."""
        names = [visible(readline_binding.last_component(m), one_line=True) for m in matches]
        width = shutil.get_terminal_size((80, 24)).columns
        with self._lock:
            self.stdout.write("\n" + line_wrap(names, width) + "\n")
            self.stdout.flush()
            self._redisplay()
            self.stdout.flush()
