"""/osh as files (shell.oshfiles): what is a folder, a function's .py file, a read-only value; the
cut of a huge directory; what may be written."""

from __future__ import annotations

import pytest

from otrace_server.core.errors import OTraceError
from otrace_server.shell.oshfiles import MAX_ENTRIES, TRUNCATED, OshFiles, SourceError, check_source


@pytest.fixture
def files(shell):
    return OshFiles(shell)


def test_functions_are_py_files_with_their_live_source(files, engine, app):
    entries = {e.name: e for e in files.read_directory("/osh/globals/Receive")}
    assert entries["respond.py"].type == "file" and entries["respond.py"].readonly is False
    assert entries["limit"].type == "file" and entries["limit"].patched is None
    assert "__module__" not in entries and "__init__.py" in entries
    text = files.read_file("/osh/globals/Receive/respond.py")
    assert text.text.startswith("def respond(self, number):") and text.name == "Receive.respond"
    engine.patcher.patch("Receive.respond", "def respond(self, number):\n    return 2\n", app)
    patched = files.read_file("/osh/globals/Receive/respond.py")
    assert patched.text == "def respond(self, number):\n    return 2\n" and patched.patched is True
    assert files.stat("/osh/globals/Receive/respond.py").patched is True
    [entry] = files.read_directory("/osh/patches")
    assert (entry.name, entry.readonly, entry.patched) == ("Receive.respond.py", False, True)
    writable = files.function_to_write("/osh/patches/Receive.respond.py")
    assert (writable.name, writable.target, writable.function) == ("Receive.respond", engine.patcher.get(
        "Receive.respond").target, "respond")
    assert files.function_to_write("/osh/globals/Receive/respond.py").target == "Receive.respond"


def test_values_are_read_only_text_and_directories_are_folders(files):
    assert files.read_file("/osh/globals/counter").text == "3"
    assert files.stat("/osh/globals/config").type == "directory"
    assert files.stat("/osh/globals/numbers/0").readonly is True
    with pytest.raises(OTraceError, match="read-only: /osh/globals/counter is not a function"):
        files.function_to_write("/osh/globals/counter")
    with pytest.raises(OTraceError, match="is a directory"):
        files.read_file("/osh/globals/config")
    with pytest.raises(OTraceError, match="no such file or directory: /osh/globals/nope.py"):
        files.stat("/osh/globals/nope.py")
    with pytest.raises(OTraceError, match="not a path below /osh"):
        files.stat("/osh/../etc")


def test_a_huge_directory_is_cut_with_a_file_saying_how_much(files, app):
    app["big"] = {f"k{i:05d}": i for i in range(MAX_ENTRIES + 5)}
    entries = files.read_directory("/osh/globals/big")
    assert len(entries) == MAX_ENTRIES + 1 and entries[-1].name == TRUNCATED
    note = files.read_file(f"/osh/globals/big/{TRUNCATED}")
    assert "2,005 entries" in note.text and "5 are not" in note.text and note.readonly
    assert files.stat(f"/osh/globals/big/{TRUNCATED}").type == "file"


def test_a_context_is_a_folder_whose_functions_are_read_only(files, shell, engine, app):
    engine.tracer.trace("helper", namespace=app)
    with pytest.raises(TypeError):
        app["helper"](1, b=app["helper"])      # a function among the recorded arguments
    [ctx] = engine.store.recent("exceptions")
    path = "/osh/" + "/".join(ctx.path)
    names = {e.name: e for e in files.read_directory(path)}
    assert names["a"].type == "file" and names["b.py"].readonly is True and "__trc" in names
    trace = files.read_file(path + "/__trc/exc_stack").text
    assert "\n" in trace and "return a + b" in trace        # a string reads as itself: the traceback
    with pytest.raises(OTraceError, match="only functions under /osh/globals"):
        files.function_to_write(path + "/b.py")


def test_a_source_that_cannot_be_the_patch_is_diagnosed():
    with pytest.raises(SourceError) as raised:
        check_source("/osh/globals/f.py", "def f(:\n    pass\n", "f")
    [diag] = raised.value.diagnostics
    assert (diag.line, diag.column) == (1, 7)
    with pytest.raises(SourceError) as raised:
        check_source("/osh/globals/f.py", "def f():\n    pass\n\n@deco\ndef g():\n    pass\n", "f")
    assert raised.value.diagnostics[0].line == 4
    check_source("/osh/globals/f.py", "    @deco\n    async def f(self):\n        pass\n", "f")


def test_a_traced_function_shows_its_own_source_not_the_tracing_wrapper(files, engine, app):
    engine.tracer.trace("Receive.respond", namespace=app)
    text = files.read_file("/osh/globals/Receive/respond.py").text
    assert text.startswith("def respond(self, number):") and "otrace" not in text
    assert files.read_file("/osh/globals/helper.py").text.startswith("def helper(a, b=2):")


def test_a_discarded_patch_shows_the_loaded_source_even_when_the_file_changed(files, engine, app, tmp_path):
    """Promote writes the patched text into the file; Discard puts the loaded code back: the function's
    file must show the code that runs (the text it was loaded from), not the file's new text."""
    module = tmp_path / "promoted_mod.py"
    loaded = "def answer(x):\n    return x + 1\n"
    module.write_text(loaded)
    namespace: dict = {}
    exec(compile(loaded, str(module), "exec"), namespace)
    app["answer"] = namespace["answer"]
    assert files.read_file("/osh/globals/answer.py").text == loaded
    promoted = "def answer(x):\n    return x + 20\n"
    engine.patcher.patch("answer", promoted, app)
    assert files.read_file("/osh/globals/answer.py").text == promoted and app["answer"](1) == 21
    module.write_text(promoted)                      # Promote Patch to Source, saved by the user
    engine.patcher.unpatch("answer")                 # Discard Patch: the loaded code runs again
    assert app["answer"](1) == 2
    text = files.read_file("/osh/globals/answer.py")
    assert (text.text, text.patched) == (loaded, False)
