"""What the shell needs from outside, typed as Protocols: the front ends above it implement them
and ``otrace_server.app.start`` hands them to ``Shell(...)`` (the shell imports none of them).

    shell = Shell(engine, globals(), tasks=runtime, web=registry, debugger=debugger)

``TaskSource`` (/osh/tasks): the application's asyncio loop (``app_loop``, whose tasks are listed;
read at each listing, it may change as the program makes a new loop; None: no loop runs yet) and
``post_to_app_loop(fn, *args)`` (run ``fn`` soon on that loop, from any thread: ``rm`` of a task
cancels it there). ``otrace_server.runtime.Runtime`` is one.

``WebProvider`` (/osh/web): ``clients()`` lists the connected browsers; ``evaluate_many(names,
expression, timeout, who="")`` runs ``expression`` as JavaScript in each browser of ``names``
concurrently and waits at most ``timeout`` seconds in all; it returns ``(name, value_text, None)``
or ``(name, None, error_text)`` per name, in order. ``who`` names the asking session (audit log).
It is called on the shell's caller thread (never the app's loop thread) and may block up to
``timeout``. ``otrace_server.web.WebRegistry`` is one.

``DebugProvider`` (the ``debug`` command, the editors' "start debugpy"): ``refusal()`` says why
``start`` would refuse now (None: it would not); ``start()`` starts debugpy once and returns
``{host, port, version, attach, started}`` (OTraceError when refused). ``start`` blocks the
caller's thread briefly. ``otrace_server.dap.escalate.Debugger`` is one.

Without a provider (None) its part answers "not available": /osh/tasks and /osh/web are empty.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

__all__ = ["WebClientInfo", "WebProvider", "TaskSource", "DebugProvider"]


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


@runtime_checkable
class TaskSource(Protocol):
    """What ``shell.tasks`` must provide (see the module doc)."""

    app_loop: asyncio.AbstractEventLoop | None

    def post_to_app_loop(self, fn: Callable[..., Any], *args: Any) -> None: ...


@runtime_checkable
class DebugProvider(Protocol):
    """What ``shell.debugger`` must provide (see the module doc)."""

    def refusal(self) -> str | None: ...

    def start(self) -> dict[str, Any]: ...
