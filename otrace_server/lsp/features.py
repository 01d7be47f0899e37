"""The standard LSP features on the Python files a client opens (full sync): code actions
("Insert traceassert hold here", "Trace this function", "Hold here live"), code lenses (Resume /
Resume all on held lines, hit counts on traceassert lines, "traced · Untrace" above a traced
function's def), diagnostics for exceptions caught by
traces, hover with a name's value in the most recent hold, the code action "otrace: start debugpy
(real stepping)" (disabled in safe_mode, saying why), and the ``workspace/executeCommand`` commands
behind them (``otrace.resume``, ``otrace.resumeAll``, ``otrace.traceFunction``, ``otrace.holdHere``,
``otrace.showTraces``, ``otrace.unpatch`` -- as ``otrace/unpatch``, removing a live hold --,
``otrace.untrace`` -- as ``otrace/untrace`` --,
``otrace.debugpy`` -- the same path as the ``otrace/debugpy`` request). Live holds: ``lsp.live``.

Diagnostics and Resume lenses follow the user's edits: a line that only moved (lines inserted
above it) is found where it is now (``placement.LineFollower``); when that very line changed, they
say ``CHANGED`` ("file changed since the code was loaded") instead of pointing at a wrong line.

Thread-safety: handlers are registered on a connection's pygls server and start on the control
loop; they read the open document there, then do the work in a worker thread (``LspServer.in_worker``).
``publish_diagnostics`` runs on the control loop.
"""

from __future__ import annotations

import inspect
import linecache
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server import placement
from otrace_server.core.objects import type_name
from otrace_server.core.reprs import safe_repr
from otrace_server.core.textfiles import read_text
from otrace_server.placement import CHANGED
from otrace_server.lsp import document, live, methods

__all__ = ["register", "publish_diagnostics", "exception_signature", "DEBUGPY_TITLE"]

DEBUGPY_TITLE = "otrace: start debugpy (real stepping)"

_TRACEASSERT = re.compile(r"\btraceassert\s*\(")
_DEF_LINE = re.compile(r"\s*(async\s+)?def\s")


def _path(uri: str) -> str:
    """The file path of a ``file:`` URI; JsonRpcInvalidParams for another scheme or a path that
    can name no file (``placement.path_error``)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise JsonRpcInvalidParams(message=f"only file: documents are supported, got {uri!r}")
    path = unquote(parsed.path)
    if (why := placement.path_error(path)) is not None:
        raise JsonRpcInvalidParams(message=f"not a file: the path of {uri!r} {why}")
    return path


def _uri(path: str) -> str:
    return Path(path).absolute().as_uri()


def _open_document(conn, uri: str):
    """The client's open document ``uri``, or None. pygls keys them by the %-decoded URI: looked up
    as sent, a file whose path has a space or non-ASCII letter was never found open (the features
    read the file on disk instead of the buffer)."""
    return conn.ls.workspace.text_documents.get(unquote(uri))


def _lines(conn, uri: str) -> list[str]:
    """The lines of the open document ``uri`` (as LSP counts them), else of the file on disk
    (control loop: ``core.textfiles.read_text``, never a FIFO or a device). JsonRpcInvalidParams
    when it is neither open nor readable."""
    doc = _open_document(conn, uri)
    if doc is not None:
        return document.split_lines(doc.source)
    try:
        return document.split_lines(read_text(_path(uri)))
    except OTraceError as exc:
        raise JsonRpcInvalidParams(message=str(exc)) from None


def _python_lines(conn, uri: str) -> list[str] | None:
    """The lines of ``uri`` when it is a Python document the features apply to, else None (an
    ``untitled:`` buffer, a non-Python file, a file that is neither open nor readable): code
    actions, lenses and hovers are then empty, not errors (control loop)."""
    if urlparse(uri).scheme != "file":
        return None
    doc = _open_document(conn, uri)
    if not document.is_python(_path(uri), doc.language_id if doc is not None else None):
        return None
    try:
        return _lines(conn, uri)
    except JsonRpcInvalidParams:
        return None


def _command(title: str, command: str, *arguments: Any) -> dict:
    return {"title": title, "command": command, "arguments": list(arguments)}


def _range(line: int) -> dict:
    return {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}}


# ---- code actions ------------------------------------------------------------------------------
def code_actions(server, uri: str, lines: list[str], line: int) -> list[dict]:
    """The otrace code actions at 0-based ``line`` of document ``uri`` (worker thread)."""
    path = _path(uri)
    title, edits = insert_edits(lines, line)
    actions = [{"title": title, "kind": "refactor.rewrite", "edit": {"changes": {uri: edits}}}]
    enc = placement.enclosing(lines, line)
    if enc is None:
        return actions + [debugpy_action(server)]
    trace = {"title": f"Trace this function ({enc.qualname})", "kind": "refactor.otrace.trace"}
    hold = {"title": "Hold here live", "kind": "refactor.otrace.holdLive"}
    try:
        if enc.nested_in_function:
            raise OTraceError(f"{enc.qualname} is nested in a function: it has no live name")
        _, func = placement.live_function(path, enc.qualname)
    except OTraceError as exc:
        trace["disabled"] = hold["disabled"] = {"reason": str(exc)}
    else:
        trace["command"] = _command(trace["title"], "otrace.traceFunction", path, enc.qualname)
        patched = live.patched_actions(server, enc.qualname)
        if patched is not None:     # checked first: the patched code differs from the file by design
            hold["disabled"] = {"reason": patched[0]}
            return actions + [trace, hold] + patched[1] + [debugpy_action(server)]
        if not inspect.iscoroutinefunction(func):
            hold["disabled"] = {"reason": f"{enc.qualname} is not an async def: a hold pauses a coroutine"}
        elif not placement.code_matches(func, lines):
            hold["disabled"] = {"reason": CHANGED}
        else:
            hold["command"] = _command("Hold here live", "otrace.holdHere", uri, line)
    return actions + [trace, hold, debugpy_action(server)]


def insert_edits(lines: list[str], line: int) -> tuple[str, list[dict]]:
    """(title, edits) of "Insert traceassert" for 0-based ``line``: ``placement``'s (placed
    where ``placement.statement_start`` says: never inside a continuation line or a string, never
    before a docstring; indented as that line is, tabs staying tabs), every inserted line ending as
    the document's lines do."""
    eol = document.line_ending(lines)
    title, edits = placement.insert_traceassert_edits(lines, line)
    return title, [dict(e, newText=e["newText"].replace("\n", eol)) for e in edits]


def debugpy_action(server) -> dict:
    """The "start debugpy" code action: runs ``otrace.debugpy``, or is disabled saying why (no DAP
    endpoint in this process, safe_mode)."""
    action = {"title": DEBUGPY_TITLE, "kind": "refactor.otrace.debugpy"}
    debugger = server.shell.debugger
    reason = "not available: otrace's DAP endpoint is not running" if debugger is None else debugger.refusal()
    if reason is not None:
        action["disabled"] = {"reason": reason}
    else:
        action["command"] = _command(DEBUGPY_TITLE, "otrace.debugpy")
    return action


# ---- code lenses -------------------------------------------------------------------------------
def code_lenses(server, uri: str, lines: list[str]) -> list[dict]:
    """Resume lenses on held lines and hit counts on traceassert lines (worker thread)."""
    path = _path(uri)
    real = os.path.realpath(path)
    holds = server.engine.holds.list()
    hits = server.hits()
    lenses = []
    followers: dict[str, Any] = {}                      # file -> its _follower
    per_line: dict[int, list[tuple[Any, str]]] = {}     # 0-based line -> (hold, title), oldest first
    for hold in holds:
        file, line = server.locate_context(hold.context)
        if not placement.same_file(file, path):
            continue
        title = f"Resume {hold.context.label}"
        follow = followers.get(file)
        if follow is None:
            follow = followers[file] = _follower(file, lines)
        moved = follow(line)                # (a live hold's line is its source file's)
        if moved is None:
            title = f"{title} (held at line {line}: {CHANGED})"
        per_line.setdefault(moved - 1 if moved is not None else 0, []).append((hold, title))
    for where, held in per_line.items():   # one row per line, however many wait there
        hold, title = held[0]
        if len(held) > 1:
            title = f"{title} (the oldest of {len(held)} here)"
        lenses.append({"range": _range(where), "command": _command(title, "otrace.resume", hold.id)})
        lenses.append({"range": _range(where), "command": _command(f"Resume all ({len(holds)})", "otrace.resumeAll")})
    for i, text in enumerate(lines):
        if not _TRACEASSERT.search(text) or text.lstrip().startswith(("#", "from ", "import ")):
            continue
        counts = hits.get((real, i + 1), {})
        n, h = counts.get("asserts", 0), counts.get("holds", 0)
        if (n or h) and not placement.line_matches(path, i + 1, lines):
            lenses.append({"range": _range(i), "command": _command(f"traceassert: {CHANGED}", "otrace.showTraces",
                                                                   path, i + 1)})
            continue
        lenses.append({"range": _range(i), "command": _command(hit_title(n, h), "otrace.showTraces", path, i + 1),
                       "data": {"violations": n, "holds": h}})
    return lenses + traced_lenses(server, path, lines)


def hit_title(violations: int, holds: int) -> str:
    """The title of a traceassert line's lens: "traceassert: N violations, M holds"."""
    return f"traceassert: {violations} violation{'s' * (violations != 1)}, {holds} hold{'s' * (holds != 1)}"


def traced_lenses(server, path: str, lines: list[str]) -> list[dict]:
    """"traced · Untrace" (``otrace.untrace [name]``) on the def line of each traced function of the
    module loaded from ``path`` (worker thread)."""
    module = placement.module_for_file(path)
    if module is None:
        return []
    traced = {}
    for spec in server.engine.tracer.traced():
        func = spec.target.function
        if func is not None and func.__module__ == module.__name__:
            traced[func.__qualname__] = spec.name
    lenses = []
    for i, text in enumerate(lines):
        enc = placement.enclosing(lines, i) if traced and _DEF_LINE.match(text) else None
        if enc is not None and enc.def_line == i and enc.qualname in traced:
            name = traced[enc.qualname]
            lenses.append({"range": _range(i), "command": _command("traced · Untrace", "otrace.untrace", name)})
    return lenses


# ---- hover -------------------------------------------------------------------------------------
def hover(server, uri: str, lines: list[str], line: int, character: int) -> dict | None:
    """The value of the name under the cursor in the most recent hold of the enclosing function."""
    if not 0 <= line < len(lines):
        return None
    name = placement.word_at(lines[line], character)
    enc = placement.enclosing(lines, line)
    if name is None or enc is None:
        return None
    path = _path(uri)
    store = server.engine.store
    candidates = [h.context for h in server.engine.holds.list()] + store.recent("holds")
    for ctx in sorted(candidates, key=lambda c: c.timestamp, reverse=True):
        file, _ = server.locate_context(ctx)
        if ctx.funcname.split(".")[-1] != enc.qualname.split(".")[-1] or not placement.same_file(file, path):
            continue
        if name not in ctx.locals:
            return None
        value = ctx.locals[name]
        state = "held" if ctx.is_held else "was held"
        text = f"**{name}** = `{safe_repr(value, 300)}` ({type_name(value)})\n\n{state}: {ctx.id}"
        return {"contents": {"kind": "markdown", "value": text}}
    return None


# ---- diagnostics -------------------------------------------------------------------------------
def _exception_contexts(engine) -> list:
    store = engine.store
    return store.recent("exceptions") + [c for c in store.saved() if c.ctype == "exceptions"]


def exception_signature(engine) -> tuple:
    """Ids of the stored exception contexts: diagnostics change when this changes."""
    return tuple(c.id for c in _exception_contexts(engine))


def _open_documents(conn) -> dict[str, tuple[str, Any]]:
    """real path -> (uri as the client wrote it, document) of the client's open ``file:`` documents:
    diagnostics go to the URI the client opened, whatever its %-escapes (``%C3%A9`` or ``%c3%a9``,
    ``+`` or ``%2B``), not to one otrace spelt."""
    out = {}
    for doc in list(conn.ls.workspace.text_documents.values()):
        try:
            path = _path(doc.uri)
        except JsonRpcInvalidParams:   # not a file: document, or a path no file can have
            continue
        out[os.path.realpath(path)] = (doc.uri, doc)
    return out


def _follower(file: str, lines: list[str]) -> Any:
    """``line -> line or None``: where 1-based line of ``file`` as loaded (``linecache``, what
    tracebacks show) is in the document ``lines`` now (``placement.LineFollower``): the same line
    when it still matches, else the unchanged line that moved with the user's edits. Used by
    diagnostics and Resume lenses alike."""
    follower = placement.LineFollower(linecache.getlines(file), lines)

    def where(line: int) -> int | None:
        return line if placement.line_matches(file, line, lines) else follower.line(line)

    return where


def publish_diagnostics(conn) -> None:
    """Publish one Information diagnostic per stored exception context at its raising line (or at
    line 1 saying ``CHANGED`` when the open document differs there), and clear files that have
    none any more. Control loop."""
    per_uri: dict[str, list[types.Diagnostic]] = {}
    opened = _open_documents(conn)
    followers: dict[str, Any] = {}
    for ctx in _exception_contexts(conn.server.engine):
        file, raised = conn.server.locate_context(ctx)     # code patched by edit: its file's line
        if not file or not os.path.isabs(file):
            continue
        uri, doc = opened.get(os.path.realpath(file), (_uri(file), None))
        message = f"{ctx.exc_type}: {ctx.exc_message}"     # the trace id is the diagnostic's code
        line = raised
        if doc is not None:
            follower = followers.get(uri)
            if follower is None:
                follower = followers[uri] = _follower(file, document.split_lines(doc.source))
            line = follower(raised)
            if line is None:          # that very line was changed or deleted in the document
                line, message = 1, f"{message}: raised at line {raised}, but the {CHANGED}"
        line = max(line - 1, 0)
        per_uri.setdefault(uri, []).append(types.Diagnostic(
            range=types.Range(types.Position(line, 0), types.Position(line, 1000)), message=message,
            severity=types.DiagnosticSeverity.Information, source="otrace", code=ctx.id))
    if not conn.authenticated or conn.closed:
        return
    for uri in conn.published - set(per_uri):
        conn.ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
    for uri, diagnostics in per_uri.items():
        conn.ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))
    conn.published = set(per_uri)


# ---- commands (worker threads) -----------------------------------------------------------------
def hold_here(conn, uri: str, lines: list[str], line: int) -> dict:
    """Patch the running function around 0-based ``line`` so that it holds there (no file change);
    ``otrace/unpatch {name}`` undoes it."""
    server = conn.server
    path = _path(uri)
    enc = placement.enclosing(lines, line)
    if enc is None or enc.nested_in_function:
        raise OTraceError(f"line {line + 1} is not inside a top-level function or method")
    module, func = placement.live_function(path, enc.qualname)
    if not inspect.iscoroutinefunction(func):
        raise OTraceError(f"{enc.qualname} is not an async def: a hold pauses a coroutine")
    if any(pt.name == enc.qualname for pt in server.engine.patcher.patches()):
        raise OTraceError(f"{enc.qualname} is patched already: unpatch it first")
    label = f"live_{enc.qualname.rsplit('.', 1)[-1]}_{line + 1}"
    source, at, line_map = placement.hold_source(func, lines, line, label)
    if not server.engine.settings.trace_active:
        server.engine.settings.set("trace_active", True)
    server.engine.patcher.patch(enc.qualname, source, namespace=module.__dict__,
                                line_map=placement.patch_lines(path, line_map), note=live.note(label, path, at + 1))
    audit.record("patch", name=enc.qualname, hold=label, file=path, line=at + 1)
    return {"name": enc.qualname, "label": label, "file": path, "line": at + 1}


def trace_function(conn, path: str, qualname: str) -> dict:
    module, _ = placement.live_function(path, qualname)
    conn.server.engine.tracer.trace(qualname, namespace=module.__dict__)
    audit.record("trace", name=qualname, module=module.__name__)
    return {"name": qualname, "module": module.__name__}


def resume(conn, *ids: str) -> dict:
    """Resume the holds ``ids`` (none: all of them, for ``otrace.resumeAll`` only)."""
    return {"resumed": [h.id for h in conn.server.engine.resume(list(ids) if ids else None)]}


def show_traces(conn, path: str, line: int) -> dict:
    ids = [c.id for c in conn.server.engine.store.recent() + conn.server.engine.store.saved()
           if placement.same_file(conn.server.locate_context(c)[0], path) and conn.server.locate_context(c)[1] == line]
    return {"traceIds": ids}


# ---- registration ------------------------------------------------------------------------------
def register(conn) -> None:
    """Register the features and commands on ``conn``'s pygls server."""
    ls, server = conn.ls, conn.server

    async def worker(fn, *args):
        return await server.in_worker(conn.call, fn.__name__, lambda c, _p: fn(*args), {})

    @ls.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite]))
    async def _code_action(params: types.CodeActionParams):
        uri = params.text_document.uri
        lines = _python_lines(conn, uri)
        return [] if lines is None else await worker(code_actions, server, uri, lines, params.range.start.line)

    @ls.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def _code_lens(params: types.CodeLensParams):
        uri = params.text_document.uri
        lines = _python_lines(conn, uri)
        return [] if lines is None else await worker(code_lenses, server, uri, lines)

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    async def _hover(params: types.HoverParams):
        uri = params.text_document.uri
        lines = _python_lines(conn, uri)
        if lines is None or not 0 <= params.position.line < len(lines):
            return None
        # the client counts characters in the negotiated encoding (UTF-16 by default): an emoji is 2
        character = ls.workspace.position_codec.position_from_client_units(lines, params.position).character
        return await worker(hover, server, uri, lines, params.position.line, character)

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def _did_open(params):
        server.refresh_diagnostics(only=conn)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def _did_change(params):
        server.refresh_diagnostics(only=conn)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def _did_close(params):   # a "file changed" diagnostic of the closed buffer goes back to its line
        server.refresh_diagnostics(only=conn)

    @ls.command("otrace.resume")
    async def _resume(*ids: str):
        if not ids or not all(isinstance(i, str) for i in ids):   # never "all" by omission
            raise JsonRpcInvalidParams(message="otrace.resume: arguments must be one or more trace ids "
                                               "(otrace.resumeAll resumes every hold)")
        return await worker(resume, conn, *ids)

    @ls.command("otrace.resumeAll")
    async def _resume_all(*args):
        return await worker(resume, conn)

    def fleet_order(given: tuple) -> dict:
        """``{"fleetOrder": id}`` when it is a command's last argument (a fleet order: ``lsp.fleet``)."""
        return {"fleetOrder": given[-1].get("fleetOrder")} if given and isinstance(given[-1], dict) else {}

    async def order(fn, method: str, given: tuple, **params):
        """``fn(conn, **params)`` run as ``method``, a fleet order when ``given`` ends with one."""
        return await server.in_worker(conn.call, method, lambda c, _p: fn(c, **params), {**fleet_order(given), **params})

    @ls.command("otrace.traceFunction")
    async def _trace(path: str, qualname: str, *given):
        return await order(trace_function, "otrace.traceFunction", given, path=path, qualname=qualname)

    @ls.command("otrace.holdHere")
    async def _hold_here(uri: str, line: int, *given):
        return await order(hold_here, "otrace.holdHere", given, uri=uri, lines=_lines(conn, uri), line=line)

    @ls.command("otrace.unpatch")
    async def _unpatch(name: str, *given):   # "Remove live hold": as otrace/unpatch (audited; allowed in safe mode)
        return await server.in_worker(conn.call, "otrace/unpatch", methods.unpatch, {**fleet_order(given), "name": name})

    @ls.command("otrace.untrace")
    async def _untrace(name: str, *given):   # the "traced · Untrace" lens: as otrace/untrace (audited)
        return await server.in_worker(conn.call, "otrace/untrace", methods.untrace, {**fleet_order(given), "name": name})

    @ls.command("otrace.debugpy")
    async def _debugpy(*args):
        return await server.in_worker(conn.call, "otrace/debugpy", methods.debugpy, {})

    @ls.command("otrace.showTraces")
    async def _show_traces(path: str, line: int):
        return await worker(show_traces, conn, path, line)
