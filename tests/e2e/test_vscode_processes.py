"""Issue 17 point 3 in a real VS Code workbench (code-server 4.100.3 in headless Chromium, driven by
Playwright as a user would): the torna demo started twice from one workspace (two processes, one
discovery directory, so neither is attached by itself). With one attached, "otrace: Attach Debugger"
starts without a quick pick; with both attached, the lightbulb menu lists each process's actions
once, labelled "[pid N]", the document edit ("Insert traceassert hold here") once, and a held line
shows one Resume lens (of the process holding), which answers the request.
A third process running another file of the workspace says nothing in torna_trace.py, and alone
answers, unlabelled, in its own file. "otrace: Open /osh as Folder" mounts each attached process, told
apart by its pid, and each folder attaches its process again after the window reloads.
Screenshots go to artifacts/vscode/ (processes-*.png).
"""

from __future__ import annotations

import re
import shutil
import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.workbench import (held_request, CHROMIUM, CHROMIUM_ARGS, Demo, Workbench, expand, explorer_row, go_to_line,
                                 open_osh_folder, other_client, require_parts, torna_workspace, wait_for)

pytestmark = pytest.mark.timeout(150)

HOLD_TEXT = "html.escape(self.respond(number)"     # a line of GetHandler.get (an async def)


@pytest.fixture(scope="module")
def env(tmp_path_factory, playwright):
    """A workspace with a copy of the torna demo, two processes of it, and the workbench."""
    require_parts()
    tmp = tmp_path_factory.mktemp("vscode-processes")
    xdg, ws = torna_workspace(tmp)
    shutil.copy(ws / "torna_trace.py", ws / "other_app.py")   # another app of the workspace: its own file
    demos = [Demo(ws / "torna_trace.py", xdg, ws)]
    browser = bench = None
    try:
        demos.append(Demo(ws / "torna_trace.py", xdg, ws))
        demos.append(Demo(ws / "other_app.py", xdg, ws))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        bench = Workbench(tmp, ws, xdg, browser)
        yield {"demos": demos, "ws": ws, "bench": bench}
    finally:
        if bench is not None:
            bench.stop()
        if browser is not None:
            browser.close()
        for demo in demos:
            demo.stop()


def line_of(env, text: str, file: str = "torna_trace.py") -> int:
    lines = (env["ws"] / file).read_text().splitlines()
    return 1 + next(i for i, line in enumerate(lines) if text in line)


def connected(bench: Workbench) -> set[str]:
    return {c["key"] for c in bench.state().get("connections", []) if c["state"] == "connected"}


def attach(bench: Workbench, demo: Demo) -> None:
    """"otrace: Attach to Process..." and pick ``demo`` by its pid, as a user does."""
    bench.command("otrace: Attach to Process...", pick=f"(pid {demo.proc.pid})")
    wait_for(lambda: f"pid:{demo.proc.pid}" in connected(bench), 20, f"pid {demo.proc.pid} to be attached")


def lightbulb_menu(bench: Workbench, line: int, title: str, shot: str) -> list[str]:
    """The rows of the code action menu (Ctrl+.) at ``line`` once ``title`` is in it; closes it."""
    page = bench.page
    go_to_line(bench, line)
    rows = page.locator(".action-widget .monaco-list-row")
    for _ in range(10):   # right after attaching, the servers may not have answered yet: ask again
        page.keyboard.press("Control+.")
        try:
            rows.filter(has_text=title).first.wait_for(timeout=2000)
            time.sleep(0.5)           # every provider answered (the menu shows them together)
            break
        except Exception:
            page.keyboard.press("Escape")
    texts = [t.strip() for t in rows.all_inner_texts()]
    bench.shot(shot)
    page.keyboard.press("Escape")
    return texts


def test_attach_debugger_with_one_attached_process_asks_nothing(env):
    bench, page = env["bench"], env["bench"].page
    first, second, _ = env["demos"]
    time.sleep(3)                                        # two processes from the workspace: none attached by itself
    assert not connected(bench)
    attach(bench, first)
    bench.command("otrace: Attach Debugger")
    page.locator(".debug-toolbar").wait_for(timeout=15000)
    assert not page.locator(".quick-input-widget").is_visible()   # no "which process?" pick
    page.locator(".debug-toolbar .action-label[aria-label^='Disconnect']").first.click()
    page.locator(".debug-toolbar").wait_for(state="hidden", timeout=10000)
    assert second.proc.poll() is None and first.proc.poll() is None


def test_two_attached_processes_list_their_code_actions_once_each_labelled(env):
    bench = env["bench"]
    first, second, _ = env["demos"]
    attach(bench, second)
    wait_for(lambda: len(connected(bench)) == 2, 20, "both processes attached")
    bench.open_file("torna_trace.py")
    tags = [f"[pid {d.proc.pid}]" for d in (first, second)]
    texts = lightbulb_menu(bench, line_of(env, HOLD_TEXT), f"{tags[1]} Hold here live",
                           "processes-01-code-actions")
    joined = "\n".join(texts)
    for tag in tags:
        assert sum(t.startswith(f"{tag} Hold here live") for t in texts) == 1, joined
        assert sum(t.startswith(f"{tag} Trace this function (GetHandler.get)") for t in texts) == 1, joined
    assert not any(t.startswith(("Hold here live", "Trace this function")) for t in texts), joined   # never unlabelled
    assert sum("Insert traceassert hold here" in t for t in texts) == 1, joined    # the same edit: once
    assert len(texts) == len(set(texts)), joined


def test_a_held_line_shows_one_resume_lens_of_the_holding_process(env):
    bench, page = env["bench"], env["bench"].page
    first, second, _ = env["demos"]
    request, box = held_request(second.http)
    hold_line = line_of(env, "await traceassert(")
    go_to_line(bench, hold_line)
    resume = page.locator(".monaco-editor .codelens-decoration a", has_text="Resume hold_check")
    resume.first.wait_for(timeout=15000)
    time.sleep(1.5)                                      # both processes' lenses are in
    lens_text = " | ".join(page.locator(".monaco-editor .codelens-decoration").all_inner_texts())
    bench.shot("processes-02-held-line-lens")
    assert resume.count() == 1, lens_text                  # one Resume, not one per process
    assert re.search(rf"\[pid {second.proc.pid}\] Resume hold_check", lens_text), lens_text
    assert f"[pid {first.proc.pid}] Resume" not in lens_text, lens_text
    assert lens_text.count(f"[pid {second.proc.pid}] Resume all (1)") == 1, lens_text
    # hovering the held line: the hold is said to be the holding process's
    page.locator(".monaco-editor .view-line", has_text="await traceassert(").first.hover(position={"x": 20, "y": 5})
    hover = page.locator(".monaco-hover-content", has_text="held in").first
    hover.wait_for(timeout=10000)
    assert f"[pid {second.proc.pid}]" in hover.inner_text() and f"[pid {first.proc.pid}]" not in hover.inner_text(), \
        hover.inner_text()
    page.keyboard.press("Escape")
    resume.first.click()
    request.join(15)
    assert "The reciprocal of 77.0 is" in box.get("body", ""), box
    wait_for(lambda: not resume.count(), 10, "the Resume lens to go")


def test_a_process_that_did_not_load_the_file_says_nothing_there(env):
    bench = env["bench"]
    first, second, other = env["demos"]
    attach(bench, other)
    wait_for(lambda: len(connected(bench)) == 3, 20, "three processes attached")
    bench.open_file("torna_trace.py")
    texts = lightbulb_menu(bench, line_of(env, HOLD_TEXT), f"[pid {second.proc.pid}] Hold here live",
                           "processes-03-code-actions-three-attached")
    joined = "\n".join(texts)
    assert not any(f"[pid {other.proc.pid}]" in t for t in texts), joined
    for demo in (first, second):
        assert sum(t.startswith(f"[pid {demo.proc.pid}] Hold here live") for t in texts) == 1, joined
    assert sum("Insert traceassert hold here" in t for t in texts) == 1, joined

    bench.open_file("other_app.py")               # loaded by the third process only
    texts = lightbulb_menu(bench, line_of(env, HOLD_TEXT, "other_app.py"), "Hold here live",
                           "processes-04-code-actions-own-file")
    joined = "\n".join(texts)
    assert sum(t.startswith("Hold here live") for t in texts) == 1, joined
    assert not any("[pid" in t for t in texts), joined


def test_a_traced_exception_in_each_process_is_one_diagnostic_each_labelled(env):
    bench, page = env["bench"], env["bench"].page
    first, second, _ = env["demos"]
    for demo in (first, second):                        # the same exception raised in both processes
        with other_client(demo, "e2e-trace") as client:
            client.request("otrace/trace", {"name": "GetHandler.get"})
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{demo.http}/?number=0", timeout=10)
    try:
        bench.open_file("torna_trace.py")
        bench.command("Problems: Focus on Problems View")
        rows = page.locator(".markers-panel .monaco-list-row", has_text="ZeroDivisionError")
        wait_for(lambda: rows.count() >= 2, 15, "both processes' diagnostics")
        time.sleep(1)
        texts = rows.all_inner_texts()
        bench.shot("processes-05-diagnostics")
        joined = "\n".join(texts)
        assert len(texts) == 2, joined
        for demo in (first, second):
            assert sum(f"[pid {demo.proc.pid}] ZeroDivisionError" in t for t in texts) == 1, joined
    finally:
        for demo in (first, second):
            with other_client(demo, "e2e-cleanup") as client:
                client.request("otrace/untrace", {"name": "GetHandler.get"})


def test_open_osh_as_folder_mounts_each_attached_process_told_apart_by_its_pid(env):
    """"otrace: Open /osh as Folder" with three processes attached: one /osh folder each, named by
    its script and pid. The window reloads into a workspace; none of them is attached by itself
    then (several run from the workspace), so each folder attaches its own process."""
    bench = env["bench"]
    first, second, other = env["demos"]
    wait_for(lambda: len(connected(bench)) == 3, 20, "three processes attached")
    open_osh_folder(bench, f"/osh · torna_trace.py (pid {first.proc.pid})")
    for demo, script in ((second, "torna_trace.py"), (other, "other_app.py")):
        explorer_row(bench, f"/osh · {script} (pid {demo.proc.pid})").wait_for(timeout=10000)
    expand(bench, f"/osh · other_app.py (pid {other.proc.pid})")
    explorer_row(bench, "globals").wait_for(timeout=20000)
    wait_for(lambda: f"pid:{other.proc.pid}" in connected(bench), 20, "its process attached by its folder")
    bench.shot("processes-06-osh-folders")
