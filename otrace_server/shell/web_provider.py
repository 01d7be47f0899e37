"""The provider protocol behind /osh/web, implemented by ``otrace_server.web`` and set as
``shell.web``; without one, /osh/web is empty and JavaScript input answers "not available".

    class MyProvider:
        def clients(self) -> list[WebClientInfo]: ...
        def evaluate_many(self, names, expression, timeout, who="") -> list[tuple[str, str | None, str | None]]: ...

``evaluate_many`` runs ``expression`` as JavaScript in each browser of ``names`` concurrently and
waits at most ``timeout`` seconds in all; it returns ``(name, value_text, None)`` or ``(name, None,
error_text)`` per name, in order. ``who`` names the asking session (audit log). It is called on the
shell's caller thread (never the app's loop thread) and may block up to ``timeout``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["WebClientInfo", "WebProvider"]


@dataclass(frozen=True)
class WebClientInfo:
    """One connected browser: its name (/osh/web/<name>), connection time, page URL, user agent."""

    name: str
    since: float
    url: str = ""
    user_agent: str = ""


@runtime_checkable
class WebProvider(Protocol):
    """What ``shell.web`` must provide (see the module doc)."""

    def clients(self) -> list[WebClientInfo]: ...

    def evaluate_many(self, names: list[str], expression: str, timeout: float,
                      who: str = "") -> list[tuple[str, str | None, str | None]]: ...
