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

Modules, one concern each:
    interactive       ``Console``: the readline console (prompt, commands, events, repeat/edit/lock)
    readline_binding  GNU readline's completer, key bindings and history, bound and put back
    fdlines           ``FdLines``: the line reader of a stdin read without GNU readline
    streams           stdout routing: ``ConsoleStream``, ``route_output``/``restore_output``
    logs              ``ConsoleLogHandler``: WARNING+ records printed above the typed line
    batch             ``run_script``: the batch runner
    render            what is written for an engine event or a shell result (shared)
    terminal          is a stream a terminal, its file descriptor, the same terminal as another

Thread-safety: ``run`` blocks the thread that calls it (app.start() gives it its own daemon thread).
Event callbacks and other threads' output arrive on any thread; they only write to the terminal,
under one lock (a ``ConsoleStream`` never holds its own lock while printing, so no lock-order
deadlock; a write made while one of its lines is being printed goes straight to the original). GNU readline
is process-global: only one Console per process may use it (the one reading ``sys.stdin``).
"""

from otrace_server.console.batch import run_script
from otrace_server.console.interactive import (CLOSED_AFTER_END, CLOSED_MESSAGE, HISTORY_FILE, WAITING_MARK,
                                               Console, application_ended)
from otrace_server.console.render import format_event
from otrace_server.console.streams import PARTIAL_LINE_DELAY, ConsoleStream

__all__ = ["Console", "ConsoleStream", "run_script", "HISTORY_FILE", "format_event", "WAITING_MARK",
           "CLOSED_MESSAGE", "CLOSED_AFTER_END", "application_ended", "PARTIAL_LINE_DELAY"]
