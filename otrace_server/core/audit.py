"""The audit record: one line per state-changing effect, naming who caused it.

    with audit.acting("lsp", "vscode"):        # a front end, where it runs a request or a line
        ...
        audit.record("resume", ids=[hold.id], outcome="continue")   # where the effect happens

Every effect an operator causes (resume, trace/untrace, patch/unpatch, a setting changed, code
executed, tag/untag, a JavaScript evaluation, a Unix command, debugpy started, ...) calls
``record`` once, at the place the effect happens, whichever path led there (a direct command, a
compound line, an alias, ``repeat``, a ``source``d script, the terminal console, an editor's
request or command, a DAP request). The actor comes from a context variable each front end sets
with ``acting`` where it runs a request or a command line (``shell.Session.execute``, the
language server's and the DAP endpoint's worker calls); without one the actor is ``app`` (the
program itself calling otrace's API).

Records go to the logger ``otrace.audit`` (level INFO; ``control.audit.AuditLog`` adds the file
beside the discovery file). One line each, fields ``key=value`` separated by one space::

    front=lsp client=vscode action=resume ids=["GetHandler.get:hd-hold_check:12-00-00"] outcome=continue

``front`` (console, batch, init, lsp, dap, app), ``client`` (the editor's name; absent when the
front end has none), ``action``, then the action's details in the order given. A value that is a
plain word (a letter or ``_`` first, then letters, digits and ``_.:/-``; not ``true``/``false``/
``null``) is written bare, anything else as compact JSON (ASCII only: control characters and
non-ASCII text are escaped, so nothing raw reaches a log file or a terminal). ``parse(line)`` reads
a record back into a dict.

Thread-safety: any thread. The actor is a ``contextvars.ContextVar``: each thread (and asyncio
task) sees the value its own front end set; a new thread starts with none.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

__all__ = ["Actor", "APP", "acting", "actor", "logger", "parse", "record"]

logger = logging.getLogger("otrace.audit")


@dataclass(frozen=True)
class Actor:
    """Who causes an effect: the front end (``front``) and, where there is one, its ``client``."""

    front: str
    client: str | None = None

    @classmethod
    def named(cls, name: str) -> "Actor":
        """The actor of a shell session name: ``"lsp:vscode"`` -> ``Actor("lsp", "vscode")``,
        ``"console"`` -> ``Actor("console")``."""
        front, _, client = name.partition(":")
        return cls(front or "app", client or None)


#: the actor when no front end set one: the program itself, through otrace's Python API
APP = Actor("app")

_actor: contextvars.ContextVar[Actor] = contextvars.ContextVar("otrace_audit_actor", default=APP)

_RESERVED = ("front", "client", "action")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]*\Z")
_LITERALS = ("true", "false", "null")


def actor() -> Actor:
    """The actor of the calling thread or task (``APP`` when no front end set one)."""
    return _actor.get()


@contextmanager
def acting(front: str | Actor, client: str | None = None) -> Iterator[Actor]:
    """Make ``front`` (a front end's name, or an ``Actor``) with ``client`` the actor of the
    records written inside the block, on this thread (or task) only."""
    who = front if isinstance(front, Actor) else Actor(front, client)
    token = _actor.set(who)
    try:
        yield who
    finally:
        _actor.reset(token)


def record(action: str, /, **details: Any) -> None:
    """Write one audit line: the current actor, ``action`` and its ``details`` (see the module
    doc). Callers pass names, ids, numbers and texts, never application objects (a value JSON
    cannot write is written as its ``str``, which would run an object's code)."""
    who = _actor.get()
    fields = [("front", who.front)]
    if who.client is not None:
        fields.append(("client", who.client))
    fields.append(("action", action))
    fields.extend((key, value) for key, value in details.items() if key not in _RESERVED)
    logger.info("%s", " ".join(f"{key}={_text(value)}" for key, value in fields))


def _text(value: Any) -> str:
    if isinstance(value, str) and _WORD.match(value) and value not in _LITERALS:
        return value
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)


def parse(line: str) -> dict[str, Any]:
    """The fields of one audit line (the logger's message, or a line of the audit file after its
    timestamp) as a dict; ValueError when the text is not a record."""
    text = line.strip()
    if not text.startswith("front=") and " front=" in text:   # a file line: "<timestamp> front=..."
        text = text[text.index(" front=") + 1:]
    decoder = json.JSONDecoder()
    fields: dict[str, Any] = {}
    i = 0
    while i < len(text):
        eq = text.find("=", i)
        if eq < 0 or not text[i:eq].isidentifier():
            raise ValueError(f"not an audit record at column {i + 1}: {line!r}")
        key, i = text[i:eq], eq + 1
        if text[i:i + 1] in ('"', "[", "{"):
            value, i = decoder.raw_decode(text, i)
        else:
            end = text.find(" ", i)
            end = len(text) if end < 0 else end
            word, i = text[i:end], end
            value = json.loads(word) if word in _LITERALS or not _WORD.match(word) else word
        fields[key] = value
        if text[i:i + 1] == " ":
            i += 1
    if "front" not in fields or "action" not in fields:
        raise ValueError(f"not an audit record: {line!r}")
    return fields
