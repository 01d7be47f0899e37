"""The terminal console: otrace's interactive front end over one shell session.

    from otrace_server.shell import Shell
    session = Shell(engine, globals()).session("console")
    Console(session, engine).run()        # blocks until EOF (Ctrl-D) or `quit`; the app keeps running

What it does:
    - reads command lines (GNU readline when stdin is the process's terminal: TAB completion through
      ``session.complete``, history kept in ``~/.otrace_history`` unless the CI variable is set;
      plain line reading otherwise, prompts still printed), runs them with ``session.execute`` and
      prints the output; a second TAB lists the choices by their last path component (like bash),
      a directory ending with ``/``;
    - prints engine events as they happen (trace ids, holds with how to resume them, resumes, output)
      WITHOUT corrupting a half-typed line: the line is wiped, the event printed on its own line,
      and the prompt plus the typed text redrawn;
    - ``repeat``: redraws a command's output every ``repeat_interval`` until a line is typed or a
      trace context is recorded; ``edit``: opens ``set editor`` / $EDITOR / vi on a temporary file,
      then patches with the edited source; ``lock`` / ``auto_lock``: no command runs until the
      password (``set password``) is typed; events that happen meanwhile are shown after unlocking;
    - while a hold or break waits for ``resume``, the prompt starts with ``BRK:`` (as otrace's did
      at a breakpoint), redrawn as soon as one starts or the last one ends;
    - log records of WARNING and above are printed the same way when the application configured
      no logging (they would otherwise go to stderr through logging.lastResort, across the typed
      line: e.g. Tornado's "Uncaught exception" tracebacks);
    - on a terminal, the application's own output (``print``, ``sys.stdout``/``sys.stderr`` writes
      from threads other than the console's) is printed the same way, line by line: while the
      console runs, ``sys.stdout`` (and ``sys.stderr`` when it is the same terminal) are replaced by
      ``ConsoleStream`` objects, and the original streams are put back when it stops;
    - Ctrl-C cancels the line being typed; EOF (Ctrl-D) and ``quit`` end the console, not the
      application: one line (``CLOSED_MESSAGE``) says so (``CLOSED_AFTER_END`` once the program
      called ``application_ended()``, e.g. the ``otrace`` CLI after its script returned).

``run_script`` runs command lines non-interactively (``--batch`` files), stopping at the first error.

Thread-safety: ``run`` blocks the thread that calls it (app.start() gives it its own daemon thread).
Event callbacks and other threads' output arrive on any thread; they only write to the terminal,
under one lock (a ``ConsoleStream`` never holds its own lock while printing, so no lock-order
deadlock; a write made while one of its lines is being printed goes straight to the original). GNU readline
is process-global: only one Console per process may use it (the one reading ``sys.stdin``).
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
from typing import Any, Iterable, TextIO

from otrace_server.core.errors import OTraceError
from otrace_server.shell.commands.listing import line_wrap

__all__ = ["Console", "ConsoleStream", "run_script", "HISTORY_FILE", "format_event", "WAITING_MARK",
           "CLOSED_MESSAGE", "CLOSED_AFTER_END", "application_ended", "PARTIAL_LINE_DELAY"]

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
#: seconds a line written without its newline by another thread waits before it is printed alone
PARTIAL_LINE_DELAY = 0.2


def application_ended() -> None:
    """Tell the console (any thread) that the application itself has finished, so closing the
    console no longer says it keeps running (the ``otrace`` CLI calls it when its script returns)."""
    _application_ended.set()


def format_event(event) -> str | None:
    """The line a console prints for an engine event, or None for events it does not show.

    ``context``: the trace id (plus the arguments for call/return traces; for holds and breaks also
    the command that resumes them); ``hold_resumed``: ``<id> resumed``; ``output``: the text.
    """
    data = event.data
    if event.kind == "context":
        ctx = data["context"]
        if ctx.ctype in ("holds", "breaks"):
            return f"{ctx.id}  (held; to continue: resume {ctx.id})"
        if ctx.ctype == "traces" and ctx.argvalues:
            return f"{ctx.id} {ctx.argstr}"
        return ctx.id
    if event.kind == "hold_resumed":
        outcome = data.get("outcome")
        return f"{data['hold'].id} {outcome.describe() if outcome is not None else 'resumed'}"
    if event.kind == "output":
        return str(data.get("text", "")).rstrip("\n")
    return None


def run_script(session, lines: Iterable[str], stdout: TextIO, *, echo: bool = True, engine=None) -> int:
    """Run command ``lines`` one after the other (blank lines and ``#`` comments skipped), printing
    each command (after its prompt, when ``echo``) and its output to ``stdout``; with ``engine``,
    its events (trace ids...) are printed too, as they happen.

    Returns 0 when every command succeeded, 1 at the first command whose result is an error (the
    rest is not run). ``repeat`` commands run once; ``edit`` requests cannot be served (error);
    ``quit`` stops with 0.
    """
    if engine is None:
        return _run_lines(session, lines, stdout, echo)
    lock = threading.Lock()

    def show(event) -> None:
        text = format_event(event)
        if text is not None:
            with lock:
                stdout.write(text + "\n")
                stdout.flush()

    unsubscribe = engine.events.subscribe(show)
    try:
        return _run_lines(session, lines, stdout, echo)
    finally:
        unsubscribe()


def _run_lines(session, lines: Iterable[str], stdout: TextIO, echo: bool) -> int:
    prompt = _initial_prompt(session)
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if echo:
            stdout.write(f"{prompt}{line}\n")
        result = session.execute(line)
        if result.repeat and not result.error:
            result = session.execute(result.repeat)
        _write_output(stdout, result.output)
        prompt = result.prompt or prompt
        if result.edit is not None:
            stdout.write(f"edit {result.edit.name}: no editor in batch mode; use 'edit {result.edit.name} < file'\n")
            stdout.flush()
            return 1
        if result.error:
            stdout.flush()
            return 1
        if result.quit:
            break
    stdout.flush()
    return 0


def _initial_prompt(session) -> str:
    try:
        return session.execute("").prompt or "> "
    except Exception:  # a session that refuses empty input: fall back to otrace's plain prompt
        return "> "


def _write_output(stdout: TextIO, text: str | None) -> None:
    if text:
        stdout.write(text if text.endswith("\n") else text + "\n")


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):
        return None


class _FdLines:
    """Lines read straight from a file descriptor (``os.read``), waiting in short ``select`` slices
    so that a stop request ends the wait. Unlike ``sys.stdin.readline()`` it holds no lock of a
    Python stream while it waits: a console thread blocked there after ``stop()`` read one more
    line, and, being a daemon thread holding stdin's lock, made the interpreter's shutdown abort
    ("Fatal Python error: _enter_buffered_busy"). Used by the console's thread only."""

    _SLICE = 0.05

    def __init__(self, fd: int, encoding: str) -> None:
        self.fd = fd
        self.encoding = encoding
        self._buf = b""
        self._eof = False

    def pending(self) -> bool:
        """Whether a line (or EOF) can be returned without waiting."""
        return self._eof or b"\n" in self._buf

    def readline(self, stopped) -> str | None:
        """The next line with its newline ("" at EOF), or None as soon as ``stopped()`` is true."""
        while not self.pending():
            if stopped():
                return None
            try:
                readable, _, _ = select.select([self.fd], [], [], self._SLICE)
                chunk = os.read(self.fd, 65536) if readable else None
            except InterruptedError:
                continue
            except OSError:            # stdin closed under us: as EOF
                chunk = b""
            if chunk is not None:
                self._buf += chunk
                self._eof = not chunk
        line, newline, self._buf = self._buf.partition(b"\n")
        return (line + newline).decode(self.encoding, "replace")


def _same_terminal(stream, other) -> bool:
    """True when both streams write to the same terminal device."""
    fd, other_fd = _fileno(stream), _fileno(other)
    if fd is None or other_fd is None or not _isatty(stream):
        return False
    try:
        return os.path.samestat(os.fstat(fd), os.fstat(other_fd))
    except OSError:
        return False


class _ConsoleLogHandler(logging.Handler):
    """Root-logger handler used while the console runs and the application configured no logging:
    WARNING and above, printed through ``Console.show_line`` (what logging.lastResort would print)."""

    def __init__(self, console: "Console") -> None:
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.show_line(self.format(record))
        except Exception:
            self.handleError(record)


class ConsoleStream:
    """Stands in for ``sys.stdout`` / ``sys.stderr`` while a Console runs on a terminal.

    Text written by ``owner`` (the console's thread) goes straight to ``original``. Text from any
    other thread is cut into lines, each printed with ``console.show_line`` (typed line wiped, the
    line printed, prompt and typed text redrawn); a partial line waits for its newline, or
    ``PARTIAL_LINE_DELAY`` seconds, and is then printed as a line of its own. Nothing is dropped.
    A write made by a thread while it prints one of these lines (e.g. from inside the redraw) goes
    straight to ``original`` (no recursion). ``flush`` flushes ``original``; every other attribute
    (``isatty``, ``fileno``, ``encoding``, ``errors``, ``buffer``...) is the original's (bytes
    written to ``buffer`` bypass the line handling). After ``detach_console()`` (the console
    stopping) every write goes straight to ``original``.
    """

    def __init__(self, console: "Console", original: TextIO, owner: threading.Thread) -> None:
        self.original = original
        self._console = console
        self._owner = owner
        self._lock = threading.Lock()     # guards _partial, _timer, _detached; never held while printing
        self._partial = ""
        self._timer: threading.Timer | None = None
        self._detached = False
        self._local = threading.local()   # .printing: this thread is inside show_line for us

    def write(self, text: str) -> int:
        """Write ``text``; returns ``len(text)``. TypeError for a non-str, like a text stream."""
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if threading.current_thread() is self._owner or getattr(self._local, "printing", False):
            return self.original.write(text)
        with self._lock:
            direct = self._detached
            if not direct:
                head, newline, self._partial = (self._partial + text).rpartition("\n")
                if self._partial and self._timer is None:
                    self._timer = threading.Timer(PARTIAL_LINE_DELAY, self._flush_partial)
                    self._timer.daemon = True
                    self._timer.start()
        if direct:
            return self.original.write(text)
        if newline:
            self._show(head.split("\n"))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.original.flush()

    def detach_console(self) -> None:
        """From now on write straight to ``original``; a pending partial line is written there as is."""
        with self._lock:
            self._detached = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            partial, self._partial = self._partial, ""
        if partial:
            self.original.write(partial)
            self.original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)

    def _flush_partial(self) -> None:
        """Timer thread: print a partial line that got no newline within PARTIAL_LINE_DELAY."""
        with self._lock:
            self._timer = None
            partial, self._partial = self._partial, ""      # always "" once detached
        if partial:
            self._show([partial])

    def _show(self, lines: list[str]) -> None:
        self._local.printing = True
        try:
            for line in lines:
                self._console.show_line(line)
        finally:
            self._local.printing = False


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
        self.interactive = _isatty(self.stdin)
        self._rl = self._readline_module()
        fd = _fileno(self.stdin) if self._rl is None else None
        self._lines = _FdLines(fd, getattr(self.stdin, "encoding", None) or "utf-8") if fd is not None else None
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
            log_handler = _ConsoleLogHandler(self) if not logging.root.handlers else None
            if log_handler is not None:
                logging.root.addHandler(log_handler)
            self._setup_readline()
            self._attached = (unsubscribe, log_handler, self._route_output())
        try:
            if self.banner:
                self._print(self.banner)
            self._prompt = _initial_prompt(self.session)
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
            self._prompt = _initial_prompt(session)

    def stop(self) -> None:
        """End the console (any thread, any number of times). At once: no more engine events or
        log records are printed and ``sys.stdout``/``sys.stderr`` are the original streams again.
        ``run`` returns within 50 ms when stdin is a pipe, a file or a terminal without GNU readline,
        reading nothing more; while GNU readline reads a terminal it returns after the line being
        read, without running it (readline cannot be woken). readline's completer and history are
        restored by ``run`` itself as it returns."""
        self._stop = True
        self._detach()

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
        self._restore_output(routed)

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
        """On a terminal, replace sys.stdout (and sys.stderr when it is the same terminal) by
        ConsoleStreams owned by this thread; returns what ``_restore_output`` puts back."""
        if not (self.interactive and self.stdout is sys.stdout and _isatty(self.stdout)):
            return []
        owner = threading.current_thread()
        routed = []
        for name in ("stdout", "stderr"):
            original = getattr(sys, name)
            if isinstance(original, ConsoleStream) or not _same_terminal(original, self.stdout):
                continue
            stream = ConsoleStream(self, original, owner)
            setattr(sys, name, stream)
            routed.append((name, stream))
        return routed

    @staticmethod
    def _restore_output(routed: list[tuple[str, ConsoleStream]]) -> None:
        """Put the original streams back (unless the application replaced ours meanwhile: then ours
        only stop routing to the console)."""
        for name, stream in routed:
            stream.detach_console()
            if getattr(sys, name) is stream:
                setattr(sys, name, stream.original)

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
        ``stop()`` ended the wait (only when stdin has a file descriptor: see ``_FdLines``)."""
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
        try:
            yield
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, saved)

    def _read_secret(self, prompt: str) -> str | None:
        """A line read with echo off on a terminal (plain line otherwise); None at EOF."""
        with self._lock:
            self.stdout.write(prompt)
            self.stdout.flush()
        fd = _fileno(self.stdin) if self.interactive else None
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
        fd = _fileno(self.stdin)
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
                _write_output(self.stdout, result.output)
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
                and _isatty(self.stdout)):
            return None
        try:
            import readline
        except ImportError:
            return None
        return readline

    def _setup_readline(self) -> None:
        rl = self._rl
        if rl is None:
            return
        try:
            import ctypes
            self._rl_lib = ctypes.PyDLL(rl.__file__)
            self._rl_lib.rl_forced_update_display   # noqa: B018 - probe the symbols
            self._rl_lib.rl_set_prompt.argtypes = [ctypes.c_char_p]
        except (OSError, AttributeError, ImportError):
            self._rl_lib = None
        self._saved_completer = (rl.get_completer(), rl.get_completer_delims())
        rl.set_completer(self._complete)
        rl.set_completion_display_matches_hook(self._display_matches)
        rl.set_completer_delims(" \t\n")
        rl.parse_and_bind("tab: complete")
        rl.parse_and_bind(r'"\C-c": "\C-e\C-u\C-m"')   # discard the line (see _no_interrupt_signal)
        rl.set_history_length(1000)
        if self.history_file:
            with contextlib.suppress(OSError):
                rl.read_history_file(self.history_file)

    def _teardown_readline(self) -> None:
        rl = self._rl
        if rl is None:
            return
        completer, delims = self._saved_completer
        rl.set_completer(completer)
        rl.set_completion_display_matches_hook(None)
        rl.set_completer_delims(delims)
        if self.history_file:
            with contextlib.suppress(OSError):
                rl.write_history_file(self.history_file)

    def _complete(self, text: str, state: int) -> str | None:
        """readline completer: candidates from ``session.complete`` for the word before the cursor."""
        if state == 0:
            rl = self._rl
            line, cursor = rl.get_line_buffer(), rl.get_endidx()
            try:
                items = list(self.session.complete(line, cursor))
            except Exception:
                items = []
            self._matches = [self._as_word(text, item) for item in items]
        return self._matches[state] if state < len(self._matches) else None

    def _display_matches(self, substitution: str, matches: list[str], longest: int) -> None:
        """readline's list of choices (second TAB): each by its last path component, in columns,
        then the prompt and the typed line redrawn."""
        names = [_last_component(m) for m in matches]
        width = shutil.get_terminal_size((80, 24)).columns
        with self._lock:
            self.stdout.write("\n" + line_wrap(names, width) + "\n")
            self.stdout.flush()
            self._redisplay()
            self.stdout.flush()

    @staticmethod
    def _as_word(text: str, item: str) -> str:
        """readline replaces the whitespace-delimited ``text``; a candidate naming only the last path
        component (``globals`` for ``/osh/glo``) is joined to the rest of the word."""
        if item.startswith(text):
            return item
        for sep in ("/", "."):
            head, found, _ = text.rpartition(sep)
            if found:
                return head + sep + item
        return item


def _last_component(path: str) -> str:
    """``/osh/recent/exceptions/`` -> ``exceptions/``, ``config/port`` -> ``port`` (bash's listing)."""
    name = path.rstrip("/").rpartition("/")[2]
    return (name + "/" if path.endswith("/") else name) if name else path
