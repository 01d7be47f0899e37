"""JavaScript evaluation in /osh/web/<client> (or /osh/web/* for every client) through the
``shell.web`` provider (see shell.providers).

Thread-safety: ``provider.evaluate_many`` blocks the caller's thread for at most ``web_timeout``
(every browser of ``/osh/web/*`` is asked at once).
"""

from __future__ import annotations

from otrace_server.core.errors import OTraceError
from otrace_server.core.policy import require_unsafe
from otrace_server.core.reprs import visible
from otrace_server.shell.result import Result

__all__ = ["evaluate_js"]


def evaluate_js(session, client: str, expression: str) -> Result:
    """Evaluate ``expression`` in one browser (or each, for ``*``); one output line per browser
    (the browser's answer ``core.reprs.visible`` on one line: a browser cannot forge lines or send
    terminal escapes)."""
    provider = session.shell.web
    if provider is None:
        raise OTraceError("/osh/web: not available (no web provider)")
    require_unsafe(session.settings, "JavaScript evaluation")
    timeout = session.settings.web_timeout
    names = [c.name for c in provider.clients()] if client == "*" else [client]
    if not names:
        raise OTraceError("/osh/web: no browser connected")
    try:
        answers = provider.evaluate_many(names, expression, timeout, who=session.name)
    except Exception as exc:
        answers = [(name, None, f"{type(exc).__name__}: {exc}") for name in names]
    lines, errors, values = [], 0, {}
    for name, value, error in answers:
        text = visible(f"error: {error}" if error is not None else str(value), one_line=True)
        errors += error is not None
        values[name] = text
        lines.append(f"{name}: {text}" if client == "*" else text)
    if client != "*" and errors:
        raise OTraceError(lines[0])
    return Result("\n".join(lines), error=errors == len(names), data={"web": values})
