"""The batch runner: shell command lines run non-interactively (``otrace --batch FILE``, the demos'
own ``--batch``), stopping at the first error.

    status = run_script(app.shell.session("batch"), open("cmds.osh"), sys.stdout, engine=app.engine)

Thread-safety: ``run_script`` runs on the caller's thread (never the app's loop thread: commands may
wait for it); with ``engine``, events arriving on other threads are written under one lock.
"""

from __future__ import annotations

import threading
from typing import Iterable, TextIO

from otrace_server.console.render import format_event, initial_prompt, write_output

__all__ = ["run_script"]


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
    prompt = initial_prompt(session)
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if echo:
            stdout.write(f"{prompt}{line}\n")
        result = session.execute(line)
        if result.repeat and not result.error:
            result = session.execute(result.repeat)
        write_output(stdout, result.output)
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
