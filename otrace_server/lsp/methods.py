"""The custom ``otrace/*`` requests (docs/PROTOCOL.md): one plain function per method, taking the
client's connection and its params as a plain dict and returning the JSON result.

Every handler runs in a worker thread of the server's pool (never on the control loop, never on
the app's loop), so a slow command never blocks another client. Bad params raise ``ParamsError``
(answered as JSON-RPC "invalid params"); refused operations raise ``OTraceError`` (answered with
code -32001); features that are not set up raise ``NotAvailable`` (code -32003).

Policy: what safe mode refuses is refused by ``core.policy.require_unsafe`` (``otrace/patch`` and
``otrace/fs/writeFile``,
``otrace/webEval``; shell lines by the session, debugpy by its provider); each effect writes its
audit line where it happens (``core.audit.record``: here for resume, trace, untrace, patch and
unpatch; in the shell's commands for ``otrace/command`` lines, whatever the line; in the web
registry for JavaScript; in the debugger for debugpy), as the actor ``LspClient.call`` sets.

Thread-safety: handlers touch the engine (thread-safe) and the connection's own shell session,
which they use under ``conn.session_lock``.
"""

from __future__ import annotations

from typing import Any, Callable

from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server.core.holds import Outcome
from otrace_server.core.outcomes import exception_named, outcome_from
from otrace_server.core.policy import require_unsafe
from otrace_server.lsp.payloads import context_payload, hold_payload, trace_payload
from otrace_server.lsp import live
from otrace_server.placement.promote import patch_change
from otrace_server.shell.oshfiles import OshFiles, SourceError, check_source
from otrace_server.shell.testgen import generate

__all__ = ["ParamsError", "NotAvailable", "ErrorWithData", "REQUESTS", "MAX_WEB_TIMEOUT_MS", "MAX_HOLDS_PAGE",
           "DEFAULT_HOLDS_PAGE"]


class ParamsError(ValueError):
    """The params of a request are missing or of the wrong type (one-line message)."""


class NotAvailable(OTraceError):
    """The feature needs a part of otrace that is not set up (e.g. /osh/web)."""


class ErrorWithData(OTraceError):
    """A refusal (-32001) whose JSON-RPC error carries ``data`` (e.g. a written file's syntax
    error: ``{diagnostics: [{line, column, message}]}``)."""

    def __init__(self, message: str, data: Any) -> None:
        super().__init__(message)
        self.data = data


#: the longest ``otrace/webEval`` wait a client may ask for, in milliseconds
MAX_WEB_TIMEOUT_MS = 60_000
#: holds in one ``otrace/holds`` page: the most a client may ask for, and what it gets when it
#: gives only ``after``
MAX_HOLDS_PAGE = 1000
DEFAULT_HOLDS_PAGE = 100

_TYPES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "an object"}


def _arg(params: dict, key: str, kind: type, default: Any = ..., *, method: str) -> Any:
    if key not in params or params[key] is None:
        if default is ...:
            raise ParamsError(f"{method}: missing '{key}' ({_TYPES[kind]})")
        return default
    value = params[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ParamsError(f"{method}: '{key}' must be {_TYPES[kind]}")
    return value


def command(conn, p: dict) -> dict:
    line = _arg(p, "line", str, method="otrace/command")
    stdin = _arg(p, "stdin", str, None, method="otrace/command")
    with conn.session_lock:
        result = conn.session.execute(line, stdin=stdin) if stdin is not None else conn.session.execute(line)
    out = {"output": result.output, "prompt": result.prompt, "cwd": result.cwd, "error": result.error}
    if result.repeat:
        out["repeat"] = result.repeat
    if result.edit is not None:
        out["edit"] = {"name": result.edit.name, "source": result.edit.source}
    if result.quit:
        out["quit"] = True
    return out


def complete(conn, p: dict) -> dict:
    line = _arg(p, "line", str, method="otrace/complete")
    cursor = _arg(p, "cursor", int, len(line), method="otrace/complete")
    if not 0 <= cursor <= len(line):
        raise ParamsError("otrace/complete: 'cursor' must be within the line")
    with conn.session_lock:
        return {"items": list(conn.session.complete(line, cursor))}


def holds(conn, p: dict) -> dict:
    """Every waiting hold (no params), or one page of them: ``{limit?, after?}`` -> ``{holds,
    total, next}`` (``core.holds.HoldRegistry.page``: O(page), however many wait)."""
    limit = _arg(p, "limit", int, None, method="otrace/holds")
    after = _arg(p, "after", int, None, method="otrace/holds")
    registry, locate = conn.server.engine.holds, conn.server.locate_context
    if limit is None and after is None:
        return {"holds": [hold_payload(h, locate) for h in registry.list()]}
    if limit is not None and not 1 <= limit <= MAX_HOLDS_PAGE:
        raise ParamsError(f"otrace/holds: 'limit' must be between 1 and {MAX_HOLDS_PAGE}")
    page, total, following = registry.page(after, limit or DEFAULT_HOLDS_PAGE)
    return {"holds": [hold_payload(h, locate) for h in page], "total": total, "next": following}


def resume(conn, p: dict) -> dict:
    ids = _arg(p, "ids", list, None, method="otrace/resume")
    every = _arg(p, "all", bool, False, method="otrace/resume")
    if ids is None and not every:
        raise ParamsError("otrace/resume: give 'ids' (a list of trace ids) or 'all': true")
    if ids is not None and not all(isinstance(i, str) for i in ids):
        raise ParamsError("otrace/resume: 'ids' must be a list of strings")
    outcome = _outcome(conn, p, ids)
    return {"resumed": [h.id for h in conn.server.engine.resume(None if every else ids, outcome)]}


def _outcome(conn, p: dict, ids: list[str] | None) -> Outcome:
    """The Outcome of ``otrace/resume`` params (``core.outcomes``: its rules and messages, refusals
    answered -32001): ``value``, ``raise`` in its text form (``"ValueError: bad input"``, or the
    application's own class: ``"Conflict: taken"``, ``"myapp.errors.Conflict"``, looked up in the
    held code's globals, then the shell's) or ``status`` (+ ``reason``)."""
    given = {key: p[key] for key in ("value", "status", "reason") if key in p}
    if "raise" in p:
        given["exception"] = exception_named(p["raise"], _held_globals(conn, ids) + [conn.server.shell.globals])
    return outcome_from(**given)


def _held_globals(conn, ids: list[str] | None) -> list[dict | None]:
    """The globals of the held code of ``ids`` (every hold when None), where a raised name is looked
    up first."""
    holds = conn.server.engine.holds
    held = holds.list() if ids is None else [h for h in map(holds.get, ids) if h is not None]
    return [h.context.globals for h in held]


def context(conn, p: dict) -> dict:
    trace_id = _arg(p, "traceId", str, method="otrace/context")
    return context_payload(conn.server.engine.store.find(trace_id), conn.server.locate)


def traces(conn, p: dict) -> dict:
    ctype = _arg(p, "ctype", str, None, method="otrace/traces")
    limit = _arg(p, "limit", int, 100, method="otrace/traces")
    store = conn.server.engine.store
    found = store.recent(ctype) + [c for c in store.saved() if ctype is None or c.ctype == ctype]
    found.sort(key=lambda c: c.timestamp)
    newest = found[len(found) - max(limit, 0):]     # limit 0: none (found[-0:] would be all of them)
    return {"traces": [trace_payload(c, conn.server.locate_context) for c in newest]}


def trace(conn, p: dict) -> dict:
    name = _arg(p, "name", str, method="otrace/trace")
    condition = _arg(p, "condition", str, None, method="otrace/trace")
    action = _arg(p, "action", str, None, method="otrace/trace")
    count = _arg(p, "count", int, None, method="otrace/trace")
    spec = conn.server.engine.tracer.trace(name, namespace=conn.server.shell.globals, condition=condition,
                                        action=action, count=count)
    audit.record("trace", name=getattr(spec, "name", name), condition=condition, on_match=action, count=count)
    return {"name": getattr(spec, "name", name), "traced": _traced(conn)}


def _undo(conn, p: dict, method: str, undo_all: Callable[[], list], undo: Callable[[str], Any]) -> None:
    """``otrace/untrace`` and ``otrace/unpatch``: ``name`` ("*" or "all": every one) is undone
    (audited as ``untrace``/``unpatch`` with the names undone)."""
    name = _arg(p, "name", str, method=method)
    if name in ("*", "all"):
        gone = [getattr(x, "name", str(x)) for x in undo_all()]
    else:
        gone = [getattr(undo(name), "name", name)]
    if gone:
        audit.record(method.partition("/")[2], names=gone)


def untrace(conn, p: dict) -> dict:
    tracer = conn.server.engine.tracer
    _undo(conn, p, "otrace/untrace", tracer.untrace_all,
          lambda name: tracer.untrace(name, namespace=conn.server.shell.globals))
    return {"traced": _traced(conn)}


def _traced(conn) -> list[str]:
    return [getattr(s, "name", str(s)) for s in conn.server.engine.tracer.traced()]


def patch(conn, p: dict) -> dict:
    name = _arg(p, "name", str, method="otrace/patch")
    source = _arg(p, "source", str, method="otrace/patch")
    return patched(conn, name, source, conn.server.shell.globals)


def patched(conn, name: Any, source: str, namespace: dict, check: Callable[[], None] = lambda: None) -> dict:
    """Patch ``name`` (resolved in ``namespace``, or a Target) with ``source`` as ``otrace/patch`` does (refused
    in safe mode, then ``check()``, then audited once made); the ``Patched`` result."""
    require_unsafe(conn.server.engine.settings, "patch")
    check()
    made = conn.server.engine.patcher.patch(name, source, namespace=namespace)
    audit.record("patch", name=made.name, source=source)
    return {"patched": [pt.name for pt in conn.server.engine.patcher.patches()]}


def unpatch(conn, p: dict) -> dict:
    patcher = conn.server.engine.patcher
    _undo(conn, p, "otrace/unpatch", patcher.unpatch_all, patcher.unpatch)
    return {"patched": [pt.name for pt in patcher.patches()]}


def patches(conn, p: dict) -> dict:
    """Every live patch, "Hold here live" ones with their line (``lsp.live``)."""
    return {"patches": live.patches_payload(conn.server)}


def _web(conn):
    web = conn.server.shell.web
    if web is None:
        raise NotAvailable("not available: /osh/web is not set up in this process (otrace_server.web)")
    return web


def web_clients(conn, p: dict) -> dict:
    return {"clients": conn.server.web_clients(_web(conn))}


def web_eval(conn, p: dict) -> dict:
    client = _arg(p, "client", str, method="otrace/webEval")
    expression = _arg(p, "expression", str, method="otrace/webEval")
    timeout_ms = _arg(p, "timeoutMs", int, None, method="otrace/webEval")
    if timeout_ms is not None and not 0 < timeout_ms <= MAX_WEB_TIMEOUT_MS:
        # a worker waits that long: unbounded waits would let one client tie up the shared pool
        raise ParamsError(f"otrace/webEval: 'timeoutMs' must be between 1 and {MAX_WEB_TIMEOUT_MS}")
    web = _web(conn)
    require_unsafe(conn.server.engine.settings, "JavaScript evaluation")
    timeout = timeout_ms / 1000 if timeout_ms else conn.server.engine.settings.web_timeout
    _, value, error = web.evaluate_many([client], expression, timeout, who=conn.client_name)[0]
    return {"error": error} if error is not None else {"value": value}


def debugpy(conn, p: dict) -> dict:
    """Start debugpy in-process (otrace_server.dap.escalate) and say how to attach."""
    debugger = conn.server.shell.debugger
    if debugger is None:
        raise NotAvailable("not available: otrace's DAP endpoint (and debugpy escalation) is not running")
    return debugger.start()


# ---- /osh as files, patches as diffs, tests from contexts (issue 19) ----------------------------
def _files(conn) -> OshFiles:
    return OshFiles(conn.server.shell)


def fs_stat(conn, p: dict) -> dict:
    found = _files(conn).stat(_arg(p, "path", str, method="otrace/fs/stat"))
    out = {"type": found.type, "size": found.size, "mtime": found.mtime, "readonly": found.readonly}
    return out if found.patched is None else {**out, "patched": found.patched}


def fs_read_directory(conn, p: dict) -> dict:
    entries = _files(conn).read_directory(_arg(p, "path", str, method="otrace/fs/readDirectory"))
    return {"entries": [{"name": e.name, "type": e.type, "readonly": e.readonly,
                         **({} if e.patched is None else {"patched": e.patched})} for e in entries]}


def fs_read_file(conn, p: dict) -> dict:
    text = _files(conn).read_file(_arg(p, "path", str, method="otrace/fs/readFile"))
    out = {"text": text.text, "readonly": text.readonly, "language": text.language, "patched": text.patched}
    return out if text.name is None else {**out, "name": text.name}


def fs_write_file(conn, p: dict) -> dict:
    """Saving a function's file patches it: ``otrace/patch``'s refusal and audit; a source that
    cannot be the patch answers -32001 with ``data.diagnostics`` (nothing patched)."""
    path = _arg(p, "path", str, method="otrace/fs/writeFile")
    text = _arg(p, "text", str, method="otrace/fs/writeFile")
    writable = _files(conn).function_to_write(path)

    def check() -> None:
        try:
            check_source(path, text, writable.function)
        except SourceError as exc:
            raise ErrorWithData(str(exc), {"diagnostics": [
                {"line": d.line, "column": d.column, "message": d.message} for d in exc.diagnostics]}) from None

    return patched(conn, writable.target, text, writable.namespace, check)


def _patch_named(conn, p: dict, method: str):
    name = _arg(p, "name", str, method=method)
    found = conn.server.engine.patcher.get(name)
    if found is None:
        known = ", ".join(pt.name for pt in conn.server.engine.patcher.patches()) or "none"
        raise OTraceError(f"{method}: not patched: {name} (patched: {known})")
    return patch_change(found)


def patch_diff(conn, p: dict) -> dict:
    change = _patch_named(conn, p, "otrace/patchDiff")
    return {"name": change.name, "file": change.file, "startLine": change.start_line, "endLine": change.end_line,
            "original": change.original, "live": change.live, "diff": change.diff}


def promote_patch(conn, p: dict) -> dict:
    change = _patch_named(conn, p, "otrace/promotePatch")
    return {"file": change.file, "startLine": change.start_line, "endLine": change.end_line, "newText": change.live}


def testgen(conn, p: dict) -> dict:
    ctx = conn.server.engine.store.find(_arg(p, "traceId", str, method="otrace/testgen"))
    test = generate(ctx, work_dir=conn.server.shell.work_dir)
    return {"text": test.text, "suggestedName": test.suggested_name, "literal": test.literal,
            "rebuilt": test.rebuilt, "todo": test.todo}


#: method name -> handler(conn, params) -> result
REQUESTS: dict[str, Callable[[Any, dict], dict]] = {
    "otrace/command": command, "otrace/complete": complete, "otrace/holds": holds, "otrace/resume": resume,
    "otrace/context": context, "otrace/traces": traces, "otrace/trace": trace, "otrace/untrace": untrace,
    "otrace/patch": patch, "otrace/unpatch": unpatch, "otrace/patches": patches, "otrace/webClients": web_clients,
    "otrace/webEval": web_eval, "otrace/debugpy": debugpy,
    "otrace/fs/stat": fs_stat, "otrace/fs/readDirectory": fs_read_directory, "otrace/fs/readFile": fs_read_file,
    "otrace/fs/writeFile": fs_write_file, "otrace/patchDiff": patch_diff, "otrace/promotePatch": promote_patch,
    "otrace/testgen": testgen,
}
