"""The command registry: every shell command with its help text and its policy, registered by
decorator.

    @command("exec", "exec python_code   # Execute python code", changes_state=True, unsafe=True)
    def exec_(session, call): ...

A command function receives ``(session, call)`` (see ``shell.Call``) and returns a Result or a str
(the output); it raises ``OTraceError`` for bad input (the session turns it into an error Result).

The policy is declared here, once per command: ``unsafe=True`` -- the command runs application
code or starts processes, so the session refuses it while ``safe_mode`` is on, before it runs
(``core.policy.require_unsafe``: one message shape for every front end); ``changes_state=True``
-- the command changes the application or otrace's state (holds, traces, patches, settings,
tags, objects), and each effect it makes writes one audit line where it happens
(``core.audit.record``). Both are shown in the command's help. ``bounded=True`` (or a predicate
``bounded(session, args) -> bool`` for commands where it depends on the arguments) -- the command
only reads otrace's own state (no application object: no ``__repr__``, attribute or call of
theirs; no file, no process, no wait for a loop), with work bounded by otrace's own limits: a
front end may run it on a thread that must never block (``Session.bounded`` checks a whole line;
the language server answers such lines on its control thread, ``lsp.inline``).

Thread-safety: the registry is filled at import time and only read afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from otrace_server.core.policy import HOW_TO_ALLOW

__all__ = ["Command", "COMMANDS", "command", "STATE_CHANGING", "UNSAFE"]

#: the help line of a command declared ``changes_state``
STATE_CHANGING = "Changes state: each effect is written to the audit log."
#: the help line of a command declared ``unsafe``
UNSAFE = f"Refused in safe mode ({HOW_TO_ALLOW})."


@dataclass(frozen=True)
class Command:
    """A registered command: ``usage`` is its one-line synopsis, ``details`` the rest of its help;
    ``changes_state``, ``unsafe`` and ``bounded`` its policy (see the module doc)."""

    name: str
    func: Callable
    usage: str
    details: str = ""
    raw: bool = False          # True: the command takes the raw rest of the line (no shlex split)
    changes_state: bool = False
    unsafe: bool = False
    bounded: Union[bool, Callable[..., bool]] = False

    @property
    def help(self) -> str:
        """The full help text (synopsis, details and the policy lines)."""
        policy = [line for line, on in ((STATE_CHANGING, self.changes_state), (UNSAFE, self.unsafe)) if on]
        parts = [self.details.strip("\n")] if self.details.strip() else []
        if policy:
            parts.append("\n".join(policy))
        return "\n\n".join([self.usage, *parts])


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, details: str = "", *, raw: bool = False, changes_state: bool = False,
            unsafe: bool = False, bounded: Union[bool, Callable[..., bool]] = False) -> Callable:
    """Register the decorated function as the command ``name`` (see the module doc)."""

    def register(func: Callable) -> Callable:
        COMMANDS[name] = Command(name, func, usage, details, raw, changes_state, unsafe, bounded)
        return func

    return register
