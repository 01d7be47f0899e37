"""The provider protocol behind /osh/web, implemented by ``otrace_server.web`` and set as
``shell.web``; without one, /osh/web is empty and JavaScript input answers "not available".

    class MyProvider:
        def clients(self) -> list[WebClientInfo]: ...
        def evaluate(self, name, expression, timeout) -> tuple[str | None, str | None]: ...

``evaluate`` runs ``expression`` as JavaScript in the browser ``name`` and waits at most ``timeout``
seconds; it returns ``(value_text, None)`` or ``(None, error_text)``. It is called on the shell's
caller thread (never the app's loop thread) and may block up to ``timeout``.
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

    def evaluate(self, name: str, expression: str, timeout: float) -> tuple[str | None, str | None]: ...
