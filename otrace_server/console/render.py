"""What the console writes for engine events and shell results: shared by the interactive console
(``interactive.Console``) and the batch runner (``batch.run_script``). What they write of
otrace's is ``core.reprs.visible`` (the last line of defence: the shell's results already are):
an event's text, a result's output, a log line; the application's own prints are its own.

Thread-safety: pure functions; ``write_output`` writes to the stream it is given (callers serialise).
"""

from __future__ import annotations

from typing import Protocol, TextIO

from otrace_server.core.reprs import visible

__all__ = ["format_event", "initial_prompt", "write_output", "LineShower"]


class LineShower(Protocol):
    """What prints a line without corrupting a half-typed one (``Console.show_line``); any thread."""

    def show_line(self, text: str) -> None: ...


def format_event(event) -> str | None:
    """The line a console prints for an engine event (``visible``), or None for events it does not
    show.

    ``context``: the trace id (plus the arguments for call/return traces; for holds and breaks also
    the command that resumes them); ``hold_resumed``: ``<id> resumed`` (``holds_resumed``: that line
    for each); ``hold_client_gone``: that
    the held request's client disconnected; ``output``: the text.
    """
    text = _event_text(event)
    return None if text is None else visible(text)


def _event_text(event) -> str | None:
    data = event.data
    if event.kind == "context":
        ctx = data["context"]
        if ctx.ctype in ("holds", "breaks"):
            return f"{ctx.id}  (held; to continue: resume {ctx.id})"
        if ctx.ctype == "traces" and ctx.argvalues:
            return f"{ctx.id} {ctx.argstr}"
        return ctx.id
    if event.kind in ("hold_resumed", "holds_resumed"):
        outcome = data.get("outcome")
        said = outcome.describe() if outcome is not None else "resumed"
        holds = data["holds"] if event.kind == "holds_resumed" else [data["hold"]]
        return "\n".join(f"{hold.id} {said}" for hold in holds)
    if event.kind == "hold_client_gone":
        return f"{data['hold'].id}  (held; its client disconnected)"
    if event.kind == "output":
        return str(data.get("text", "")).rstrip("\n")
    return None


def initial_prompt(session) -> str:
    """The prompt of ``session`` before any command ran (otrace's plain ``"> "`` when it has none)."""
    try:
        return session.execute("").prompt or "> "
    except Exception:  # a session that refuses empty input: fall back to otrace's plain prompt
        return "> "


def write_output(stdout: TextIO, text: str | None) -> None:
    """Write a result's ``text`` (``visible``) to ``stdout`` ending with one newline (nothing for
    empty text)."""
    if text:
        text = visible(text)
        stdout.write(text if text.endswith("\n") else text + "\n")
