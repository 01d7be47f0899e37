"""Issue 17 in a real VS Code workbench (code-server 4.100.3 in headless Chromium, driven by
Playwright as a user would) against the real torna demo: live holds ("Hold here live") listed under
Held Requests with their line, marked in the gutter and removed from their row, by the command
palette and by the code action on their line, in safe mode; the safe-mode switch (a modal that
says what it allows, the status bar following every client); held requests named by their request.
Screenshots go to artifacts/vscode/ (live-*.png).
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest

from tests.e2e.workbench import (OTRACE_VIEWS, Workbench, code_action, context_menu, inline_action, other_client, show_otrace,
                                 torna_scene, tree_row, wait_for)

pytestmark = pytest.mark.timeout(120)

HOLD_TEXT = "html.escape(self.respond(number)"     # a line of GetHandler.get (an async def)


@pytest.fixture(scope="module")
def env(tmp_path_factory, playwright):
    """A workspace with a copy of the torna demo, the demo running from it, and the workbench."""
    with torna_scene(tmp_path_factory, playwright, "vscode-live") as scene:
        yield scene


class Request:
    """One HTTP GET to the demo in a thread (a held request answers once resumed): ``answer()``."""

    def __init__(self, env, query: str) -> None:
        self.result: tuple[int, str] | None = None
        self.thread = threading.Thread(target=self._get, args=(f"http://127.0.0.1:{env['torna'].http}/{query}",),
                                       daemon=True)
        self.thread.start()

    def _get(self, url: str) -> None:
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                self.result = (r.status, r.read().decode())
        except urllib.error.HTTPError as e:
            self.result = (e.code, e.read().decode())

    def answer(self, timeout: float = 15.0) -> tuple[int, str]:
        self.thread.join(timeout)
        assert self.result is not None, "no HTTP answer"
        return self.result


def line_of(env, text: str) -> int:
    lines = (env["ws"] / "torna_trace.py").read_text().splitlines()
    return 1 + next(i for i, line in enumerate(lines) if text in line)


GUTTER_JS = """([svg, line]) => {
  const all = (sel) => [...document.querySelectorAll('.monaco-editor ' + sel)];
  const icon = all('.margin .cgmr').find((e) => getComputedStyle(e).backgroundImage.includes(svg));
  const num = all('.line-numbers').find((e) => e.textContent.trim() === String(line));
  return icon && num ? Math.abs(icon.getBoundingClientRect().top - num.getBoundingClientRect().top) < 4 : null;
}"""


def status_text(bench: Workbench) -> str:
    return bench.page.locator(".statusbar-item", has_text="otrace").first.inner_text()


def hold_here_live(bench: Workbench, env) -> int:
    """"Hold here live" from the lightbulb menu of the HOLD_TEXT line; returns the line held."""
    bench.open_file("torna_trace.py")
    code_action(bench, line_of(env, HOLD_TEXT), "Hold here live")
    toast = bench.notification("now waits")
    assert 'remove it with "otrace: Remove Live Hold..."' in toast, toast
    assert "unpatch" not in toast, toast                      # no protocol method name
    bench.command("Notifications: Clear All Notifications")
    return line_of(env, HOLD_TEXT)


def live_row(bench: Workbench, line: int):
    return tree_row(bench, "Held Requests", f"torna_trace.py:{line}")


def test_live_hold_is_listed_marked_in_the_gutter_and_removed_from_its_row(env):
    bench, page = env["bench"], env["bench"].page
    wait_for(lambda: "safe mode" in status_text(bench), 20, "the status bar to show safe mode")
    line = hold_here_live(bench, env)
    show_otrace(bench)
    row = live_row(bench, line)
    row.wait_for(timeout=10000)
    assert "GetHandler.get" in row.inner_text() and "live_get_" in row.inner_text()
    tree_row(bench, "Held Requests", "Live holds").wait_for(timeout=5000)
    # its own gutter mark, not the held request's
    assert wait_for(lambda: page.evaluate(GUTTER_JS, ["live-hold.svg", line]), 10, "the live hold's gutter icon")
    assert not page.evaluate(GUTTER_JS, ["held.svg", line])

    # a request reaching the line is held, named by its request
    request = Request(env, "?number=5")
    held = tree_row(bench, "Held Requests", "GET /?number=5")
    held.wait_for(timeout=15000)
    assert "live_get_" in held.inner_text() and "GetHandler.get" in held.inner_text()
    bench.shot("live-01-live-hold-and-held-request")
    inline_action(held, "Resume")
    assert "The reciprocal of 5.0 is 0.2" in request.answer()[1]
    held.wait_for(state="detached", timeout=10000)          # the tree has settled

    inline_action(row, "Remove Live Hold")     # in safe mode
    row.wait_for(state="detached", timeout=10000)
    bench.notification("removed the live hold of GetHandler.get")
    assert "The reciprocal of 5.0" in Request(env, "?number=5").answer(5)[1]  # no longer held
    wait_for(lambda: not page.evaluate(GUTTER_JS, ["live-hold.svg", line]), 10, "the gutter icon to go")
    assert "safe mode" in status_text(bench)


def test_live_hold_removed_by_the_command_and_by_the_code_action_on_its_line(env):
    bench = env["bench"]
    line = hold_here_live(bench, env)
    show_otrace(bench)
    live_row(bench, line).wait_for(timeout=10000)
    bench.command("otrace: Remove Live Hold...", pick=f"GetHandler.get (line {line})")
    live_row(bench, line).wait_for(state="detached", timeout=10000)

    hold_here_live(bench, env)
    live_row(bench, line).wait_for(timeout=10000)
    # on its line: "Hold here live" is disabled (it has one), "Remove live hold" removes it
    bench.open_file("torna_trace.py")
    code_action(bench, line, f"Remove live hold (GetHandler.get, line {line})", shot="live-02-code-actions")
    live_row(bench, line).wait_for(state="detached", timeout=10000)
    assert "The reciprocal of 3.0" in Request(env, "?number=3").answer(5)[1]

    hold_here_live(bench, env)                                  # and from its line's hover
    live_row(bench, line).wait_for(timeout=10000)
    page = bench.page
    page.locator(".monaco-editor .view-line", has_text=HOLD_TEXT).first.hover()
    hover = page.locator(".monaco-hover", has_text="live hold in GetHandler.get")
    hover.wait_for(timeout=10000)
    hover.locator("a", has_text="Remove live hold").click()
    live_row(bench, line).wait_for(state="detached", timeout=10000)


def test_allow_code_execution_asks_first_and_the_status_bar_follows_every_client(env):
    bench, page = env["bench"], env["bench"].page
    wait_for(lambda: "safe mode" in status_text(bench), 10, "safe mode at first")
    dialog = page.locator(".monaco-dialog-box")
    bench.command("otrace: Allow Code Execution (turn safe mode off)")
    dialog.wait_for(timeout=10000)
    text = dialog.inner_text()
    for what in ("exec", "calls", "edit", "JavaScript", "every client"):
        assert what in text, text
    bench.shot("live-03-allow-code-execution")
    dialog.locator(".monaco-button", has_text="Cancel").click()
    dialog.wait_for(state="hidden", timeout=5000)
    assert "safe mode" in status_text(bench)

    bench.command("otrace: Allow Code Execution (turn safe mode off)")
    dialog.locator(".monaco-button", has_text="Allow Code Execution").click()
    wait_for(lambda: "code execution allowed" in status_text(bench), 10, "the status bar to say code execution is allowed")
    with other_client(env["torna"], "another-editor") as other:     # another client (or the console) turns it on
        assert other.request("otrace/command", {"line": "set safe_mode True"})["error"] is False
        wait_for(lambda: "safe mode" in status_text(bench), 10, "the status bar to follow the other client")
        other.request("otrace/command", {"line": "set safe_mode False"})
        wait_for(lambda: "code execution allowed" in status_text(bench), 10, "the status bar to follow again")
    bench.shot("live-04-code-execution-allowed")
    bench.command("otrace: Turn Safe Mode On")
    wait_for(lambda: "safe mode" in status_text(bench), 10, "safe mode on again")


def test_answer_with_status_takes_the_range_from_the_server(env):
    bench, page = env["bench"], env["bench"].page
    show_otrace(bench)
    request = Request(env, "?number=77")
    row = tree_row(bench, "Held Requests", "GET /?number=77")
    row.wait_for(timeout=15000)
    context_menu(bench, row, "Fail Request...")
    field = page.locator(".quick-input-widget input")
    field.wait_for(state="visible", timeout=5000)
    field.fill("not an exception name")                         # said at once, not sent
    page.locator(".quick-input-widget", has_text='optionally followed by ": message"').wait_for(timeout=5000)
    field.press("Escape")
    context_menu(bench, row, "Answer with Status...")
    field.wait_for(state="visible", timeout=5000)
    field.fill("150 Too Early")
    page.locator(".quick-input-widget", has_text="from 200 to 599").wait_for(timeout=5000)   # the server's statusRange
    field.fill("409 Conflict")
    field.press("Enter")
    assert request.answer()[0] == 409
    row.wait_for(state="detached", timeout=10000)


def trace_row(bench: Workbench, text: str):
    return tree_row(bench, "Trace Contexts", text)


def test_traced_function_lens_trace_contexts_kinds_line_hover_resume_and_clear(env):
    bench, page = env["bench"], env["bench"].page
    bench.open_file("torna_trace.py")
    code_action(bench, line_of(env, HOLD_TEXT), "Trace this function (GetHandler.get)")
    bench.notification("tracing GetHandler.get")
    lens = page.locator(".monaco-editor .codelens-decoration a", has_text="traced · Untrace").first
    lens.wait_for(timeout=15000)                               # above `async def get`
    assert Request(env, "?number=0").answer()[0] == 500        # ZeroDivisionError, recorded by the trace
    request = Request(env, "?number=77")
    show_otrace(bench)
    trace_row(bench, "held").wait_for(timeout=15000)
    exception = trace_row(bench, "ZeroDivisionError")
    exception.wait_for(timeout=15000)
    assert "exception" in exception.inner_text() and exception.locator(".codicon-error").count()

    # hovering the held line offers Resume
    held_line = line_of(env, "await traceassert(")
    bench.open_file("torna_trace.py")
    page.locator(".monaco-editor .view-line", has_text="await traceassert(").first.hover()
    hover = page.locator(".monaco-hover", has_text="held in GetHandler.get")
    hover.wait_for(timeout=10000)
    assert "GET /?number=77" in hover.inner_text()
    bench.shot("live-05-line-hover")
    hover.locator("a", has_text="Resume").first.click()
    assert "The reciprocal of 77.0" in request.answer()[1]
    trace_row(bench, "held").wait_for(state="detached", timeout=10000)     # that context now says resumed
    resumed = trace_row(bench, "resumed")
    resumed.wait_for(timeout=15000)
    assert resumed.locator(".codicon-debug-continue").count(), resumed.inner_html()
    wait_for(lambda: page.evaluate(GUTTER_JS, ["held.svg", held_line]) is None, 10, "the held line's icon to go")
    bench.shot("live-06-trace-contexts")

    clear = page.locator(f"{OTRACE_VIEWS} .pane-header", has_text="Trace Contexts").locator(
        ".action-label[aria-label^='Clear List (this view only']")
    page.locator(f"{OTRACE_VIEWS} .pane-header", has_text="Trace Contexts").hover()
    clear.click()
    exception.wait_for(state="detached", timeout=10000)
    resumed.wait_for(state="detached", timeout=10000)
    assert Request(env, "?number=0").answer()[0] == 500        # a newer one is listed again
    trace_row(bench, "ZeroDivisionError").wait_for(timeout=15000)

    bench.open_file("torna_trace.py")
    lens.click()                                               # Untrace
    bench.notification("GetHandler.get is no longer traced")
    lens.wait_for(state="detached", timeout=10000)


def test_a_held_request_whose_client_left_says_so(env):
    bench = env["bench"]
    show_otrace(bench)

    def impatient():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{env['torna'].http}/?number=77&impatient=1", timeout=1)
        except OSError:
            pass                                               # gives up after 1 s: its connection closes

    threading.Thread(target=impatient, daemon=True).start()
    row = tree_row(bench, "Held Requests", "GET /?number=77&impatient=1")
    row.wait_for(timeout=15000)
    wait_for(lambda: "client gone" in row.inner_text(), 15, "the row to say the client is gone")
    bench.shot("live-07-client-gone")
    inline_action(row, "Resume")
    row.wait_for(state="detached", timeout=10000)


def after_failure(env) -> None:
    """(tests/e2e/conftest.py, after a failed test's screenshot) Undo the holds and live holds it left."""
    with other_client(env["torna"], "e2e-cleanup") as client:
        client.request("otrace/unpatch", {"name": "*"})
        client.request("otrace/resume", {"all": True})
        client.request("otrace/command", {"line": "set safe_mode True"})
