"""JSON payloads of the otrace protocol (docs/PROTOCOL.md) built from engine objects: holds,
trace contexts, outcomes. Pure functions; no I/O.

Thread-safety: the functions only read the (immutable once stored) contexts and holds; they may
be called from any thread.
"""

from __future__ import annotations

from typing import Any, Callable

from otrace_server.core.context import TraceContext
from otrace_server.core.holds import Hold, Outcome
from otrace_server.core.reprs import safe_repr
from otrace_server.core.request_summary import RequestSummary

__all__ = ["hold_payload", "context_payload", "trace_payload", "outcome_payload", "function_name",
           "jsonable", "REPR_LIMIT"]

#: the longest repr of a value sent in a payload
REPR_LIMIT = 1000

#: (file, line) of a context; lets the server map a hold inside patched code back to the source file
Locator = Callable[[TraceContext], "tuple[str, int]"]


def _default_locator(ctx: TraceContext) -> tuple[str, int]:
    return ctx.file, ctx.line


def jsonable(value: Any) -> Any:
    """``value`` when it is plain JSON data (str, number, bool, None, lists/dicts of those), else its repr."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return safe_repr(value, REPR_LIMIT)


def function_name(ctx: TraceContext) -> str:
    """The qualified name of a context's function; code compiled by the live patcher reports
    ``__otrace_patch__.<locals>.Class.method``, shown as ``Class.method``."""
    name = ctx.funcname
    return name.rsplit("<locals>.", 1)[-1] if name.startswith("__otrace_patch__") else name


def hold_payload(hold: Hold, locate: Locator = _default_locator) -> dict[str, Any]:
    """The protocol's Hold object (see docs/PROTOCOL.md)."""
    ctx = hold.context
    file, line = locate(ctx)
    return {
        "id": hold.id, "number": hold.number, "traceId": ctx.id, "label": ctx.label,
        "function": function_name(ctx), "file": file, "line": line, "since": hold.created_wall,
        "age": round(hold.age, 3), "remaining": hold.remaining,
        "summary": _summary(ctx.extra.get("request")),
        "webClient": jsonable(ctx.extra.get("web_client")),
    }


def _summary(request: Any) -> Any:
    """The protocol's ``summary``: ``{method, uri, remote_ip}`` of a RequestSummary; any other
    value (set by other code) as JSON data; null for none."""
    return request.fields() if isinstance(request, RequestSummary) else jsonable(request)


def trace_payload(ctx: TraceContext, locate: Locator = _default_locator) -> dict[str, Any]:
    """A short description of a stored context (``otrace/traces`` items)."""
    file, line = locate(ctx)
    out = {"traceId": ctx.id, "ctype": ctx.ctype, "label": ctx.label, "function": function_name(ctx),
           "file": file, "line": line, "timestamp": ctx.timestamp, "held": ctx.is_held, "saved": ctx.saved}
    if ctx.exc_type:
        out["exception"] = f"{ctx.exc_type}: {ctx.exc_message}"
    return out


def context_payload(ctx: TraceContext,
                    locate: Callable[[str, int], tuple[str, int]] = lambda f, n: (f, n)) -> dict[str, Any]:
    """Variables, call chain and stack of a context (``otrace/context`` result); ``locate(file, line)``
    maps each frame to its source position (frames in patched code -> the file they came from)."""
    out: dict[str, Any] = {
        "traceId": ctx.id,
        "variables": [{"name": k, "repr": safe_repr(v, REPR_LIMIT), "type": type(v).__name__} for k, v in ctx.locals.items()],
        "where": ctx.where,
        "stack": [dict(zip(("file", "line"), locate(f.file, f.line)), function=f.function) for f in ctx.stack],
    }
    if ctx.exc_type:
        out["exception"] = {"type": ctx.exc_type, "message": ctx.exc_message, "traceback": ctx.traceback}
    return out


def outcome_payload(outcome: Outcome | None) -> dict[str, Any]:
    """``{kind, description}`` of how a hold ended."""
    outcome = outcome or Outcome()
    return {"kind": outcome.kind, "description": outcome.describe()}
