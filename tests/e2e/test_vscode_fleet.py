"""Issue 20 point 1 in a real VS Code workbench (code-server in headless Chromium, driven by
Playwright as a user would): the fleet demo (demos/torna_fleet.py, 3 Tornado workers on one port,
each its own otrace) running from the workspace. "otrace: Attach to Process..." lists the fleet as
one entry and attaching it attaches every worker; requests held by several workers are ONE list in
Held Requests, each row led by its worker; the title bar's Resume All answers every held request;
the file loaded by every worker shows its code actions and CodeLens once (counted in the UI),
unlabelled; a worker started later (the parent replaces a killed one) is attached by itself and the
dead one dropped without a notice; "Trace this function" chosen once traces the function in every
worker, a worker started after that too; the exception it then records in several workers is ONE
diagnostic; its one "traced · Untrace" lens untraces it in every worker; "Hold here live" chosen once holds the line in every worker (one
"Live holds" row for the fleet) and removing it removes it from every worker; the debugger attached
to the fleet (its first worker, fleet: true) sets and removes a gutter breakpoint in every worker;
the console of the fleet sends each line to every worker, their answers led by "[pid N]", a
standing command logged once.
Screenshots: artifacts/vscode/fleet-NN-*.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from otrace_server.lsp.features import hit_title
from tests.e2e.workbench import (CHROMIUM, CHROMIUM_ARGS, ROOT, OTRACE_VIEWS, Workbench, code_action, go_to_line,
                                 inline_action, require_parts, show_otrace, wait_for)
from tests.support.processes import end_process

pytestmark = pytest.mark.timeout(180)

WORKERS = 3
HOLD_TEXT = "html.escape(self.respond(number)"     # a line of GetHandler.get (an async def)


class FleetDemo:
    """demos/torna_fleet.py (a copy in the workspace) with ``WORKERS`` workers; ``workers``: their
    discovery records (pid -> record) once every worker serves."""

    def __init__(self, ws: Path, xdg: Path) -> None:
        env = dict(os.environ, XDG_RUNTIME_DIR=str(xdg), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(ws / "demos" / "torna_fleet.py"), "--port", "0",
                                      "--workers", str(WORKERS), "--exit-on-stdin-eof"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, text=True, cwd=str(ws))
        self.http = None
        while self.http is None:
            line = self.proc.stdout.readline()
            assert line, "torna_fleet.py exited"
            if line.startswith("Listening on"):
                self.http = int(re.search(r":(\d+)", line.split("//", 1)[1]).group(1))   # "...:PORT (3 workers)"
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()   # drain
        self.dir = xdg / "otrace"
        wait_for(lambda: len(self.records()) == WORKERS, 30, f"{WORKERS} workers' discovery files")
        self.workers = self.records()

    def records(self) -> dict[int, dict]:
        """The live workers' discovery records (a killed worker's file stays behind)."""
        found = {}
        for f in self.dir.glob("otrace-*.json"):
            try:
                r = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            if r.get("fleet") and r.get("ppid") == self.proc.pid and alive(r["pid"]):
                found[r["pid"]] = r
        return found

    def stop(self) -> None:
        end_process(self.proc)


def fleet_workspace(ws: Path) -> None:
    """Copy the fleet demo and the demo modules it imports into ``ws/demos`` (they are what runs)."""
    (ws / "demos").mkdir(parents=True, exist_ok=True)
    for name in ("torna_fleet.py", "torna_trace.py", "torna_trace.trc", "reciprocal.py"):
        shutil.copy(ROOT / "demos" / name, ws / "demos" / name)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (not a zombie waiting for its parent)."""
    try:
        return not Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[-1].startswith("Z")
    except OSError:
        return False


@pytest.fixture(scope="module")
def env(tmp_path_factory, playwright):
    """A workspace holding a copy of the fleet demo (and the demo modules it imports), the fleet
    running from it, and the workbench."""
    require_parts()
    tmp = tmp_path_factory.mktemp("vscode-fleet")
    xdg = tmp / "xdg"
    xdg.mkdir(mode=0o700)
    ws = tmp / "workspace"
    fleet_workspace(ws)
    fleet = FleetDemo(ws, xdg)
    browser = bench = None
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        bench = Workbench(tmp, ws, xdg, browser)
        yield {"fleet": fleet, "ws": ws, "bench": bench, "bodies": []}
    finally:
        if bench is not None:
            bench.stop()
        if browser is not None:
            browser.close()
        fleet.stop()


def after_failure(env) -> None:
    """Answer what a failed test left held, in every worker."""
    for pid, record in env["fleet"].records().items():
        with worker_client(record) as client:
            client.request("otrace/resume", {"all": True})
            for patch in client.request("otrace/patches", {})["patches"]:
                client.request("otrace/unpatch", {"name": patch["name"]})


class worker_client:
    """``with worker_client(record) as c:`` another front end on one worker's language server."""

    def __init__(self, record: dict) -> None:
        from tests.lsp.rpc import Client

        self.client = Client(record["lsp_port"])
        self.client.initialize(record["token"], name="e2e-fleet")

    def __enter__(self):
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()


def connected(bench: Workbench) -> dict[str, dict]:
    return {c["key"]: c for c in bench.state().get("connections", []) if c["state"] == "connected"}


def goto(bench: Workbench, line: int) -> None:
    """``go_to_line``, once more when its Enter was lost (seen under load right after opening the file)."""
    try:
        go_to_line(bench, line)
    except AssertionError:
        bench.page.keyboard.press("Escape")
        go_to_line(bench, line)


def line_of(env, text: str) -> int:
    lines = (env["ws"] / "demos" / "torna_trace.py").read_text().splitlines()
    return 1 + next(i for i, line in enumerate(lines) if text in line)


def get(env, number: int) -> None:
    """GET /?number=N in a thread; its body (or error) goes to env["bodies"]."""
    def run():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{env['fleet'].http}/?number={number}", timeout=90) as r:
                env["bodies"].append(r.read().decode())
        except (urllib.error.URLError, OSError) as e:
            env["bodies"].append(f"error: {e}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def held_in_two_workers(env, number: int) -> list[threading.Thread]:
    """GET /?number=N (held) until two workers at least hold one (the kernel spreads the
    connections) and four are held; the requests' threads, once every one is held."""
    bench = env["bench"]
    threads = []
    holding = lambda: {k for k, c in connected(bench).items() if c["holds"]}   # noqa: E731
    for _ in range(30):
        threads.append(get(env, number))
        time.sleep(0.15)
        if len(holding()) >= 2 and len(threads) >= 4:
            break
    wait_for(lambda: sum(c["holds"] for c in connected(bench).values()) == len(threads), 20, "every request held")
    assert len(holding()) >= 2, connected(bench)
    return threads


def test_attach_to_process_lists_the_fleet_once_and_attaches_every_worker(env):
    bench, fleet, page = env["bench"], env["fleet"], env["bench"].page
    bench.command("otrace: Attach to Process...")
    rows = page.locator(".quick-input-list .monaco-list-row")
    rows.filter(has_text="fleet of").first.wait_for(timeout=10000)
    texts = rows.all_inner_texts()
    bench.shot("fleet-01-attach-pick")
    assert sum(f"torna_fleet.py — fleet of {WORKERS} workers" in t for t in texts) == 1, texts
    assert not any("(pid " in t for t in texts), texts          # no worker listed alone
    rows.filter(has_text="fleet of").first.click()
    wait_for(lambda: set(connected(bench)) == {f"pid:{pid}" for pid in fleet.workers}, 30, "every worker attached")
    assert {c["fleet"] for c in connected(bench).values()} == {f"ppid-{fleet.proc.pid}"}


def test_holds_of_several_workers_are_one_list_labelled_by_worker_and_resume_all_answers_every_one(env):
    bench, fleet, page = env["bench"], env["fleet"], env["bench"].page
    show_otrace(bench)
    threads = held_in_two_workers(env, 77)
    pane = page.locator(f"{OTRACE_VIEWS} .pane", has=page.locator(".pane-header", has_text="Held Requests"))
    rows = pane.locator(".monaco-list-row", has_text="GET /?number=77")
    wait_for(lambda: rows.count() == len(threads), 15, f"{len(threads)} rows in Held Requests")
    texts = rows.all_inner_texts()
    bench.shot("fleet-02-holds-of-every-worker")
    workers = {pid for pid in fleet.workers if any(f"worker {pid}" in t for t in texts)}
    assert len(workers) >= 2 and all("worker " in t for t in texts), texts
    assert not pane.locator(".monaco-list-row", has_text="fleet of").count()    # one fleet: its rows at the top
    pane.locator(".pane-header").hover()
    pane.locator(".pane-header .action-label[aria-label='Resume All']").click()
    for t in threads:
        t.join(20)
    assert len(env["bodies"]) == len(threads), env["bodies"]
    assert all("The reciprocal of 77.0 is" in b for b in env["bodies"]), env["bodies"]
    wait_for(lambda: not rows.count(), 10, "the rows to go")
    bench.shot("fleet-03-resumed-all")


def test_the_file_loaded_by_every_worker_shows_its_code_actions_and_lenses_once(env):
    bench, page = env["bench"], env["bench"].page
    bench.open_file("torna_trace.py")
    line = line_of(env, HOLD_TEXT)
    goto(bench, line)
    rows = page.locator(".action-widget .monaco-list-row")
    for _ in range(10):          # right after attaching, the servers may not have answered yet: ask again
        page.keyboard.press("Control+.")
        try:
            rows.filter(has_text="Hold here live").first.wait_for(timeout=2000)
            time.sleep(1)        # every worker's provider answered (the menu shows them together)
            break
        except Exception:
            page.keyboard.press("Escape")
    texts = [t.strip() for t in rows.all_inner_texts()]
    bench.shot("fleet-04-code-actions-once")
    page.keyboard.press("Escape")
    joined = "\n".join(texts)
    assert sum(t.startswith("Hold here live") for t in texts) == 1, joined
    assert sum(t.startswith("Trace this function (GetHandler.get)") for t in texts) == 1, joined
    assert sum("Insert traceassert hold here" in t for t in texts) == 1, joined
    assert not any("[pid" in t for t in texts), joined
    # the traceassert line's lens: once, not once per worker
    goto(bench, line_of(env, "await traceassert("))
    lens = page.locator(".monaco-editor .codelens-decoration", has_text="traceassert:")
    lens.first.wait_for(timeout=15000)
    time.sleep(1.5)                                     # every worker's lenses are in
    assert lens.count() == 1, lens.all_inner_texts()
    # ... counting every worker's violations and holds (the holds of the test above: several workers')
    per_worker = [hits_of(record, env["ws"] / "demos" / "torna_trace.py", line_of(env, "await traceassert("))
                  for record in env["fleet"].records().values()]
    total = tuple(map(sum, zip(*per_worker)))
    assert sum(1 for hits in per_worker if hits[1]) >= 2, per_worker
    wait_for(lambda: lens.first.inner_text().strip() == hit_title(*total), 15,
             f"the lens to say {hit_title(*total)!r} (by worker: {per_worker})")


def hits_of(record: dict, path: Path, line: int) -> tuple[int, int]:
    """(violations, holds) of the traceassert at 1-based ``line`` of ``path``, as one worker counts them."""
    with worker_client(record) as client:
        lenses = client.request("textDocument/codeLens", {"textDocument": {"uri": path.as_uri()}})
    [data] = [lz["data"] for lz in lenses if lz["range"]["start"]["line"] == line - 1 and "data" in lz]
    return data["violations"], data["holds"]


def replace_a_worker(env) -> None:
    """Kill the oldest worker (the parent starts another in its place); wait for the extension to
    attach the new one and drop the dead one."""
    bench, fleet = env["bench"], env["fleet"]
    dead = min(fleet.workers)
    os.kill(dead, signal.SIGKILL)
    wait_for(lambda: len(fleet.records()) == WORKERS and dead not in fleet.records(), 30, "a new worker")
    fleet.workers = fleet.records()
    wait_for(lambda: set(connected(bench)) == {f"pid:{pid}" for pid in fleet.workers}, 30,
             "the new worker attached, the dead one dropped")


def test_a_worker_started_later_is_attached_and_one_that_died_dropped_quietly(env):
    bench, page = env["bench"], env["bench"].page
    replace_a_worker(env)
    bench.shot("fleet-06-respawned-worker-attached")
    toasts = page.locator(".notifications-toasts .notification-toast", has_text="exited")
    assert not toasts.count(), toasts.all_inner_texts()     # quietly


def traced_in(record: dict) -> str:
    with worker_client(record) as client:
        return client.request("otrace/command", {"line": "trace"})["output"]


def test_trace_chosen_once_applies_in_every_worker_and_untrace_too(env):
    bench, fleet, page = env["bench"], env["fleet"], env["bench"].page
    bench.open_file("torna_trace.py")
    code_action(bench, line_of(env, HOLD_TEXT), "Trace this function (GetHandler.get)")
    bench.notification("tracing GetHandler.get in every worker of torna_fleet.py")
    for pid, record in fleet.workers.items():
        assert "GetHandler.get" in traced_in(record), pid
    replace_a_worker(env)                           # a worker started later joins with the fleet's trace
    for pid, record in fleet.workers.items():
        wait_for(lambda: "GetHandler.get" in traced_in(record), 10, f"the trace in worker {pid}")
    # the traced exception raised in several workers: ONE diagnostic (the fleet's, merged)
    raised = set()
    for _ in range(40):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{fleet.http}/?number=0", timeout=10).read()
        except urllib.error.HTTPError as e:
            raised.add(int(e.headers["X-Worker-Pid"]))
        if len(raised) >= 2:
            break
    assert len(raised) >= 2, raised
    bench.command("Problems: Focus on Problems View")
    problems = page.locator(".markers-panel .monaco-list-row", has_text="ZeroDivisionError")
    problems.first.wait_for(timeout=15000)
    time.sleep(2)                                       # every worker's diagnostics are in
    texts = problems.all_inner_texts()
    bench.shot("fleet-05-one-diagnostic")
    assert len(texts) == 1 and "[pid" not in texts[0], texts
    bench.open_file("torna_trace.py")
    # one "traced · Untrace" lens above the def, not one per worker
    untrace = page.locator(".monaco-editor .codelens-decoration a", has_text="traced · Untrace")
    goto(bench, line_of(env, "async def get(self)"))
    untrace.first.wait_for(timeout=15000)
    time.sleep(1.5)                                     # every worker's lenses are in
    lens_text = " | ".join(page.locator(".monaco-editor .codelens-decoration").all_inner_texts())
    bench.shot("fleet-07-one-untrace-lens")
    assert untrace.count() == 1, lens_text
    assert "[pid" not in lens_text, lens_text
    untrace.first.click()                               # untraced in every worker too
    bench.notification("GetHandler.get is no longer traced in every worker of torna_fleet.py")
    for pid, record in fleet.workers.items():
        assert "GetHandler.get" not in traced_in(record), pid


def test_hold_here_live_holds_in_every_worker_and_its_removal_too(env):
    bench, fleet, page = env["bench"], env["fleet"], env["bench"].page
    line = line_of(env, HOLD_TEXT)
    bench.open_file("torna_trace.py")
    code_action(bench, line, "Hold here live")
    bench.notification("in every worker of torna_fleet.py now waits")
    for pid, record in fleet.workers.items():
        wait_for(lambda: live_holds(record), 10, f"the live hold in worker {pid}")
    show_otrace(bench)
    env["bodies"].clear()
    threads = held_in_two_workers(env, 5)
    pane = page.locator(f"{OTRACE_VIEWS} .pane", has=page.locator(".pane-header", has_text="Held Requests"))
    rows = pane.locator(".monaco-list-row", has_text="GET /?number=5")
    wait_for(lambda: rows.count() == len(threads), 15, f"{len(threads)} rows in Held Requests")
    assert pane.locator(".monaco-list-row", has_text="Live holds").count() == 1      # the fleet's, once
    live = pane.locator(".monaco-list-row", has_text=f"torna_trace.py:{line}")
    assert live.count() == 1
    bench.shot("fleet-08-live-hold-of-every-worker")
    # on the held line: each holding worker's own Resume lens, led by its pid (its holds, not the fleet's)
    holders = {int(k.split(":")[1]) for k, c in connected(bench).items() if c["holds"]}
    bench.open_file("torna_trace.py")
    goto(bench, line)
    resume = page.locator(".monaco-editor .codelens-decoration a", has_text="Resume live_get")
    wait_for(lambda: resume.count() == len(holders), 15, f"{len(holders)} Resume lenses")
    texts = resume.all_inner_texts()
    bench.shot("fleet-09-resume-lens-of-each-holding-worker")
    assert {int(t.split("]")[0].removeprefix("[pid ")) for t in texts} == holders, texts
    inline_action(live.first, "Remove Live Hold")
    bench.notification("in every worker of torna_fleet.py: requests reaching it no longer wait")
    for pid, record in fleet.workers.items():
        wait_for(lambda: not live_holds(record), 10, f"the live hold removed in worker {pid}")
    resume_all_answers_every_request(env, pane, threads)
    bench.shot("fleet-10-live-hold-removed")


def resume_all_answers_every_request(env, pane, threads: list[threading.Thread]) -> None:
    """Held Requests' title-bar Resume All (``pane``): every held request (``threads``) answered,
    and the Resume lenses gone from the editor."""
    page = env["bench"].page
    pane.locator(".pane-header").hover()
    pane.locator(".pane-header .action-label[aria-label='Resume All']").click()
    for t in threads:
        t.join(20)
    assert len(env["bodies"]) == len(threads) and all("The reciprocal of 5.0 is" in b for b in env["bodies"]), env["bodies"]
    resume = page.locator(".monaco-editor .codelens-decoration a", has_text="Resume")
    wait_for(lambda: not resume.count(), 10, "the Resume lenses to go")


def live_holds(record: dict) -> list:
    with worker_client(record) as client:
        return [p for p in client.request("otrace/patches", {})["patches"] if p.get("liveHold")]


def test_a_breakpoint_of_the_debugger_attached_to_the_fleet_holds_in_every_worker(env):
    """"otrace: Attach Debugger" with the fleet attached: its first worker, attached with fleet: true,
    without a pick; a gutter breakpoint (F9) is then every worker's, and removing it too."""
    bench, fleet, page = env["bench"], env["fleet"], env["bench"].page
    bench.command("otrace: Attach Debugger")
    page.locator(".debug-toolbar").wait_for(timeout=15000)
    assert not page.locator(".quick-input-widget").is_visible()   # no "which process?" pick
    line = line_of(env, HOLD_TEXT)
    bench.open_file("torna_trace.py")
    goto(bench, line)
    record = next(iter(fleet.workers.values()))
    before = len(breakpoint_orders(record))
    page.keyboard.press("F9")
    wait_for(lambda: len(breakpoint_orders(record)) > before, 15, "the breakpoints order in the fleet's log")
    time.sleep(1)                                              # every worker applied it (a stat every 0.25 s)
    env["bodies"].clear()
    threads = held_in_two_workers(env, 5)
    bench.shot("fleet-11-breakpoint-of-every-worker")
    page.keyboard.press("F9")                                  # removed: from every worker
    wait_for(lambda: len(breakpoint_orders(record)) > before + 1, 15, "the removal in the fleet's log")
    time.sleep(1)
    for _ in range(6):                                         # no worker holds there any more
        body = urllib.request.urlopen(f"http://127.0.0.1:{fleet.http}/?number=5", timeout=10).read().decode()
        assert "The reciprocal of 5.0 is" in body
    page.locator(".debug-toolbar .action-label[aria-label^='Disconnect']").first.click()
    page.locator(".debug-toolbar").wait_for(state="hidden", timeout=10000)
    show_otrace(bench)
    pane = page.locator(f"{OTRACE_VIEWS} .pane", has=page.locator(".pane-header", has_text="Held Requests"))
    resume_all_answers_every_request(env, pane, threads)


def breakpoint_orders(record: dict) -> list:
    """The breakpoints orders of the fleet's log (otrace/fleet)."""
    with worker_client(record) as client:
        return [o for o in client.request("otrace/fleet", {})["orders"] if o["kind"] == "breakpoints"]


def terminal_text(bench: Workbench) -> str:
    return bench.page.locator(".terminal-wrapper.active .xterm-rows").inner_text()


def test_the_console_addresses_the_fleet_each_worker_answering_led_by_its_pid(env):
    """"otrace: Open Console" offers the fleet (and each worker): a line goes to every worker, each
    answer led by "[pid N]", and a standing command (trace) is one order of the fleet's log."""
    bench, fleet, page = env["bench"], env["fleet"], env["bench"].page
    bench.command("otrace: Open Console", pick=f"fleet of {WORKERS} workers")
    wait_for(lambda: page.locator(".terminal-wrapper.active .xterm-rows").count()
             and terminal_text(bench).rstrip().endswith("globals>"), 15, "the console prompt")
    page.locator(".terminal-wrapper.active .xterm-screen").click()
    page.keyboard.type("pwd")
    page.keyboard.press("Enter")
    wait_for(lambda: all(f"[pid {pid}] /osh/globals" in terminal_text(bench) for pid in fleet.workers), 15,
             "every worker's answer, led by its pid")
    record = next(iter(fleet.workers.values()))
    with worker_client(record) as client:
        before = len(client.request("otrace/fleet", {})["orders"])
    page.keyboard.type("trace GetHandler.respond")
    page.keyboard.press("Enter")
    for pid, rec in fleet.workers.items():
        wait_for(lambda: "GetHandler.respond" in traced_in(rec), 10, f"the trace in worker {pid}")
    wait_for(lambda: all(f"[pid {pid}] Tracing GetHandler.respond" in terminal_text(bench) for pid in fleet.workers), 10,
             "every worker's answer")
    bench.shot("fleet-12-console-of-the-fleet")
    with worker_client(record) as client:
        orders = client.request("otrace/fleet", {})["orders"][before:]
    assert len(orders) == 1, orders                       # one line, one order: logged once for the fleet
    page.keyboard.type("untrace GetHandler.respond")
    page.keyboard.press("Enter")
    for pid, rec in fleet.workers.items():
        wait_for(lambda: "GetHandler.respond" not in traced_in(rec), 10, f"the untrace in worker {pid}")
