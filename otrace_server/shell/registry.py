"""The command registry: every shell command with its help text, registered by decorator.

    @command("pwd", "pwd [-a]    # Print current working directory", "-a  also print the directory stack")
    def pwd(session, args): ...

A command function receives ``(session, call)`` (see ``shell.Call``) and returns a Result or a str
(the output); it raises ``OTraceError`` for bad input (the session turns it into an error Result).
Thread-safety: the registry is filled at import time and only read afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["Command", "COMMANDS", "command"]


@dataclass(frozen=True)
class Command:
    """A registered command: ``usage`` is its one-line synopsis, ``details`` the rest of its help."""

    name: str
    func: Callable
    usage: str
    details: str = ""
    raw: bool = False          # True: the command takes the raw rest of the line (no shlex split)

    @property
    def help(self) -> str:
        """The full help text (synopsis and details)."""
        return self.usage + ("\n\n" + self.details.strip("\n") if self.details.strip() else "")


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, details: str = "", *, raw: bool = False) -> Callable:
    """Register the decorated function as the command ``name`` (see the module doc)."""

    def register(func: Callable) -> Callable:
        COMMANDS[name] = Command(name, func, usage, details, raw)
        return func

    return register
