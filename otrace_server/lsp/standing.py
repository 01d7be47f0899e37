"""Standing orders: which requests a client may give as fleet orders, which of them stand (are
recorded in the fleet's order log), how an order is described and how a worker applies it.

    ORDER_METHODS                       # the requests that take ``fleetOrder``
    why_not(conn, method, params)       # None: it stands; else why it runs in this worker only
    order_params(method, params)        # what the log keeps of the request (no fleetOrder)
    summary(kind, params)               # "trace GetHandler.get", for people (``otrace/fleet``)
    apply(conn, kind, params)           # apply an order of the log, as the client's request would

A kind is the method of the request that gave the order (``otrace/trace``, ``otrace/untrace``,
``otrace/unpatch``, ``otrace/command``, ``otrace.holdHere``, ``otrace.traceFunction``), or
``breakpoints`` (a DAP session attached with ``fleet: true``: ``{path, breakpoints}``). An order
is applied with the same checks as the request (``lsp.methods``, ``lsp.features``; for
breakpoints the DAP endpoint's safe-mode rule): a refusal stays a refusal.

Standing ``otrace/command`` lines: ``trace NAME...``, ``untrace NAME...`` and ``set PARAMETER
VALUE`` of a parameter that is not security-related (``NOT_STANDING``), in /osh, with no input;
any other line (an effect of its own: ``resume``, Python code, a Unix command, ``cd``) runs in the
worker that received it only.

Thread-safety: ``apply`` runs on a worker thread (it may run application code, as the request
would); the others are pure.
"""

from __future__ import annotations

import shlex
from typing import Any

from otrace_server.core.errors import OTraceError
from otrace_server.lsp import features, methods

__all__ = ["ORDER_METHODS", "NOT_STANDING", "BREAKPOINTS", "why_not", "order_params", "summary", "apply"]

#: the kind of a DAP session's breakpoints of one file
BREAKPOINTS = "breakpoints"
#: the requests that take a ``fleetOrder`` param (commands: as their last argument)
ORDER_METHODS = ("otrace/trace", "otrace/untrace", "otrace/unpatch", "otrace/command", "otrace.holdHere",
                 "otrace.traceFunction")
#: parameters never set fleet-wide: they decide what may run, who may unlock, where files are written
NOT_STANDING = frozenset({"safe_mode", "password", "auto_lock", "pickle_file", "editor", "shell_timeout"})
_STANDING_COMMANDS = ("trace", "untrace", "set")
_PARAMS = {
    "otrace/trace": ("name", "condition", "action", "count"), "otrace/untrace": ("name",),
    "otrace/unpatch": ("name",), "otrace/command": ("line",), "otrace.holdHere": ("uri", "line", "lines"),
    "otrace.traceFunction": ("path", "qualname"),
}


def why_not(conn, method: str, params: dict) -> str | None:
    """None when the request ``method`` with ``params`` is a standing order; else why not (it
    runs in this worker only). Only ``otrace/command`` lines may not stand."""
    if method != "otrace/command":
        return None
    line = params.get("line")
    if not isinstance(line, str) or params.get("stdin") is not None:
        return "a line with input runs in this worker only"
    try:
        words = shlex.split(line)
    except ValueError:
        return "the line does not parse"
    if not words or words[0] not in _STANDING_COMMANDS or len(words) < 2:
        return "only trace NAME, untrace NAME and set PARAMETER VALUE stand fleet-wide"
    if not conn.session.in_osh:
        return "outside /osh a line is a Unix command"
    if words[0] == "set":
        if len(words) != 3:
            return "only set PARAMETER VALUE stands fleet-wide (not a display)"
        if words[1] in NOT_STANDING:
            return f"{words[1]} is security-related: set it in each worker"
    return None


def order_params(method: str, params: dict) -> dict:
    """What the order log keeps of a request's params (its own keys, given ones only)."""
    return {k: params[k] for k in _PARAMS.get(method, ()) if params.get(k) is not None}


def summary(kind: str, params: dict) -> str:
    """One line saying what an order does (``trace GetHandler.get``, ``hold here app.py:12``)."""
    if kind == "otrace/command":
        return str(params.get("line", ""))[:200]
    if kind == "otrace.holdHere":
        return f"hold here {str(params.get('uri', '')).rsplit('/', 1)[-1]}:{params.get('line', 0) + 1}"
    if kind == "otrace.traceFunction":
        return f"trace {params.get('qualname')}"
    if kind == BREAKPOINTS:
        lines = [b.get("line") for b in params.get("breakpoints") or [] if isinstance(b, dict)]
        return f"breakpoints {params.get('path')}: {', '.join(map(str, lines)) or 'none'}"
    words = [kind.rpartition("/")[2], str(params.get("name", ""))]
    words += [f"{key} {params[key]}" for key in ("condition", "action", "count") if params.get(key) is not None]
    return " ".join(words)


def _int(params: dict, key: str) -> int:
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise OTraceError(f"the order has no integer {key!r}")
    return value


def apply(conn, kind: str, params: dict) -> Any:
    """Apply an order of the log (not ``breakpoints``: ``lsp.fleet`` hands those to the DAP
    endpoint's breakpoints) as the request that gave it: ``conn`` is the worker's own fleet
    connection (its shell session, the language server). OTraceError (or ParamsError) when it is
    refused or bad, as the request would have been answered."""
    if kind in methods.REQUESTS and kind in ORDER_METHODS:
        return methods.REQUESTS[kind](conn, params)
    if kind == "otrace.traceFunction":
        return features.trace_function(conn, str(params.get("path")), str(params.get("qualname")))
    if kind == "otrace.holdHere":
        lines = params.get("lines")
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise OTraceError("the order has no document lines")
        return features.hold_here(conn, str(params.get("uri")), lines, _int(params, "line"))
    raise OTraceError(f"unknown order kind {kind!r}")
