"""JSON payloads of the otrace protocol (docs/PROTOCOL.md) built from engine objects: holds,
trace contexts, outcomes. Pure functions; no I/O.

Thread-safety: the functions only read the (immutable once stored) contexts and holds; they may
be called from any thread.
"""

from __future__ import annotations

from typing import Any, Callable

from otrace_server.core.context import TraceContext
from otrace_server.core.holds import Hold, Outcome
from otrace_server.core.objects import is_instance, type_name
from otrace_server.core.reprs import safe_repr
from otrace_server.core.request_summary import RequestSummary

__all__ = ["hold_payload", "context_payload", "trace_payload", "outcome_payload", "function_name",
           "jsonable", "REPR_LIMIT"]

#: the longest repr of a value sent in a payload
REPR_LIMIT = 1000
#: how deep ``jsonable`` copies nested lists and dicts (deeper: their repr)
_JSON_DEPTH = 20

#: (file, line) of a context; lets the server map a hold inside patched code back to the source file
Locator = Callable[[TraceContext], "tuple[str, int]"]


def _default_locator(ctx: TraceContext) -> tuple[str, int]:
    return ctx.file, ctx.line


def jsonable(value: Any, depth: int = _JSON_DEPTH) -> Any:
    """``value`` when it is plain JSON data (str, number, bool, None, lists/dicts of those, of
    their real types, ints under 1024 bits, nested at most ``depth`` deep), else its repr. Lists and
    dicts are read through their builtin type (a subclass's own ``__iter__``/``items`` does not
    run). Never raises."""
    if value is None or is_instance(value, (str, float)):
        return value
    if is_instance(value, int):
        return value if int.bit_length(value) < 1024 else safe_repr(value, REPR_LIMIT)
    if depth > 0 and is_instance(value, (list, tuple)):
        return [jsonable(v, depth - 1) for v in (list.__iter__ if is_instance(value, list) else tuple.__iter__)(value)]
    if depth > 0 and is_instance(value, dict):
        return {safe_repr(k, REPR_LIMIT, render=str): jsonable(v, depth - 1) for k, v in list(dict.items(value))}
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
        "webClient": jsonable(ctx.extra.get("web_client")), "clientGone": hold.client_gone,
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
        "variables": [{"name": k, "repr": safe_repr(v, REPR_LIMIT), "type": type_name(v)} for k, v in ctx.locals.items()],
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
