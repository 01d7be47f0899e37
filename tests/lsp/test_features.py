"""lsp.features (and lsp.document): the language server's standard features on Python files, as an editor uses
them: a real app process (tests/lsp/features_app.py), a raw LSP client over TCP, documents opened,
edited and closed with full sync. Each test is a defect found by using the features (see the
commit messages); ``document``'s pure helpers are tested directly at the end."""

from __future__ import annotations

import ast
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

from otrace_server.lsp import document
from tests.lsp.conftest import HERE, AppProcess, _sample_ready, fetch_async

pytestmark = pytest.mark.timeout(60)

APP = HERE / "features_app.py"
TEXT = APP.read_text()
LINES = TEXT.splitlines()


def line_of(text: str, lines: list[str] = LINES) -> int:
    return next(i for i, line in enumerate(lines) if text in line)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The QA app run from a directory whose path has a space, unicode and a '+' (URI escapes)."""
    tmp = tmp_path_factory.mktemp("xdg")
    where = tmp / "dir with space+é"
    where.mkdir()
    shutil.copy(APP, where / APP.name)
    proc = AppProcess([str(where / APP.name)], tmp, _sample_ready)
    proc.path = where / APP.name
    yield proc
    proc.stop()


def uri_of(app) -> str:
    return app.path.as_uri()


def open_doc(client, uri: str, text: str = TEXT, language: str = "python") -> None:
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language, "version": 1,
                                                            "text": text}})


def change(client, uri: str, text: str, version: int) -> None:
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                             "contentChanges": [{"text": text}]})


def actions(client, uri: str, line: int) -> list[dict]:
    pos = {"line": line, "character": 0}
    return client.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": {"start": pos, "end": pos},
                                                      "context": {"diagnostics": []}})


def insert(client, uri: str, line: int) -> dict:
    """The statement edit of "Insert traceassert" at ``line`` (the last edit: the import comes first)."""
    return actions(client, uri, line)[0]["edit"]["changes"][uri][-1]


def apply(text: str, edits: list[dict]) -> str:
    """Apply insert-only edits at character 0 (what the editor does), LSP lines."""
    lines = document.split_lines(text)
    for e in sorted(edits, key=lambda e: e["range"]["start"]["line"], reverse=True):
        lines.insert(e["range"]["start"]["line"], e["newText"])
    return "".join(lines)


# ---- Insert traceassert: where and how the statement goes -----------------------------------------
@pytest.mark.parametrize("cursor, before", [
    ("                 1)", "        total = (len(v) +"),          # continuation line: before its statement
    ('"""Raise when', '    label = "🎉🎉" + v'),                  # docstring: after it, stays the docstring
    ("def boom(v):", '    label = "🎉🎉" + v'),                  # def line: first statement, not the docstring
    ("@classmethod", "        return x * cls.size"),            # decorator: into the decorated function
    ('"""A class with', "    size = 3"),                        # class docstring
    ("except ValueError:", '            self.write("error")'),  # a clause line starts no statement
])
def test_insert_traceassert_goes_before_a_statement_and_the_result_compiles(app, cursor, before):
    c = app.client()
    uri = uri_of(app)
    open_doc(c, uri)
    edit = insert(c, uri, line_of(cursor))
    at = edit["range"]["start"]["line"]
    assert LINES[at].startswith(before), (cursor, LINES[at])
    new = apply(TEXT, [edit])
    tree = ast.parse(new)                                       # was a SyntaxError on continuation lines
    assert ast.get_docstring(tree.body[[isinstance(n, ast.FunctionDef) and n.name == "boom"
                                        for n in tree.body].index(True)]) == "Raise when v == '1'."


def test_insert_traceassert_keeps_tabs_and_crlf(app):
    c = app.client()
    uri = uri_of(app)
    crlf = TEXT.replace("\n", "\r\n")
    open_doc(c, uri, crlf)
    line = line_of("\ty = x * 2")
    edit = insert(c, uri, line)
    assert edit["newText"] == f'\ttraceassert(True, label="tabbed_{line + 1}")\r\n'   # was ' traceassert...\n': TabError
    ast.parse(apply(crlf, [edit]))


def test_form_feed_does_not_shift_lines(app):
    """pygls splits lines at form feeds (str.splitlines), LSP does not: every line after one was off by one."""
    c = app.client()
    uri = uri_of(app)
    text = TEXT.replace("\ndef decorated", "\n\x0c\ndef decorated")   # a page break line (Emacs style)
    open_doc(c, uri, text)
    lines = document.split_lines(text)
    line = line_of('self.write(f"m:', [x.rstrip("\n") for x in lines])
    edit = insert(c, uri, line)
    assert edit == {"range": {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}},
                    "newText": f'        await traceassert(True, label="get_{line + 1}", action="hold")\n'}


# ---- documents the features do not apply to ----------------------------------------------------------
@pytest.mark.parametrize("uri, language", [
    ("untitled:Untitled-1", "python"), ("file:///tmp/notes.txt", "plaintext"),
    ("file:///tmp/no%20such%20file.py", None), ("file:///C:/Users/me/app.py", None),
])
def test_non_python_or_missing_documents_get_empty_answers_not_errors(app, uri, language):
    c = app.client()
    if language:
        open_doc(c, uri, "x = 1\n", language)
    assert actions(c, uri, 0) == []                              # was an error (-32602) or bogus edits
    assert c.request("textDocument/codeLens", {"textDocument": {"uri": uri}}) == []
    assert c.request("textDocument/hover", {"textDocument": {"uri": uri},
                                            "position": {"line": 0, "character": 0}}) is None


# ---- Hold here live, hovers in UTF-16, lenses after edits -------------------------------------------
def test_hold_here_live_on_a_continuation_line_hover_in_utf16_and_stale_lens(app):
    c = app.client()
    uri = uri_of(app)
    open_doc(c, uri)
    c.request("otrace/command", {"line": "set safe_mode False"})
    try:
        # a continuation line: the hold goes before its statement (was "syntax error in the new source")
        result = c.request("workspace/executeCommand", {"command": "otrace.holdHere",
                                                        "arguments": [uri, line_of("                 1)")]})
        assert result["line"] == line_of("total = (len(v) +") + 1
        box = fetch_async(app, "/m?v=x")
        held = c.wait_notification("otrace/holdStarted")
        assert held["line"] == result["line"] and Path(held["file"]) == app.path

        mark = line_of('mark = "🎉🎉" + v')
        col = LINES[mark].index("+ v") + 2 + 2                   # two emoji: 2 UTF-16 code units each
        hover = c.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                 "position": {"line": mark, "character": col}})
        assert hover["contents"]["value"].startswith("**v** = `'x'` (str)")   # was None (counted code points)

        lenses = c.request("textDocument/codeLens", {"textDocument": {"uri": uri}})
        assert [lz["range"]["start"]["line"] for lz in lenses if lz["command"]["command"] == "otrace.resume"] \
            == [held["line"] - 1]
        change(c, uri, "# one\n# two\n" + TEXT, 2)               # the held line moves down by two
        lenses = c.request("textDocument/codeLens", {"textDocument": {"uri": uri}})
        [resume] = [lz for lz in lenses if lz["command"]["command"] == "otrace.resume"]
        assert resume["range"]["start"]["line"] == held["line"] - 1 + 2     # it moved with the text
        assert "file changed" not in resume["command"]["title"]
        held_text = LINES[held["line"] - 1]
        change(c, uri, TEXT.replace(held_text + "\n", held_text + "  # edited\n", 1), 3)   # that line itself
        lenses = c.request("textDocument/codeLens", {"textDocument": {"uri": uri}})
        [resume] = [lz for lz in lenses if lz["command"]["command"] == "otrace.resume"]
        assert resume["range"]["start"]["line"] == 0 and "file changed since the code was loaded" in \
            resume["command"]["title"]

        c.request("workspace/executeCommand", {"command": resume["command"]["command"],
                                               "arguments": resume["command"]["arguments"]})
        box["thread"].join(10)
        assert box["body"].startswith("m:🎉🎉x:2:")
    finally:
        c.request("otrace/unpatch", {"name": "all"})
        c.request("otrace/command", {"line": "set safe_mode True"})


def test_a_live_hold_is_listed_and_removed_from_its_line_in_safe_mode(app):
    c = app.client()
    uri = uri_of(app)
    open_doc(c, uri)
    line = line_of("total = (len(v) +")
    c.request("otrace/command", {"line": "set safe_mode False"})
    try:
        made = c.request("workspace/executeCommand", {"command": "otrace.holdHere", "arguments": [uri, line]})
    finally:
        c.request("otrace/command", {"line": "set safe_mode True"})      # removal needs no unsafe mode
    try:
        [patch] = c.request("otrace/patches", {})["patches"]
        assert patch["liveHold"] == {"label": made["label"], "file": made["file"], "line": made["line"]}
        assert c.wait_notification("otrace/patchesChanged", lambda p: p["patches"])["patches"] == [patch]
        assert patch["name"] == made["name"] and isinstance(patch["since"], float)
        # on the line: "Hold here live" says why it is disabled (was "file changed"), and removal is offered
        by_title = {a["title"]: a for a in actions(c, uri, line)}
        assert by_title["Hold here live"]["disabled"]["reason"] == \
            f"{made['name']} has a live hold already (line {made['line']}): remove it first"
        remove = by_title[f"Remove live hold ({made['name']}, line {made['line']})"]
        assert remove["command"]["command"] == "otrace.unpatch"
        c.request("workspace/executeCommand", {"command": "otrace.unpatch",
                                               "arguments": remove["command"]["arguments"]})
        assert c.request("otrace/patches", {}) == {"patches": []}
        c.wait_notification("otrace/patchesChanged", lambda p: p["patches"] == [])
        body = urllib.request.urlopen(f"http://127.0.0.1:{app.http}/m?v=x", timeout=10).read().decode()
        assert body.startswith("m:")                               # not held any more
        assert "command" in {a["title"]: a for a in actions(c, uri, line)}["Hold here live"]
    finally:
        c.request("otrace/unpatch", {"name": "all"})


def lenses(client, uri: str) -> list[dict]:
    return client.request("textDocument/codeLens", {"textDocument": {"uri": uri}})


def test_a_traced_function_has_an_untrace_lens_on_its_def_line(app):
    from tests.support.waiting import wait_for

    c = app.client(capabilities={"workspace": {"codeLens": {"refreshSupport": True}}})
    uri = uri_of(app)
    open_doc(c, uri)
    line = line_of("def method(self, x):")

    def untrace_lenses():
        return [lens for lens in lenses(c, uri) if lens["command"]["command"] == "otrace.untrace"]

    boom = untrace_lenses()              # the app traces boom itself
    assert [(lens["range"]["start"]["line"], lens["command"]["arguments"]) for lens in boom] == \
        [(line_of("def boom(v):"), ["boom"])]
    trace = {a["title"]: a for a in actions(c, uri, line + 1)}["Trace this function (Tools.method)"]
    c.request("workspace/executeCommand", trace["command"])
    wait_for(lambda: any(r["method"] == "workspace/codeLens/refresh" for r in c.requests_from_server), 5,
             "a lens refresh after the trace")
    try:
        [lens] = [lens for lens in untrace_lenses() if lens not in boom]
        assert lens["range"]["start"]["line"] == line                 # on the def line
        assert lens["command"] == {"title": "traced · Untrace", "command": "otrace.untrace", "arguments": ["Tools.method"]}
        c.requests_from_server.clear()
        assert c.request("workspace/executeCommand", lens["command"]) == {"traced": ["boom"]}   # as otrace/untrace
        wait_for(lambda: any(r["method"] == "workspace/codeLens/refresh" for r in c.requests_from_server), 5,
                 "a lens refresh after the untrace")
        assert untrace_lenses() == boom
    finally:
        if len(untrace_lenses()) > 1:     # a failure left it traced
            c.request("otrace/untrace", {"name": "Tools.method"})


# ---- diagnostics -------------------------------------------------------------------------------------
def test_diagnostics_use_the_clients_uri_and_return_to_their_line_on_close(app):
    c = app.client()
    spelt = uri_of(app).replace("%C3%A9", "%c3%a9").replace("%2B", "+")   # as another editor escapes it
    assert spelt != uri_of(app)
    open_doc(c, spelt)
    c.request("otrace/patches")          # answered after the didOpen is handled: the document is open now
    assert urllib.request.urlopen(f"http://127.0.0.1:{app.http}/raise?v=1", timeout=5).read() == b"error"
    diag = c.wait_notification("textDocument/publishDiagnostics", lambda p: p["diagnostics"], timeout=5)
    assert diag["uri"] == spelt                                  # was otrace's spelling: a file not open
    [d] = [d for d in diag["diagnostics"] if "ValueError: boom" in d["message"]]
    assert d["range"]["start"]["line"] == line_of('raise ValueError')

    assert d["message"] == "ValueError: boom 🎉🎉1"              # one clean message: the id is its code
    assert d["code"].startswith("boom:")

    change(c, spelt, "# added\n" + TEXT, 2)                     # a line inserted above: it moves along
    moved = c.wait_notification("textDocument/publishDiagnostics", lambda p: any(
        x["range"]["start"]["line"] == line_of('raise ValueError') + 1 for x in p["diagnostics"]))
    assert not any("file changed" in x["message"] for x in moved["diagnostics"])
    raising = LINES[line_of('raise ValueError')]
    change(c, spelt, TEXT.replace(raising, raising.replace("boom ", "bang "), 1), 3)   # that line edited
    changed = c.wait_notification("textDocument/publishDiagnostics",
                                  lambda p: any("file changed" in x["message"] for x in p["diagnostics"]))
    assert {x["range"]["start"]["line"] for x in changed["diagnostics"] if "file changed" in x["message"]} == {0}
    c.notify("textDocument/didClose", {"textDocument": {"uri": spelt}})   # the file on disk is unchanged
    back = c.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri_of(app) and any(
        x["range"]["start"]["line"] == line_of('raise ValueError') for x in p["diagnostics"]), timeout=5)
    assert not any("file changed" in x["message"] for x in back["diagnostics"])   # closed: the file's lines
    c.request("otrace/command", {"line": f"del {d['code']}"})


@pytest.mark.parametrize("bad", ["file:///tmp/a%00b.py", "file:///tmp/a\ud800b.py"])
def test_a_document_whose_path_names_no_file_gets_an_error_and_spoils_no_other(app, bad):
    """A NUL or a lone surrogate in a document's path: os.path raised on it, so its features
    answered -32603 with a traceback, and while it was open no diagnostics reached the client."""
    c = app.client()
    open_doc(c, bad)
    open_doc(c, uri_of(app))
    for method, extra in (("textDocument/codeLens", {}), ("textDocument/codeAction", {
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "context": {"diagnostics": []}})):
        error = c.request_raw(method, {"textDocument": {"uri": bad}, **extra})["error"]
        assert error["code"] == -32602 and error["message"].startswith(f"not a file: the path of {bad!r} has a ")
    error = c.request_raw("workspace/executeCommand", {"command": "otrace.holdHere", "arguments": [bad, 0]})["error"]
    assert error["code"] == -32602 and "not a file" in error["message"]
    assert urllib.request.urlopen(f"http://127.0.0.1:{app.http}/raise?v=1", timeout=5).read() == b"error"
    diag = c.wait_notification("textDocument/publishDiagnostics", lambda p: p["diagnostics"], timeout=5)
    assert diag["uri"] == uri_of(app)
    assert not [n for n in c.notifications if n["method"] == "window/showMessage"]   # "Error in server: ..."
    c.request("otrace/command", {"line": f"del {diag['diagnostics'][0]['code']}"})


def test_a_document_on_disk_that_is_a_fifo_or_a_device_is_refused_and_blocks_nobody(app, tmp_path):
    """``otrace.holdHere`` reads a document that is not open from disk, on the control loop: a FIFO
    blocked it for good (no client of the language server was answered any more; /dev/stdin the
    same, /dev/zero read until memory ran out)."""
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    c, other = app.client(), app.client("other")
    for path in (str(fifo), "/dev/null"):
        error = c.request_raw("workspace/executeCommand", {"command": "otrace.holdHere",
                                                           "arguments": [Path(path).as_uri(), 0]})["error"]
        assert error == {"code": -32602, "message": f"{path} is not a regular file"}
        assert other.request("otrace/holds", timeout=5) is not None
    assert c.request("textDocument/codeLens", {"textDocument": {"uri": fifo.as_uri()}}) == []


def test_an_exception_in_edited_code_is_a_diagnostic_in_its_file(app):
    c = app.client()
    uri = uri_of(app)
    open_doc(c, uri)
    first = line_of("def boom(v):")
    source = "\n".join(LINES[first:line_of("    return label") + 1]).replace('"boom "', '"patched "') + "\n"
    c.request("otrace/command", {"line": "set safe_mode False"})
    try:
        c.request("otrace/patch", {"name": "boom", "source": source})
        assert urllib.request.urlopen(f"http://127.0.0.1:{app.http}/raise?v=1", timeout=5).read() == b"error"
        diag = c.wait_notification("textDocument/publishDiagnostics", lambda p: any(
            "patched" in x["message"] for x in p["diagnostics"]), timeout=5)
        [d] = [x for x in diag["diagnostics"] if "patched" in x["message"]]
        assert diag["uri"] == uri                                   # was skipped: reported at <otrace-patch boom>
        assert d["range"]["start"]["line"] == line_of('raise ValueError')   # the line the edited one replaced
        c.request("otrace/command", {"line": f"del {d['code']}"})
    finally:
        c.request("otrace/unpatch", {"name": "all"})
        c.request("otrace/command", {"line": "set safe_mode True"})


# ---- document helpers (pure) -----------------------------------------------------------------------
def test_split_lines_follows_lsp_line_ends():
    assert document.split_lines("a\x0cb\u2028c\r\nd\re\nf") == ["a\x0cb\u2028c\r\n", "d\r", "e\n", "f"]
    assert document.line_ending(["x\r\n"]) == "\r\n" and document.line_ending(["x"]) == "\n"
