"""The `otrace` debug type in a real VS Code workbench (code-server 4.100.3 in headless Chromium,
driven by Playwright as a user would) against the real torna demo: "otrace: Attach Debugger"
attaches VS Code's own debugger to the process's DAP endpoint; a held request is a paused thread in
the Call Stack with its locals in the Variables view and Continue answers it; a gutter breakpoint
(F9) holds only the request that reaches it while others complete; removing it and disconnecting
leave the server serving. Screenshots go to artifacts/vscode/ (debug-*.png).
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request

import pytest

from tests.e2e.workbench import Workbench, go_to_line, show_otrace, torna_scene, tree_row, wait_for

pytestmark = pytest.mark.timeout(90)

CALL_STACK = ".debug-call-stack"
VARIABLES = ".debug-variables"


class Request:
    """One HTTP GET to the demo in a thread (a held request does not answer until resumed)."""

    def __init__(self, url: str) -> None:
        self.body: str | None = None
        self.thread = threading.Thread(target=self._get, args=(url,), daemon=True)
        self.thread.start()

    def _get(self, url: str) -> None:
        self.body = urllib.request.urlopen(url, timeout=60).read().decode()

    def answer(self, timeout: float = 15.0) -> str:
        self.thread.join(timeout)
        assert self.body is not None, "no HTTP answer"
        return self.body


@pytest.fixture(scope="module")
def env(tmp_path_factory, playwright):
    """A workspace with a copy of the torna demo, the demo running from it, and the workbench."""
    with torna_scene(tmp_path_factory, playwright, "vscode-debug") as scene:
        yield scene


def url(env, query: str = "") -> str:
    return f"http://127.0.0.1:{env['torna'].http}/{query}"


def line_of(env, text: str) -> int:
    """The 1-based line of the workspace's torna_trace.py that contains ``text``."""
    lines = (env["ws"] / "torna_trace.py").read_text().splitlines()
    return 1 + next(i for i, line in enumerate(lines) if text in line)


def paused_thread(bench: Workbench, text: str):
    """The Call Stack row of the paused thread whose name contains ``text``."""
    return bench.page.locator(f"{CALL_STACK} .monaco-list-row", has=bench.page.locator(".thread", has_text=text)).first


def variable(bench: Workbench, name: str):
    return bench.page.locator(f"{VARIABLES} .monaco-list-row", has=bench.page.locator(".name", has_text=name)).first


def continue_button(bench: Workbench):
    return bench.page.locator(".debug-toolbar .action-label[aria-label^='Continue']").first


def call_stack_text(bench: Workbench) -> str:
    """The Call Stack pane: its header (the focused thread's stop description) and its rows."""
    return bench.page.locator(".pane", has=bench.page.locator(".pane-header", has_text="Call Stack")).first.inner_text()


def click_gutter(bench: Workbench, line: int) -> None:
    """Click the editor's glyph margin (left of the line numbers) beside ``line``, as a user sets a breakpoint."""
    page = bench.page
    number = page.locator(".monaco-editor .margin .line-numbers", has_text=str(line))
    number = number.filter(has_text=re.compile(rf"^\s*{line}\s*$")).first
    box = number.bounding_box()
    glyphs = page.locator(".monaco-editor .margin").first.bounding_box()
    page.mouse.click(glyphs["x"] + 8, box["y"] + box["height"] / 2)


def test_attach_debugger_shows_held_requests_as_paused_threads_and_continue_answers_one(env):
    bench, page = env["bench"], env["bench"].page
    bench.command("otrace: Attach Debugger")          # the process of the workspace: no pick
    page.locator(".debug-toolbar").wait_for(timeout=15000)
    bench.command("View: Show Run and Debug")
    first, second = Request(url(env, "?number=77&n=1")), Request(url(env, "?number=77&n=2"))
    thread = paused_thread(bench, "GET /?number=77&n=1")
    thread.wait_for(timeout=15000)
    paused_thread(bench, "GET /?number=77&n=2").wait_for(timeout=15000)
    # named by its request first, then its label (the path is the useful part when the row is cut)
    assert thread.locator(".thread .name").inner_text().startswith("GET /?number=77&n=1 from 127.0.0.1 · hold_check"), \
        call_stack_text(bench)
    # its stack: the holding line of GetHandler.get; its locals in the Variables view
    if thread.get_attribute("aria-expanded") != "true":
        thread.click()
    frame = page.locator(f"{CALL_STACK} .monaco-list-row[data-index='{int(thread.get_attribute('data-index')) + 1}']")
    hold_line = line_of(env, "await traceassert(")
    assert frame.get_attribute("aria-label") == f"Stack Frame get, line {hold_line}, torna_trace.py", call_stack_text(bench)
    frame.click()                                         # focus this request's innermost frame
    wait_for(lambda: frame.get_attribute("aria-selected") == "true", 5, "the frame to be focused")
    number = variable(bench, "number")
    number.wait_for(timeout=10000)
    assert number.locator(".value").inner_text() == "'77'"
    assert first.body is None and second.body is None     # both still held while we look
    bench.shot("debug-01-held-threads")

    # the Debug Console evaluates in that frame; a refused evaluation is said there, not also as a toast
    bench.command("Debug Console: Focus on Debug Console View")
    repl = page.locator(".repl")
    page.locator(".repl-input-wrapper .monaco-editor").first.click()
    page.keyboard.type("len(number)")
    page.keyboard.press("Enter")
    repl.locator(".monaco-list-row", has_text="refused in safe mode").first.wait_for(timeout=10000)
    page.keyboard.type("number")
    page.keyboard.press("Enter")
    repl.locator(".monaco-list-row", has_text="'77'").first.wait_for(timeout=10000)
    assert not page.locator(".notifications-toasts .notification-toast", has_text="refused").count()
    bench.shot("debug-01b-console-error")

    continue_button(bench).click()                        # the focused thread only
    assert "The reciprocal of 77.0 is" in first.answer()
    thread.wait_for(state="detached", timeout=10000)
    assert second.body is None, "Continue resumed another request too"
    bench.shot("debug-02-continued-one")
    # one paused thread: the Call Stack shows its frames under the stop state (held), no thread row
    wait_for(lambda: "held" in call_stack_text(bench).lower() and "torna_trace.py" in call_stack_text(bench), 10,
             "the other hold to stay paused")
    page.locator(f"{CALL_STACK} .monaco-list-row").first.click()
    continue_button(bench).click()
    assert "The reciprocal of 77.0 is" in second.answer()
    wait_for(lambda: "torna_trace.py" not in call_stack_text(bench), 10, "no paused thread left")


def test_gutter_breakpoint_holds_only_the_request_that_reaches_it(env):
    bench, page = env["bench"], env["bench"].page
    bench.open_file("torna_trace.py")
    line = line_of(env, "self.write(PAGE % html.escape(self.respond(number)")
    go_to_line(bench, line)
    click_gutter(bench, line)
    bench.command("View: Show Run and Debug")
    # verified, and the Breakpoints view says what it does (a live hold; the server is not stopped)
    listed = page.locator(f".debug-breakpoints .monaco-list-row[aria-label*='live hold at line {line}']").first
    listed.wait_for(timeout=10000)
    assert "only the request that reaches it waits" in listed.get_attribute("aria-label")
    page.locator(".monaco-editor .codicon-debug-breakpoint").first.wait_for(timeout=5000)   # not -unverified

    held = Request(url(env, "?number=5"))            # reaches the line: waits there
    wait_for(lambda: "live hold" in call_stack_text(bench).lower(), 15, "the breakpoint's hold in the Call Stack")
    # the server keeps serving: a request that does not reach the line completes meanwhile
    other = urllib.request.urlopen(url(env), timeout=10)
    assert other.status == 200 and 'id="answer"' in other.read().decode()
    assert held.body is None
    variable(bench, "number").wait_for(timeout=10000)
    assert variable(bench, "number").locator(".value").inner_text() == "'5'"
    bench.shot("debug-03-breakpoint-hold")

    continue_button(bench).click()
    assert "The reciprocal of 5.0 is 0.2" in held.answer()
    wait_for(lambda: "torna_trace.py" not in call_stack_text(bench), 10, "no paused thread left")

    # removing the breakpoint unpatches: the next such request is answered at once
    bench.open_file("torna_trace.py")
    go_to_line(bench, line)
    page.keyboard.press("F9")                        # toggles it off
    listed.wait_for(state="detached", timeout=10000)
    time.sleep(1)                                    # setBreakpoints [] reaches the server
    assert "The reciprocal of 5.0" in urllib.request.urlopen(url(env, "?number=5"), timeout=5).read().decode()
    bench.shot("debug-04-breakpoint-removed")


def test_breakpoint_in_a_plain_def_records_a_snapshot_listed_as_one(env):
    bench, page = env["bench"], env["bench"].page
    bench.open_file("torna_trace.py")
    line = line_of(env, "value = float(number)")           # in respond, a plain def
    go_to_line(bench, line)
    page.keyboard.press("F9")
    bench.command("View: Show Run and Debug")
    page.locator(f".debug-breakpoints .monaco-list-row[aria-label*='snapshot']").first.wait_for(timeout=10000)
    assert "The reciprocal of 8.0" in Request(url(env, "?number=8")).answer()   # recorded, not held
    show_otrace(bench)
    row = tree_row(bench, "Trace Contexts", "snapshot")
    row.wait_for(timeout=15000)
    assert row.locator(".codicon-device-camera").count(), row.inner_html()
    bench.shot("debug-05-snapshot-in-trace-contexts")
    bench.open_file("torna_trace.py")
    go_to_line(bench, line)
    page.keyboard.press("F9")                               # removed again


def test_disconnect_leaves_the_application_serving(env):
    page = env["bench"].page
    page.locator(".debug-toolbar .action-label[aria-label^='Disconnect']").first.click()
    page.locator(".debug-toolbar").wait_for(state="hidden", timeout=10000)
    body = urllib.request.urlopen(url(env, "?number=4"), timeout=10).read().decode()
    assert "The reciprocal of 4.0 is 0.25" in body
    assert env["torna"].proc.poll() is None
