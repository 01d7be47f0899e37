"""The VS Code extension in a real VS Code workbench (code-server 4.100.3 in headless Chromium,
driven by Playwright as a user would) against the real demos: attaching through discovery, a held
request (tree node, CodeLens, gutter, Resume completes the HTTP request; the context menu's Resume
with Value, Fail Request and Answer with Status), the console, the Browsers
panel evaluating JavaScript in the chat demo's browser, the "Insert traceassert hold here" code
action and a wrong token. Screenshots go to artifacts/vscode/.

The workbench, the demo processes and the waits are tests/e2e/workbench.py's; without the .vsix
or code-server the tests skip (or fail with OTRACE_VSCODE_E2E=required).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.workbench import (held_request, CHROMIUM, CHROMIUM_ARGS, torna_workspace, ROOT, Demo, Workbench, context_menu,
                                 open_code_actions, other_client, require_parts, show_otrace, tree_row, wait_for)

pytestmark = pytest.mark.timeout(90)

HANDLERS = '''"""A module of the test workspace for the code-action test."""


async def handle(request):
    total = 0
    for item in request:
        total += item
    return total
'''


@pytest.fixture(scope="module")
def env(tmp_path_factory, playwright):
    """The whole scene: a workspace with a copy of the torna demo, the demo running from it, the
    chat demo running from the repository, one headless Chromium, and the workbench."""
    require_parts()
    tmp = tmp_path_factory.mktemp("vscode")
    xdg, ws = torna_workspace(tmp)
    (ws / "handlers.py").write_text(HANDLERS)
    (ws / ".vscode").mkdir()
    (ws / ".vscode" / "settings.json").write_text("{}")   # watched from the start; a test changes it
    torna = Demo(ws / "torna_trace.py", xdg, ws)
    chat = Demo(ROOT / "demos" / "chat_websock.py", xdg, ROOT)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    bench = None
    scene = {"torna": torna, "chat": chat, "ws": ws, "browser": browser}
    try:
        bench = scene["bench"] = Workbench(tmp, ws, xdg, browser)
        yield scene
    finally:
        if bench is not None:
            bench.stop()
        browser.close()
        scene["torna"].stop()
        chat.stop()


def terminal_text(bench: Workbench) -> str:
    return bench.page.locator(".terminal-wrapper.active .xterm-rows").inner_text()


def focus_terminal(bench: Workbench) -> None:
    """Put the keyboard focus in the active terminal (a closing context menu or quick pick can hand
    it back to the view it came from after the terminal opened)."""
    bench.page.locator(".terminal-wrapper.active .xterm-screen").click()
    wait_for(lambda: bench.page.evaluate(
        "() => !!document.activeElement && !!document.activeElement.closest('.terminal-wrapper.active')"),
        5, "the terminal to have the focus")


def open_console(bench: Workbench, pick: str | None = None, prompt: str = "globals>") -> None:
    """Close every terminal, then "otrace: Open Console" (picking a process) and wait for its prompt."""
    bench.command("Terminal: Kill All Terminals")
    wait_for(lambda: not bench.page.locator(".terminal-wrapper .xterm-rows").count(), 10, "terminals to close")
    bench.command("otrace: Open Console", pick=pick)
    wait_for(lambda: bench.page.locator(".terminal-wrapper.active .xterm-rows").count()
             and terminal_text(bench).rstrip().endswith(prompt), 15, "the console prompt")
    focus_terminal(bench)


HELD_LINE_JS = """(line) => {
  const top = (e) => e && e.getBoundingClientRect().top;
  const all = (sel) => [...document.querySelectorAll('.monaco-editor ' + sel)];
  const icon = all('.margin .cgmr').find((e) => getComputedStyle(e).backgroundImage.includes('held.svg'));
  const num = all('.line-numbers').find((e) => e.textContent.trim() === String(line));
  const lens = all('.codelens-decoration a').find((e) => e.textContent.includes('Resume hold_check'));
  return icon && num && lens ? { icon: top(icon), line: top(num), lens: top(lens) } : null;
}"""


def test_attaches_through_discovery_to_the_process_of_the_workspace(env):
    bench = env["bench"]
    status = bench.page.locator(".statusbar-item", has_text="otrace")
    wait_for(lambda: "otrace: attached" in status.inner_text(), 20, "the status bar to say attached")
    wait_for(lambda: bench.state().get("connections"), 10, "the extension to record the connection")
    conns = bench.state()["connections"]
    assert [c["key"] for c in conns] == [f"pid:{env['torna'].proc.pid}"]   # the chat demo runs elsewhere
    assert conns[0]["state"] == "connected"
    bench.shot("01-attached")


def test_held_request_shows_node_codelens_gutter_and_resume_answers_it(env):
    bench, torna, page = env["bench"], env["torna"], env["bench"].page
    show_otrace(bench)
    request, box = held_request(torna.http)
    row = tree_row(bench, "Held Requests", "GetHandler.get")
    row.wait_for(timeout=15000)
    text = row.inner_text()
    assert "hold_check" in text and "GET /?number=77" in text, text
    wait_for(lambda: "1 held" in page.locator(".statusbar").inner_text(), 10, "the status bar to count the hold")

    row.click()   # opens the file at the holding line
    page.locator(".tab[aria-label*='torna_trace.py']").first.wait_for(timeout=10000)
    hold_line = 1 + next(i for i, line in enumerate((env["ws"] / "torna_trace.py").read_text().splitlines())
                         if "await traceassert(" in line)
    wait_for(lambda: f"Ln {hold_line}," in page.locator(".statusbar").inner_text(), 10, "the cursor at the hold line")
    lens = page.locator(".monaco-editor .codelens-decoration a", has_text="Resume hold_check").first
    lens.wait_for(timeout=15000)
    assert page.locator(".monaco-editor .codelens-decoration", has_text="traceassert:").count() >= 1
    # the gutter icon sits on the traceassert line, the Resume lens just above it
    pos = wait_for(lambda: page.evaluate(HELD_LINE_JS, hold_line), 10, "the gutter icon, line number and lens")
    assert abs(pos["icon"] - pos["line"]) < 4, pos
    assert 0 < pos["line"] - pos["lens"] < 40, pos
    bench.shot("02-held-request")

    row.hover()
    row.locator(".action-label[aria-label='Resume']").click()
    request.join(15)
    assert "The reciprocal of 77.0 is" in box.get("body", ""), box
    row.wait_for(state="detached", timeout=10000)
    wait_for(lambda: not page.locator(".monaco-editor .codelens-decoration a", has_text="Resume hold_check").count(),
             10, "the Resume lens to go")
    bench.shot("03-resumed")


def test_holds_resumed_at_once_by_another_client_leave_the_panel(env):
    """Three holds resumed together from another client (the server tells the editor in one
    otrace/holdsResumed notification): the Held Requests panel and the status bar follow."""
    from tests.lsp.rpc import Client

    bench, torna, page = env["bench"], env["torna"], env["bench"].page
    show_otrace(bench)
    bodies: list[str] = []

    def fetch():
        bodies.append(urllib.request.urlopen(f"http://127.0.0.1:{torna.http}/?number=77", timeout=60).read().decode())

    requests = [threading.Thread(target=fetch, daemon=True) for _ in range(3)]
    for request in requests:
        request.start()
    wait_for(lambda: "3 held" in page.locator(".statusbar").inner_text(), 15, "the status bar to count 3 holds")
    other = Client(torna.lsp)
    try:
        other.initialize(torna.info["token"], name="another-editor")
        assert len(other.request("otrace/resume", {"all": True})["resumed"]) == 3
    finally:
        other.close()
    for request in requests:
        request.join(15)
    assert len(bodies) == 3 and all("The reciprocal of 77.0 is" in b for b in bodies), bodies
    wait_for(lambda: "held" not in page.locator(".statusbar").inner_text(), 10, "the status bar to count none")
    tree_row(bench, "Held Requests", "GetHandler.get").wait_for(state="detached", timeout=10000)


def test_open_in_console_then_resume_from_the_codelens(env):
    bench, torna, page = env["bench"], env["torna"], env["bench"].page
    request, box = held_request(torna.http)
    row = tree_row(bench, "Held Requests", "GetHandler.get")
    row.wait_for(timeout=15000)
    context_menu(bench, row, "Open in Console")
    wait_for(lambda: "GetHandler.." in terminal_text(bench), 15,
             "a console in the hold's directory")
    focus_terminal(bench)
    page.keyboard.type("number")
    page.keyboard.press("Enter")
    wait_for(lambda: "'77'" in terminal_text(bench), 10, "the held request's local variable")
    bench.shot("04-hold-console")

    lens = page.locator(".monaco-editor .codelens-decoration a", has_text="Resume hold_check").first
    lens.click()
    request.join(15)
    assert "The reciprocal of 77.0 is" in box.get("body", ""), box
    row.wait_for(state="detached", timeout=10000)


@pytest.mark.parametrize("item, answer, expected", [
    ("Resume with Value...", "5", (200, "The reciprocal of 5.0 is 0.2")),       # traceassert returns 5
    ("Fail Request...", "ValueError: bad input", (500, "Internal Server Error")),  # raised in the handler
    ("Answer with Status...", "503 Service Unavailable", (503, "Service Unavailable")),
])
def test_hold_context_menu_resumes_with_a_value_fails_or_answers_a_status(env, item, answer, expected):
    bench, torna, page = env["bench"], env["torna"], env["bench"].page
    show_otrace(bench)
    box = {}

    def get():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{torna.http}/?number=77", timeout=60) as r:
                box["answer"] = (r.status, r.read().decode())
        except urllib.error.HTTPError as e:
            box["answer"] = (e.code, e.read().decode())

    request = threading.Thread(target=get, daemon=True)
    request.start()
    row = tree_row(bench, "Held Requests", "GetHandler.get")
    row.wait_for(timeout=15000)
    context_menu(bench, row, item)
    field = page.locator(".quick-input-widget input")
    field.wait_for(state="visible", timeout=5000)
    field.fill(answer)
    field.press("Enter")
    request.join(15)
    status, body = box.get("answer", (None, ""))
    assert status == expected[0] and expected[1] in body, box
    row.wait_for(state="detached", timeout=10000)
    bench.shot(f"04c-{item.split()[0].lower()}")


def test_console_runs_ls_and_completes_with_tab(env):
    bench, page = env["bench"], env["bench"].page
    open_console(bench)
    page.keyboard.type("ls")
    page.keyboard.press("Enter")
    wait_for(lambda: "Request_stats" in terminal_text(bench), 10, "the output of ls")
    assert "GetHandler" in terminal_text(bench)
    page.keyboard.type("Request_st")
    page.keyboard.press("Tab")
    wait_for(lambda: "globals> Request_stats" in terminal_text(bench), 10, "TAB to complete the name")
    page.keyboard.press("Enter")
    wait_for(lambda: "'count':" in terminal_text(bench), 10, "the value of Request_stats")
    bench.shot("05-console")


def test_console_edit_opens_the_function_and_saving_it_patches_the_process(env):
    """The shell's edit in the VS Code console (it said "not supported in this console"): the running
    function opens in an editor; typing a line and Ctrl+S patches it and closes the editor."""
    bench, torna, page = env["bench"], env["torna"], env["bench"].page
    open_console(bench)
    try:
        page.keyboard.type("set safe_mode False")
        page.keyboard.press("Enter")
        wait_for(lambda: "safe_mode = False" in terminal_text(bench), 10, "safe mode off")
        page.keyboard.type("edit GetHandler.respond")
        page.keyboard.press("Enter")
        tab = page.locator(".tabs-container .tab", has_text="GetHandler.respond.py")
        tab.wait_for(timeout=15000)
        wait_for(lambda: "save it to patch the running function" in terminal_text(bench), 10, "the console's hint")
        page.locator(".monaco-editor .view-lines").first.click()
        page.keyboard.press("Control+Home")
        page.keyboard.press("End")
        page.keyboard.press("Enter")
        # the closing quote typed too: it types over an auto-inserted one, and is there when the
        # editor inserted none (Python's auto-closing can come late under load)
        page.keyboard.type("return 'patched from vscode'")
        bench.shot("05c-edit")
        page.keyboard.press("Control+s")
        tab.wait_for(state="detached", timeout=15000)           # closed once the process took it
        body = urllib.request.urlopen(f"http://127.0.0.1:{torna.http}/?number=5", timeout=10).read().decode()
        assert "patched from vscode" in body
    finally:   # put things back as another client would: what a user types is tested above
        with other_client(torna, "cleanup") as c:
            c.request("otrace/unpatch", {"name": "all"})
            c.request("otrace/command", {"line": "set safe_mode True"})
    body = urllib.request.urlopen(f"http://127.0.0.1:{torna.http}/?number=5", timeout=10).read().decode()
    assert "The reciprocal of 5.0 is 0.2" in body


def test_traced_exception_in_trace_contexts_and_diagnostics(env):
    bench, torna, page = env["bench"], env["torna"], env["bench"].page
    open_console(bench)
    page.keyboard.type("trace GetHandler.get")
    page.keyboard.press("Enter")
    wait_for(lambda: "Tracing GetHandler.get" in terminal_text(bench), 10, "trace to answer")
    with pytest.raises(urllib.error.HTTPError) as err:          # 1/0 in the app: a 500 answer
        urllib.request.urlopen(f"http://127.0.0.1:{torna.http}/?number=0", timeout=10)
    assert err.value.code == 500
    show_otrace(bench)
    row = tree_row(bench, "Trace Contexts", "ZeroDivisionError")
    row.wait_for(timeout=15000)
    raising = 1 + next(i for i, line in enumerate((env["ws"] / "torna_trace.py").read_text().splitlines())
                       if "1.0 / value" in line)
    at_raising = lambda: f"Ln {raising}," in page.locator(".statusbar").inner_text()   # noqa: E731
    for _ in range(3):   # the click opens the raising line; a row redrawn as the view refreshes may miss it
        row.click()
        try:
            wait_for(at_raising, 4, "the cursor at the raising line")
            break
        except AssertionError:
            pass
    wait_for(at_raising, 2, "the cursor at the raising line")
    page.locator(".monaco-editor .squiggly-info").first.wait_for(timeout=15000)   # the server's diagnostic
    bench.shot("05b-exception")
    open_console(bench)
    page.keyboard.type("untrace GetHandler.get")
    page.keyboard.press("Enter")
    wait_for(lambda: "untrace GetHandler.get\n" in terminal_text(bench).replace("\r", ""), 10, "untrace to answer")


def test_browsers_panel_evaluates_javascript_in_the_chat_page(env):
    bench, chat, page = env["bench"], env["chat"], env["bench"].page
    user = env["browser"].new_context()
    try:
        chat_page = user.new_page()
        chat_page.goto(f"http://127.0.0.1:{chat.http}/login")
        chat_page.fill("#name", "user1")
        chat_page.click("#login")
        chat_page.wait_for_selector("#message")

        bench.command("otrace: Attach to Process...", pick="chat_websock.py")
        wait_for(lambda: len(bench.state().get("connections", [])) == 2
                 and all(c["state"] == "connected" for c in bench.state().get("connections", [])), 15, "both processes attached")
        open_console(bench, pick="chat_websock.py")
        assert "shell of chat_websock.py" in terminal_text(bench)
        page.keyboard.type("exec x = 1")                 # refused in safe mode: the console says where to allow it
        page.keyboard.press("Enter")
        wait_for(lambda: '"otrace: Allow Code Execution' in terminal_text(bench), 10, "the refusal's hint")

        show_otrace(bench)
        row = tree_row(bench, "Browsers", "user1")
        row.wait_for(timeout=15000)
        row.click()
        bench.command("Focus on Browser JavaScript View")
        panel = page.frame_locator("iframe.webview.ready").frame_locator("#active-frame")
        panel.locator("#targets", has_text="in: user1").wait_for(timeout=15000)
        expr = panel.locator("#expr")
        expr.fill('document.body.style.background = "red"')
        expr.press("Enter")
        # refused in safe mode: the error's button allows code execution in that process, after a modal
        toast = page.locator(".notifications-toasts .notification-toast", has_text="refused in safe mode").first
        toast.wait_for(timeout=15000)
        bench.shot("06a-refused-in-safe-mode")
        toast.locator(".monaco-button", has_text="Allow Code Execution...").click()
        dialog = page.locator(".monaco-dialog-box")
        dialog.wait_for(timeout=10000)
        assert "chat_websock.py" in dialog.inner_text() and "JavaScript" in dialog.inner_text()
        dialog.locator(".monaco-button", has_text="Allow Code Execution").first.click()
        status = page.locator(".statusbar-item", has_text="otrace").first
        wait_for(lambda: "code execution allowed in 1 of 2" in status.inner_text(), 10, "the status bar to say so")
        expr.fill('document.body.style.background = "red"')
        expr.press("Enter")
        panel.locator("#log .result", has_text='user1: "red"').wait_for(timeout=15000)
        assert chat_page.evaluate("document.body.style.background") == "red"
        expr.fill("document.querySelector('#message').value")
        chat_page.fill("#message", "typing 1")
        panel.locator("#monitor").check()      # re-evaluated live, like `repeat`
        panel.locator("#monitorOut", has_text='user1: "typing 1"').wait_for(timeout=10000)
        chat_page.fill("#message", "typing 2")
        panel.locator("#monitorOut", has_text='user1: "typing 2"').wait_for(timeout=10000)
        panel.locator("#monitor").uncheck()

        # a request held for this browser: its browser is one click away
        chat_page.evaluate("() => { window.posted = fetch('/post?body=please%20hold', {method: 'POST'}).then(r => r.status); }")
        hold = tree_row(bench, "Held Requests", "PostHandler.post")
        hold.wait_for(timeout=15000)
        browser_row = tree_row(bench, "Browsers", "user1")
        if browser_row.get_attribute("aria-selected") == "true":
            browser_row.click(modifiers=["Control"])      # deselect: the hold's action selects it again
        wait_for(lambda: browser_row.get_attribute("aria-selected") != "true", 5, "user1 deselected")
        hold.hover()
        hold.locator(".action-label[aria-label='Show Browser']").click()
        wait_for(lambda: browser_row.get_attribute("aria-selected") == "true", 10, "user1 selected by Show Browser")
        panel.locator("#targets", has_text="in: user1").wait_for(timeout=10000)
        bench.shot("06b-hold-browser")
        hold.hover()
        hold.locator(".action-label[aria-label='Resume']").click()
        assert chat_page.evaluate("window.posted") == 200
        bench.shot("06-browsers")
    finally:
        user.close()


def test_insert_traceassert_code_action_edits_the_file(env):
    bench, page, ws = env["bench"], env["bench"].page, env["ws"]
    bench.open_file("handlers.py")
    page.locator(".monaco-editor .view-line", has_text="total += item").first.click()
    open_code_actions(bench, "Insert traceassert hold here", "07-code-actions")
    focused = page.locator(".action-widget .monaco-list-row.focused")
    for _ in range(5):   # as a user does: arrow to the action, Enter applies it
        if "Insert traceassert hold here" in focused.inner_text():
            break
        page.keyboard.press("ArrowDown")
    assert "Insert traceassert hold here" in focused.inner_text()
    page.keyboard.press("Enter")
    page.keyboard.press("Control+S")
    text = wait_for(lambda: (t := (ws / "handlers.py").read_text()) != HANDLERS and t, 10, "the file to be saved")
    assert 'await traceassert(True, label="handle_' in text and 'action="hold")' in text, text
    assert "from otrace_server import traceassert" in text
    inserted = next(line for line in text.splitlines() if "await traceassert(" in line)
    assert inserted.startswith("        await")   # at the indentation of `total += item`


def test_reattaches_when_the_workspace_app_restarts(env):
    bench, ws = env["bench"], env["ws"]
    old = env["torna"]
    old.stop()      # the app exits (its discovery file goes) ...
    wait_for(lambda: f"pid:{old.proc.pid}" not in [c["key"] for c in bench.state().get("connections", [])],
             20, "the exited process to be dropped")
    assert f"torna_trace.py (pid {old.proc.pid}) exited" in bench.notification("exited")   # a notice says so
    env["torna"] = new = Demo(ws / "torna_trace.py", old.discovery.parent.parent, ws)   # ... and is started again
    wait_for(lambda: any(c["key"] == f"pid:{new.proc.pid}" and c["state"] == "connected"
                         for c in bench.state().get("connections", [])), 20, "the new process to be attached")
    show_otrace(bench)
    tree_row(bench, "Held Requests", f"torna_trace.py (pid {new.proc.pid})").wait_for(timeout=10000)
    bench.shot("08-reattached")


def test_wrong_token_shows_a_clear_error(env):
    bench, ws = env["bench"], env["ws"]
    (ws / ".vscode" / "settings.json").write_text(json.dumps({
        "otrace.host": "127.0.0.1", "otrace.port": env["torna"].lsp, "otrace.token": "not-the-token"}))
    toasts = bench.page.locator(".notifications-toasts .notification-toast")
    for _ in range(10):   # until the workbench has read the changed settings file
        bench.command("otrace: Attach to Host/Port (settings)")
        toasts.first.wait_for(timeout=10000)
        text = toasts.first.inner_text()
        if "cannot attach" in text:
            break
        assert "set otrace.port" in text, text      # the settings are not read yet
        bench.command("Notifications: Clear All Notifications")
        time.sleep(0.5)
    else:
        raise AssertionError("no 'cannot attach' error was shown")
    assert f"cannot attach to 127.0.0.1:{env['torna'].lsp}: invalid token" in text, text
    time.sleep(0.5)
    errors = bench.page.locator(".notifications-toasts .notification-toast", has=bench.page.locator(".codicon-error"))
    assert errors.count() == 1, errors.all_inner_texts()   # one clear line, not the client library's too
    bench.shot("09-wrong-token")


def after_failure(env) -> None:
    """(tests/e2e/conftest.py, after a failed test's screenshot) Resume every hold the failed test
    left behind (through the demo's language server), so the next tests start clean."""
    from tests.lsp.rpc import Client

    client = Client(env["torna"].lsp)
    try:
        client.initialize(env["torna"].info["token"], name="e2e-cleanup")
        client.request("otrace/resume", {"all": True})
    finally:
        client.close()
