"""The pieces of the VS Code end-to-end tests (tests/e2e/test_vscode*.py): a demo process with its
discovery file, code-server with the extension installed serving a workspace (the workbench page,
driven by Playwright in headless Chromium), waits, screenshots into artifacts/vscode/, and the
otrace views' and the Explorer's locators (and "Open /osh as Folder").

Needs the .vsix and code-server, which `make test-vscode` builds and installs (see
vscode-extension/README.md); `require_parts()` skips without them, unless
OTRACE_VSCODE_E2E=required (`make test` sets it) makes that a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.waiting import wait_for as _wait_for
from tests.support.processes import end_process

__all__ = ["ROOT", "ARTIFACTS", "CHROMIUM", "CHROMIUM_ARGS", "OTRACE_VIEWS", "Demo", "Workbench", "require_parts",
           "wait_for", "free_port", "torna_workspace", "show_otrace", "tree_row", "context_menu", "inline_action", "go_to_line", "code_action", "other_client", "explorer_row", "expand", "reveal", "open_osh_folder"]

ROOT = Path(__file__).resolve().parents[2]
VSIX = ROOT / "vscode-extension" / "otrace-vscode.vsix"
CODE_SERVER = Path(os.environ.get("OTRACE_CODE_SERVER") or
                   Path.home() / ".cache" / "otrace-ci" / "code-server-4.100.3")
ARTIFACTS = ROOT / "artifacts" / "vscode"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]



def require_parts() -> None:
    """Skip the calling test (or fixture) when the .vsix, code-server or chromium is missing; fail
    instead when OTRACE_VSCODE_E2E=required."""
    missing = _missing()
    if missing:
        if os.environ.get("OTRACE_VSCODE_E2E") == "required":
            pytest.fail(missing)
        pytest.skip(missing)


def _missing() -> str | None:
    for path, what in [(VSIX, "the .vsix (make test-vscode builds it)"),
                       (CODE_SERVER / "out" / "node" / "entry.js", "code-server (make test-vscode installs it)"),
                       (Path(CHROMIUM), "chromium")]:
        if not path.exists():
            return f"{what} is missing: {path}"
    return None


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    """``tests.support.appserver.wait_for`` with the workbench's longer default and slower poll."""
    return _wait_for(predicate, timeout, what, interval=0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torna_workspace(tmp: Path) -> tuple[Path, Path]:
    """(xdg, ws) under ``tmp``: a private XDG_RUNTIME_DIR (discovery files) and a workspace holding a
    copy of the torna demo (torna_trace.py and its .trc)."""
    xdg = tmp / "xdg"
    xdg.mkdir(mode=0o700)
    ws = tmp / "workspace"
    ws.mkdir()
    for name in ("torna_trace.py", "torna_trace.trc"):
        shutil.copy(ROOT / "demos" / name, ws / name)
    return xdg, ws


@contextlib.contextmanager
def torna_scene(tmp_path_factory, playwright, name: str):
    """The usual scene of a test module: a workspace with a copy of the torna demo, the demo
    running from it, one headless Chromium and the workbench; yields ``{"torna", "ws", "bench"}``
    and stops them all."""
    require_parts()
    tmp = tmp_path_factory.mktemp(name)
    xdg, ws = torna_workspace(tmp)
    torna = Demo(ws / "torna_trace.py", xdg, ws)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    bench = None
    try:
        bench = Workbench(tmp, ws, xdg, browser)
        yield {"torna": torna, "ws": ws, "bench": bench}
    finally:
        if bench is not None:
            bench.stop()
        browser.close()
        torna.stop()


class Demo:
    """A demo process (`--port 0 --exit-on-stdin-eof`) with its discovery file in ``xdg``."""

    def __init__(self, script: Path, xdg: Path, cwd: Path) -> None:
        env = dict(os.environ, XDG_RUNTIME_DIR=str(xdg), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(script), "--port", "0", "--exit-on-stdin-eof"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, text=True, cwd=str(cwd))
        self.http = self.lsp = None
        while self.lsp is None:
            line = self.proc.stdout.readline()
            assert line, f"{script.name} exited"
            if line.startswith("Listening on"):
                self.http = int(line.rsplit(":", 1)[1])
            elif line.startswith("otrace language server"):
                self.lsp = int(line.split(":")[1].split()[0])
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()   # drain
        self.discovery = xdg / "otrace" / f"otrace-{self.proc.pid}.json"
        self.info = json.loads(self.discovery.read_text())

    def stop(self) -> None:
        end_process(self.proc)


class Workbench:
    """code-server with the extension installed, serving ``folder``; ``page`` is the workbench."""

    def __init__(self, tmp: Path, folder: Path, xdg: Path, browser) -> None:
        self.tmp, self.folder = tmp, folder
        self.marker = tmp / "marker.json"
        user = tmp / "user-data"
        (user / "User").mkdir(parents=True)
        (user / "User" / "settings.json").write_text(json.dumps({
            "telemetry.telemetryLevel": "off", "update.mode": "none", "extensions.autoUpdate": False,
            "extensions.autoCheckUpdates": False, "workbench.startupEditor": "none",
            "security.workspace.trust.enabled": False, "terminal.integrated.gpuAcceleration": "off",
            "workbench.tips.enabled": False, "editor.codeLens": True, "git.enabled": False,
            "workbench.enableExperiments": False, "chat.commandCenter.enabled": False,
        }))
        env = dict(os.environ, XDG_CONFIG_HOME=str(tmp / "config"), XDG_DATA_HOME=str(tmp / "data"),
                   XDG_RUNTIME_DIR=str(xdg), OTRACE_VSCODE_MARKER=str(self.marker),
                   PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
        entry = str(CODE_SERVER / "out" / "node" / "entry.js")
        base = [entry, "--user-data-dir", str(user), "--extensions-dir", str(tmp / "extensions")]
        subprocess.run(["node", *base, "--install-extension", str(VSIX)], env=env, check=True,
                       capture_output=True, timeout=60)
        self.port = free_port()
        self.log = open(tmp / "code-server.log", "w")
        self.proc = subprocess.Popen(
            ["node", *base, "--bind-addr", f"127.0.0.1:{self.port}", "--auth", "none", "--disable-telemetry",
             "--disable-update-check", "--disable-workspace-trust", str(folder)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._healthy, 30, "code-server /healthz")
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.page.goto(f"http://127.0.0.1:{self.port}/?folder={folder}")
        self.page.wait_for_selector(".monaco-workbench .statusbar", timeout=30000)
        wait_for(lambda: self.marker.exists(), 30, "the extension to activate")

    def _healthy(self) -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status == 200
        except OSError:
            return False

    def state(self) -> dict:
        try:
            return json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return {}

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def command(self, title: str, pick: str | None = None) -> None:
        """Run a command from the palette (F1), then optionally pick a quick-pick item by text."""
        page = self.page
        page.keyboard.press("Escape")
        page.keyboard.press("F1")
        box = page.locator(".quick-input-widget input")
        box.wait_for(state="visible")
        box.fill(">" + title)
        row = page.locator(".quick-input-list .monaco-list-row", has_text=title).first
        row.wait_for(timeout=10000)
        box.press("Enter")
        if pick is not None:
            item = page.locator(".quick-input-list .monaco-list-row", has_text=pick).first
            item.wait_for(timeout=10000)
            item.click()

    def open_file(self, name: str) -> None:
        page = self.page
        page.keyboard.press("Escape")
        page.keyboard.press("Control+P")
        box = page.locator(".quick-input-widget input")
        box.wait_for(state="visible")
        box.fill(name)
        # its row clicked: Enter may take the first row of the list before the list updated
        page.locator(".quick-input-list .monaco-list-row", has_text=name).first.click(timeout=10000)
        page.locator(f".tab[aria-label*='{name}']").first.wait_for(timeout=10000)

    def notification(self, text: str, timeout: float = 15000) -> str:
        toast = self.page.locator(".notifications-toasts .notification-toast", has_text=text).first
        toast.wait_for(timeout=timeout)
        return toast.inner_text()

    def stop(self) -> None:
        try:
            self.context.close()
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            self.log.close()


OTRACE_VIEWS = "[id='workbench.view.extension.otrace']"


def held_request(port: int, query: str = "number=77") -> tuple[threading.Thread, dict]:
    """GET ``http://127.0.0.1:PORT/?QUERY`` started on a daemon thread (the demo holds ``number=77``:
    the thread waits until it is resumed); returns the thread and the dict whose ``"body"`` gets the
    answer's text."""
    box: dict = {}
    request = threading.Thread(target=lambda: box.setdefault("body", urllib.request.urlopen(
        f"http://127.0.0.1:{port}/?{query}", timeout=60).read().decode()), daemon=True)
    request.start()
    return request, box


def show_otrace(bench: Workbench) -> None:
    """Open the otrace view container from the activity bar (if not open already)."""
    page = bench.page
    if not page.locator(OTRACE_VIEWS).is_visible():
        page.locator(".activitybar .action-item a[aria-label^='otrace']").first.click()
    page.locator(OTRACE_VIEWS).wait_for()


def tree_row(bench: Workbench, view: str, text: str):
    """The row of tree ``view`` (its title) that contains ``text``."""
    pane = bench.page.locator(f"{OTRACE_VIEWS} .pane", has=bench.page.locator(".pane-header", has_text=view))
    return pane.locator(".monaco-list-row", has_text=text).first


def context_menu(bench: Workbench, row, item: str) -> None:
    """Right-click ``row`` and run its context-menu ``item``."""
    page = bench.page
    row.click(button="right")
    action = page.locator(".context-view .action-item", has_text=item).first
    action.click()
    menu = page.locator(".context-view .monaco-menu")
    time.sleep(0.5)
    if menu.is_visible():       # a click during the menu's opening can be lost: the item is focused, Enter runs it
        action.hover()
        page.keyboard.press("Enter")
    menu.wait_for(state="hidden", timeout=5000)


def inline_action(row, label: str, tries: int = 10) -> None:
    """Hover ``row`` and click its inline action ``label`` (the tree may re-render the row under
    the mouse, e.g. when ages tick: hover again and retry)."""
    button = row.locator(f".action-label[aria-label='{label}']")
    for attempt in range(tries):
        row.hover()
        try:
            button.click(timeout=2000)
            return
        except Exception:
            if attempt == tries - 1:
                raise


def go_to_line(bench: Workbench, line: int) -> None:
    """Ctrl+G to ``line`` of the active editor; waits for the cursor to be there."""
    page = bench.page
    page.keyboard.press("Control+G")
    box = page.locator(".quick-input-widget input")
    box.wait_for(state="visible")
    box.fill(f":{line}")
    box.press("Enter")
    wait_for(lambda: f"Ln {line}," in page.locator(".statusbar").inner_text(), 10, f"the cursor at line {line}")


def open_code_actions(bench: Workbench, title: str, shot: str | None = None) -> None:
    """Open the code actions at the cursor (Ctrl+.) until the menu lists one whose title contains
    ``title`` (``shot``: a screenshot of the open menu)."""
    page = bench.page
    action = page.locator(".action-widget .monaco-list-row", has_text=title).first
    for _ in range(10):   # right after opening or a change, the server may not have answered yet: ask again
        page.keyboard.press("Control+.")
        try:
            action.wait_for(timeout=2000)
            break
        except Exception:
            page.keyboard.press("Escape")
    action.wait_for(timeout=1000)
    if shot:
        bench.shot(shot)


def code_action(bench: Workbench, line: int, title: str, shot: str | None = None) -> None:
    """Go to ``line`` of the active editor, open its code actions (Ctrl+.), arrow to the action
    whose title contains ``title`` and press Enter, as a user does (``shot``: a screenshot of the
    open menu first)."""
    page = bench.page
    go_to_line(bench, line)
    open_code_actions(bench, title, shot)
    focused = page.locator(".action-widget .monaco-list-row.focused")
    for _ in range(12):
        if title in focused.inner_text():
            break
        page.keyboard.press("ArrowDown")
    assert title in focused.inner_text(), focused.inner_text()
    page.keyboard.press("Enter")
    page.locator(".action-widget").wait_for(state="hidden", timeout=5000)


def explorer_row(bench: Workbench, name: str):
    """The Explorer row whose name starts with ``name``."""
    return bench.page.locator(".explorer-folders-view .monaco-list-row", has=bench.page.locator(
        ".label-name", has_text=re.compile("^" + re.escape(name)))).first


def expand(bench: Workbench, name: str) -> None:
    """Click the Explorer folder ``name`` open (when it is not open already; again when a click
    was lost, e.g. while the tree redrew)."""
    row = explorer_row(bench, name)
    row.wait_for(timeout=20000)
    for _ in range(5):
        if row.get_attribute("aria-expanded") == "true":
            return
        row.click()
        try:
            wait_for(lambda: row.get_attribute("aria-expanded") == "true", 4, f"{name} to open")
        except AssertionError:
            pass
    assert row.get_attribute("aria-expanded") == "true", f"{name} does not open"


def reveal(bench: Workbench, name: str, below: str):
    """The Explorer row ``name``, scrolled into view (a class has many methods: the list is
    virtual) from the row ``below`` it is under."""
    row = explorer_row(bench, name)
    explorer_row(bench, below).hover()
    for _ in range(40):
        if row.is_visible():
            break
        bench.page.mouse.wheel(0, 300)
        bench.page.wait_for_timeout(100)
    return row


def open_osh_folder(bench: Workbench, root: str) -> None:
    """"otrace: Open /osh as Folder" in a window of one folder: it becomes a workspace of that folder
    and /osh (the window reloads, the extension starts again); waits for the Explorer's row ``root``."""
    page = bench.page
    bench.command("otrace: Open /osh as Folder")
    page.wait_for_url(re.compile(r"[?&]workspace=.*-osh\.code-workspace"), timeout=30000)
    row = explorer_row(bench, root)
    for _ in range(6):      # (a window that came up empty reloads itself once: the Explorer is shown again)
        page.wait_for_selector(".monaco-workbench .statusbar", timeout=30000)
        bench.command("View: Show Explorer")
        try:
            row.wait_for(timeout=5000)
            return
        except Exception:
            pass
    row.wait_for(timeout=5000)


class other_client:
    """``with other_client(demo, "name") as c:`` another front end on ``demo``'s language server
    (initialized, closed at the end), e.g. to change a setting as another editor would."""

    def __init__(self, demo: Demo, name: str) -> None:
        from tests.lsp.rpc import Client

        self.client = Client(demo.lsp)
        self.client.initialize(demo.info["token"], name=name)

    def __enter__(self):
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()
