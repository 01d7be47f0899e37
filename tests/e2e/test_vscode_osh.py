"""Issue 19 in a real VS Code workbench (code-server 4.100.3 in headless Chromium, driven by
Playwright as a user would) against the real torna demo: /osh of the process as an `otrace:`
workspace folder ("otrace: Open /osh as Folder"), a method opened from the Explorer, saving it
patches the running process (refused in safe mode with the button that allows it; a syntax error is
a diagnostic in the file and nothing changes), the Explorer and the Live Patches view mark the
patch, "Compare with Source" opens the diff editor, "Promote Patch to Source" edits the source file
(the user saves), "Discard Patch" brings the old behaviour back; a Trace Contexts row's "Generate
Test (pytest)" writes a test of the recorded call that pytest runs and passes. Screenshots go to
artifacts/vscode/ (osh-*.png).
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.e2e.workbench import (ROOT, Workbench, context_menu, expand, explorer_row, go_to_line, inline_action,
                                 open_osh_folder, other_client, reveal, show_otrace, torna_scene, tree_row, wait_for)

pytestmark = pytest.mark.timeout(150)

#: the decoration badge of an Explorer row (VS Code draws it as its label's ::after content)
BADGE_JS = """(row) => [...row.querySelectorAll('.monaco-icon-label')]
    .map((e) => getComputedStyle(e, '::after').content.replace(/"/g, '')).find((c) => c && c !== 'none') || ''"""
RETURN_LINE = 'return f"The reciprocal of {value} is {1.0 / value}"'
PATCHED = ' + " (patched live)"'


@pytest.fixture(scope="module")
def env(tmp_path_factory, playwright):
    """A workspace with a copy of the torna demo, the demo running from it, and the workbench."""
    with torna_scene(tmp_path_factory, playwright, "vscode-osh") as scene:
        # the repository folder saves when the user saves (a browser workbench auto-saves by
        # default): "Promote" leaves its edit unsaved; read when the window becomes a workspace
        (scene["ws"] / ".vscode").mkdir()
        (scene["ws"] / ".vscode" / "settings.json").write_text('{"files.autoSave": "off"}\n')
        yield scene


def answer(env, number: int) -> str:
    url = f"http://127.0.0.1:{env['torna'].http}/?number={number}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        return e.read().decode()


def active_lines(bench: Workbench) -> str:
    """The text the active editor shows (its spaces rendered as no-break spaces made plain)."""
    text = bench.page.locator(".editor-group-container.active .monaco-editor .view-lines").first.inner_text()
    return text.replace("\u00a0", " ")


def open_method(bench: Workbench) -> None:
    """respond.py of GetHandler, from the Explorer (the otrace: folder of the demo)."""
    bench.command("View: Show Explorer")
    expand(bench, "/osh · torna_trace.py")
    expand(bench, "globals")
    expand(bench, "GetHandler")
    reveal(bench, "respond.py", "GetHandler").click()
    bench.page.locator(".tab.active[aria-label*='respond.py']").wait_for(timeout=15000)
    wait_for(lambda: "The reciprocal of" in active_lines(bench), 15, "the method's live source")


def save_and_wait(bench: Workbench, toast: str) -> str:
    bench.page.keyboard.press("Control+s")
    return bench.notification(toast, timeout=20000)


def test_open_osh_as_folder_shows_the_live_objects(env):
    bench, page = env["bench"], env["bench"].page
    wait_for(lambda: any(c["state"] == "connected" for c in bench.state().get("connections", [])), 30, "attached")
    open_osh_folder(bench, "/osh · torna_trace.py")
    expand(bench, "/osh · torna_trace.py")
    for name in ("globals", "patches", "recent"):
        explorer_row(bench, name).wait_for(timeout=10000)
    expand(bench, "globals")
    explorer_row(bench, "Request_stats").wait_for(timeout=10000)   # a dict: a folder
    explorer_row(bench, "PAGE").click()                    # a string: a read-only text view
    page.locator(".tab.active[aria-label*='PAGE']").wait_for(timeout=15000)
    wait_for(lambda: "Hello Trace" in active_lines(bench), 10, "PAGE's text")
    page.locator(".editor-group-container.active .monaco-editor .view-lines").first.click()
    page.keyboard.type("xyz")
    assert "xyz" not in active_lines(bench)                # read-only
    open_method(bench)
    bench.shot("osh-01-explorer-and-method")


def test_saving_the_method_patches_the_running_process(env):
    bench, page = env["bench"], env["bench"].page
    open_method(bench)
    assert "The reciprocal of 4.0 is 0.25" in answer(env, 4)
    go_to_line(bench, 7)                                   # the function's own lines: 7 is its return
    page.keyboard.press("End")
    page.keyboard.type(PATCHED)
    wait_for(lambda: RETURN_LINE + PATCHED in active_lines(bench), 10, "the edit")

    # in safe mode the save is refused, and the refusal offers to allow code execution
    allow = page.locator(".notifications-toasts .notification-toast", has_text="refused in safe mode").locator(
        ".monaco-button", has_text="Allow Code Execution...").first
    page.keyboard.press("Control+s")
    allow.wait_for(timeout=20000)
    failed = bench.notification("Failed to save 'respond.py'")         # VS Code's own, with the server's reason
    assert "refused in safe mode" in failed, failed
    page.wait_for_timeout(500)                              # the toasts' fade-in, for the screenshot
    bench.shot("osh-02-save-refused-in-safe-mode")
    assert "The reciprocal of 4.0 is 0.25" in answer(env, 4)
    allow.click()
    dialog = page.locator(".monaco-dialog-box")
    dialog.wait_for(timeout=10000)
    dialog.locator(".monaco-button", has_text="Allow Code Execution").first.click()
    dialog.wait_for(state="hidden", timeout=10000)
    bench.command("Notifications: Clear All Notifications")

    page.locator(".editor-group-container.active .monaco-editor .view-lines").first.click()
    toast = save_and_wait(bench, "patched GetHandler.respond")
    assert "Compare with Source" in toast, toast
    assert "The reciprocal of 4.0 is 0.25 (patched live)" in answer(env, 4)    # the next request
    wait_for(lambda: not page.locator(".tab.active.dirty").count(), 10, "the editor to be saved")

    # marked in the Explorer, listed under Live Patches
    row = explorer_row(bench, "respond.py")
    wait_for(lambda: row.evaluate(BADGE_JS) == "P", 15, "the Explorer's patch mark")
    show_otrace(bench)
    tree_row(bench, "Live Patches", "GetHandler.respond").wait_for(timeout=10000)
    bench.shot("osh-03-patched-marked-and-listed")


def test_a_syntax_error_is_a_diagnostic_and_nothing_is_patched(env):
    bench, page = env["bench"], env["bench"].page
    open_method(bench)
    go_to_line(bench, 1)
    page.keyboard.press("End")
    page.keyboard.type(" $")
    bench.page.keyboard.press("Control+s")
    bench.notification("not patched", timeout=20000)
    squiggle = page.locator(".editor-group-container.active .monaco-editor .squiggly-error")
    squiggle.first.wait_for(timeout=10000)
    page.wait_for_timeout(500)                              # the toast's fade-in, for the screenshot
    bench.shot("osh-04-syntax-error-diagnostic")
    assert "The reciprocal of 4.0 is 0.25 (patched live)" in answer(env, 4)    # unchanged
    page.keyboard.press("Control+z")
    wait_for(lambda: not page.locator(".tab.active.dirty").count(), 10, "the editor back to its saved text")
    bench.command("Notifications: Clear All Notifications")


def test_compare_with_source_opens_the_diff_editor(env):
    bench, page = env["bench"], env["bench"].page
    open_method(bench)
    # the button in the title of the otrace: file's editor
    page.locator(".editor-group-container.active .editor-actions .action-label[aria-label^='Compare with Source']").click()
    diff = page.locator(".editor-group-container.active .monaco-diff-editor")
    diff.wait_for(timeout=15000)
    page.locator(".tab.active", has_text="live GetHandler.respond").wait_for(timeout=10000)
    modified = diff.locator(".editor.modified .view-lines")
    wait_for(lambda: "(patched live)" in modified.inner_text().replace("\u00a0", " "), 10, "the live code on the right")
    assert "(patched live)" not in diff.locator(".editor.original .view-lines").inner_text()
    wait_for(lambda: diff.locator(".line-insert, .char-insert").count() > 0, 10, "the change marked")
    bench.shot("osh-05-compare-with-source")


def test_promote_patch_writes_the_live_code_into_the_source_file(env):
    bench, page = env["bench"], env["bench"].page
    source = env["ws"] / "torna_trace.py"
    assert PATCHED not in source.read_text()
    show_otrace(bench)
    row = tree_row(bench, "Live Patches", "GetHandler.respond")
    inline_action(row, "Promote Patch to Source")
    tab = page.locator(".tab.active[aria-label*='torna_trace.py']")
    tab.wait_for(timeout=15000)
    wait_for(lambda: RETURN_LINE + PATCHED in active_lines(bench), 10, "the live code in the file")
    bench.notification("save the file to keep it")
    wait_for(lambda: "dirty" in tab.get_attribute("class"), 10, "the file to be unsaved")
    bench.shot("osh-06-promoted-unsaved")
    assert PATCHED not in source.read_text()               # the user saves
    line = 1 + next(i for i, text in enumerate(source.read_text().splitlines()) if RETURN_LINE in text)
    page.keyboard.press("Control+z")                       # one undoable edit (the editor has the focus)
    go_to_line(bench, line)
    wait_for(lambda: RETURN_LINE in active_lines(bench) and PATCHED not in active_lines(bench), 10, "the edit undone")
    page.keyboard.press("Control+Shift+z")
    go_to_line(bench, line)
    wait_for(lambda: RETURN_LINE + PATCHED in active_lines(bench), 10, "the edit redone")
    page.keyboard.press("Control+s")
    wait_for(lambda: RETURN_LINE + PATCHED in source.read_text(), 10, "the file saved")
    text = source.read_text()
    assert text.count("def respond(self, number):") == 1 and "    def respond(self, number):\n" in text
    compile(text, str(source), "exec")                     # still a module
    with other_client(env["torna"], "e2e-check") as c:      # the file and the live code agree
        assert c.request("otrace/patchDiff", {"name": "GetHandler.respond"})["diff"] == ""


def test_discard_patch_restores_the_old_behaviour(env):
    bench = env["bench"]
    show_otrace(bench)
    row = tree_row(bench, "Live Patches", "GetHandler.respond")
    inline_action(row, "Discard Patch")
    row.wait_for(state="detached", timeout=10000)
    bench.notification("discarded the patch of GetHandler.respond")
    assert "The reciprocal of 4.0 is 0.25</span>" in answer(env, 4)            # the loaded code again
    bench.command("View: Show Explorer")
    mark = reveal(bench, "respond.py", "GetHandler")
    wait_for(lambda: mark.evaluate(BADGE_JS) == "", 15, "the Explorer's mark to go")
    open_method(bench)
    bench.command("otrace: Compare with Source")            # from its editor: nothing to compare now
    bench.notification("GetHandler.respond is not patched")
    bench.shot("osh-07-discarded")


def test_generate_test_from_a_trace_contexts_row_writes_a_test_that_passes(env):
    """A Trace Contexts row's "Generate Test (pytest)": the test of the demo's respond(0)
    ZeroDivisionError opens unsaved beside the demo, and once saved pytest runs it and it passes."""
    bench, page, ws = env["bench"], env["bench"].page, env["ws"]
    with other_client(env["torna"], "e2e-trace") as c:
        c.request("otrace/trace", {"name": "GetHandler.respond"})
    try:
        assert "500" in answer(env, 0) or "Internal Server Error" in answer(env, 0)
        show_otrace(bench)
        row = tree_row(bench, "Trace Contexts", "ZeroDivisionError")
        row.wait_for(timeout=15000)
        context_menu(bench, row, "Generate Test (pytest)")
        tab = page.locator(".tab.active[aria-label*='test_gethandler_respond']")
        tab.wait_for(timeout=15000)
        wait_for(lambda: "ZeroDivisionError" in active_lines(bench), 10, "the test's text")
        bench.notification("pinning the recorded outcome")
        bench.shot("osh-08-generated-test")
        page.locator(".editor-group-container.active .monaco-editor .view-lines").first.click()
        page.keyboard.press("Control+s")
        saved = wait_for(lambda: next(iter(ws.glob("test_gethandler_respond*.py")), None), 15, "the test saved")
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", saved.name],
                             cwd=ws, capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "1 passed" in run.stdout, run.stdout
    finally:
        with other_client(env["torna"], "e2e-untrace") as c:
            c.request("otrace/untrace", {"name": "GetHandler.respond"})
