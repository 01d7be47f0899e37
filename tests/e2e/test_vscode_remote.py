"""Issue 20 point 2 in a real VS Code workbench (code-server in headless Chromium, driven by
Playwright): "otrace: Attach to Remote Process..." against a real OpenSSH sshd on 127.0.0.1
(tests/support/sshd.py: throwaway keys and config), through the real ``otrace ps --ssh`` and
``otrace attach --ssh`` run by the extension (``otrace.pythonPath``, ``otrace.sshArguments`` in the
workspace settings). The torna demo's discovery file is where the sshd's logins look, not where the
workbench looks: for the editor it runs on another host. A hold of it is listed and resumed through
the tunnel; "otrace: Detach" ends the tunnel process; the host is offered again as a recent host,
and a host that cannot be reached is one clear error. The fleet demo on that host is one entry of
the pick, and attaching it attaches every worker through a tunnel each; a worker started later (the
fleet's parent replaces a killed one) is attached through a tunnel of its own, the dead one's ends
quietly; "otrace: Detach" ends them all. Screenshots: artifacts/vscode/remote-*.png.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.workbench import (held_request, CHROMIUM, CHROMIUM_ARGS, Demo, Workbench, require_parts, show_otrace, torna_workspace,
                                 tree_row, wait_for, inline_action)
from tests.e2e.test_vscode_fleet import WORKERS, FleetDemo, fleet_workspace
from tests.support.sshd import Sshd, installed

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def env(tmp_path_factory, playwright):
    """The demo "on the remote host" (its discovery file in the sshd logins' runtime dir), the sshd,
    and the workbench of a workspace holding the demo's file."""
    require_parts()
    if not installed():
        if os.environ.get("OTRACE_VSCODE_E2E") == "required":
            pytest.fail("OpenSSH's sshd is not installed (Debian openssh-server; make test installs it)")
        pytest.skip("OpenSSH's sshd is not installed (Debian openssh-server; make test installs it)")
    tmp = tmp_path_factory.mktemp("vscode-remote")
    xdg, ws = torna_workspace(tmp)
    remote_xdg = tmp / "remote-xdg"
    remote_xdg.mkdir(mode=0o700)
    (tmp / "sshd").mkdir()
    torna = Demo(ws / "torna_trace.py", remote_xdg, ws)
    server = browser = bench = None
    try:
        server = Sshd(tmp / "sshd", remote_xdg)
        (ws / ".vscode").mkdir()
        (ws / ".vscode" / "settings.json").write_text(json.dumps({
            "otrace.pythonPath": sys.executable,
            "otrace.sshArguments": ["-p", str(server.port), "-i", str(server.key), "-F", str(server.config)],
        }))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        bench = Workbench(tmp, ws, xdg, browser)
        SESSION[:] = [bench.proc.pid]                      # code-server leads a session of its own
        yield {"torna": torna, "ws": ws, "bench": bench, "sshd": server, "host": f"{server.user}@127.0.0.1",
               "remote_xdg": remote_xdg}
    finally:
        if bench is not None:
            bench.stop()
        if browser is not None:
            browser.close()
        if server is not None:
            server.stop()
        torna.stop()


SESSION: list[int] = []    # the workbench's session: its code-server and what that starts


def tunnels() -> list[int]:
    """The pids of the ``otrace attach --ssh`` processes the workbench runs now (other tests on the
    machine may run some too)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                session = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[3])
            except (OSError, IndexError, ValueError):
                continue
            if b"otrace_server.cli" in argv and b"attach" in argv and b"--ssh" in argv and session in SESSION:
                found.append(int(entry.name))
    return found


def connections(bench: Workbench) -> dict[str, str]:
    return {c["key"]: c["state"] for c in bench.state().get("connections", [])}


def test_attach_to_remote_process_lists_the_host_processes_and_attaches_through_the_tunnel(env):
    bench, torna, page = env["bench"], env["torna"], env["bench"].page
    key = f"ssh:{env['host']}:{torna.proc.pid}"
    assert not connections(bench)                      # nothing runs here: nothing attached by itself
    bench.command("otrace: Attach to Remote Process...")
    box = page.locator(".quick-input-widget input")
    box.wait_for(state="visible")
    box.fill(env["host"])
    box.press("Enter")
    row = page.locator(".quick-input-list .monaco-list-row", has_text=f"torna_trace.py (pid {torna.proc.pid})").first
    row.wait_for(timeout=30000)
    bench.shot("remote-01-processes-of-the-host")
    row.click()
    wait_for(lambda: connections(bench).get(key) == "connected", 60, "the remote process attached")
    bench.notification(f"attached to torna_trace.py (pid {torna.proc.pid}) on {env['host']}")
    assert len(tunnels()) == 1

    show_otrace(bench)
    request, box_ = held_request(torna.http)
    hold = tree_row(bench, "Held Requests", "GetHandler.get")
    hold.wait_for(timeout=20000)
    bench.shot("remote-02-held-through-the-tunnel")
    inline_action(hold, "Resume")
    request.join(15)
    assert "The reciprocal of 77.0 is" in box_.get("body", ""), box_


def test_detach_ends_the_tunnel(env):
    bench = env["bench"]
    [tunnel] = tunnels()
    bench.command("otrace: Detach")
    wait_for(lambda: not connections(bench), 20, "the remote process detached")
    wait_for(lambda: tunnel not in tunnels(), 20, "the tunnel process to end")


def test_the_host_is_offered_again_and_an_unreachable_host_is_one_clear_error(env):
    bench, page = env["bench"], env["bench"].page
    bench.command("otrace: Attach to Remote Process...")
    recent = page.locator(".quick-input-list .monaco-list-row", has_text=env["host"]).first
    recent.wait_for(timeout=10000)                          # remembered
    bench.shot("remote-03-recent-hosts")
    page.locator(".quick-input-list .monaco-list-row", has_text="Another host...").first.click()
    box = page.locator(".quick-input-widget input")
    box.wait_for(state="visible")
    box.fill(f"{env['sshd'].user}@127.0.0.2")              # nothing listens there
    box.press("Enter")
    text = bench.notification("is not reachable over ssh", timeout=30000)
    assert f"{env['sshd'].user}@127.0.0.2 is not reachable over ssh" in text, text
    bench.shot("remote-04-unreachable")
    assert not tunnels()


def test_a_remote_fleet_is_one_entry_and_every_worker_is_attached_through_its_tunnel(env):
    bench, page, host = env["bench"], env["bench"].page, env["host"]
    fleet_workspace(env["ws"])
    fleet = FleetDemo(env["ws"], env["remote_xdg"])           # on "the host": its logins' runtime dir
    try:
        bench.command("Notifications: Clear All Notifications")
        bench.command("otrace: Attach to Remote Process...")
        page.locator(".quick-input-list .monaco-list-row", has_text=host).first.click(timeout=10000)
        row = page.locator(".quick-input-list .monaco-list-row", has_text=f"torna_fleet.py — fleet of {WORKERS} workers").first
        row.wait_for(timeout=30000)
        assert not page.locator(".quick-input-list .monaco-list-row", has_text="torna_fleet.py (pid").count()
        bench.shot("remote-05-fleet-of-the-host")
        box = page.locator(".quick-input-widget input")            # picked by keys (a hover may cover the row)
        box.fill(f"fleet of {WORKERS}")
        wait_for(lambda: page.locator(".quick-input-list .monaco-list-row").count() == 1, 10, "the fleet alone listed")
        box.press("Enter")
        keys = {f"ssh:{host}:{pid}" for pid in fleet.workers}
        wait_for(lambda: {k for k, s in connections(bench).items() if s == "connected"} == keys, 60, "every worker attached")
        assert {c.get("fleet") for c in bench.state()["connections"]} == {f"{host}/ppid-{fleet.proc.pid}"}
        assert len(tunnels()) == WORKERS
        bench.notification(f"attached to torna_fleet.py on {host} — fleet of {WORKERS} workers")
        show_otrace(bench)
        request = threading.Thread(target=lambda: urllib.request.urlopen(
            f"http://127.0.0.1:{fleet.http}/?number=77", timeout=60).read(), daemon=True)
        request.start()
        hold = tree_row(bench, "Held Requests", "GetHandler.get")
        hold.wait_for(timeout=20000)
        assert "worker " in hold.inner_text(), hold.inner_text()
        bench.shot("remote-06-fleet-hold")
        inline_action(hold, "Resume")
        request.join(15)
        assert not request.is_alive()

        # a worker started later: listed again over ssh, attached through a tunnel of its own
        dead = min(fleet.workers)
        os.kill(dead, signal.SIGKILL)                           # the fleet's parent starts another
        wait_for(lambda: len(fleet.records()) == WORKERS and dead not in fleet.records(), 30, "a new worker")
        fleet.workers = fleet.records()
        keys = {f"ssh:{host}:{pid}" for pid in fleet.workers}
        wait_for(lambda: {k for k, s in connections(bench).items() if s == "connected"} == keys
                 and set(connections(bench)) == keys, 60, "the new worker attached, the dead one dropped")
        wait_for(lambda: len(tunnels()) == WORKERS, 20, "the dead worker's tunnel to end")
        bench.shot("remote-07-fleet-new-worker")
        toasts = page.locator(".notifications-toasts .notification-toast", has_text="the tunnel ended")
        assert not toasts.count(), toasts.all_inner_texts()   # a fleet's worker leaves quietly
        bench.command("otrace: Detach")                        # the fleet alone: no pick, every tunnel ends
        wait_for(lambda: not connections(bench), 20, "the fleet detached")
        wait_for(lambda: not tunnels(), 20, "every tunnel to end")
    finally:
        fleet.stop()
