"""The fleet demo with real worker processes (issue 20 point 1): demos/torna_fleet.py forks 3
Tornado workers on one port of 127.0.0.1; each writes its own discovery file naming the fleet,
``otrace ps`` shows them under one header, and a worker killed is replaced by a new one (a new pid)
in the same fleet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.support.fleet import ROOT, FleetDemo

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    demo = FleetDemo(tmp_path_factory.mktemp("xdg"), workers=3)
    yield demo
    demo.stop()


def _ps(fleet, *args: str) -> str:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(fleet.directory.parent), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "otrace_server.cli", "ps", *args], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_each_worker_has_its_discovery_file_naming_the_fleet(fleet):
    records = fleet.records()
    assert len(records) == 3 and len({r["lsp_port"] for r in records}) == 3
    assert {r["ppid"] for r in records} == {fleet.proc.pid}            # forked by the demo's parent
    assert {json.dumps(r["fleet"]) for r in records} == {json.dumps({"id": f"ppid-{fleet.proc.pid}",
                                                                     "name": "torna_fleet.py"})}
    for record in records:
        assert (fleet.directory / f"otrace-{record['pid']}.json").exists()


def test_the_workers_serve_one_port_and_say_which_answered(fleet):
    with urllib.request.urlopen(f"{fleet.url}/?number=4", timeout=10) as response:
        assert "The reciprocal of 4.0 is 0.25" in response.read().decode()
        assert int(response.headers["X-Worker-Pid"]) in {r["pid"] for r in fleet.records()}


def test_each_worker_is_a_language_server_of_its_own(fleet):
    for record in fleet.records():
        editor = fleet.lsp_client(record)
        assert "trace_active = True" in editor.request("otrace/command", {"line": "set trace_active"})["output"]
        editor.close()


def test_otrace_ps_groups_the_workers_under_one_fleet_line(fleet):
    lines = _ps(fleet).splitlines()
    pids = [r["pid"] for r in fleet.records()]
    header = next(i for i, line in enumerate(lines) if line.startswith("fleet "))
    assert lines[header].startswith(f"fleet torna_fleet.py [ppid-{fleet.proc.pid}]: 3 workers")
    assert "torna_fleet.py --port 0 --workers 3" in lines[header]
    workers = lines[header + 1:header + 4]
    assert [line.split()[-1] for line in workers] == [str(pid) for pid in pids]     # oldest first
    assert all(line.rstrip().endswith(f"  worker {pid}") for line, pid in zip(workers, pids))


def test_otrace_ps_json_carries_ppid_and_fleet(fleet):
    listed = json.loads(_ps(fleet, "--json"))
    assert [(p["pid"], p["ppid"], p["fleet"]["id"]) for p in listed] == \
        [(r["pid"], fleet.proc.pid, f"ppid-{fleet.proc.pid}") for r in fleet.records()]
    assert all("token" not in p for p in listed)


def test_a_killed_worker_is_replaced_by_a_new_pid_in_the_same_fleet(fleet):
    before = fleet.records()
    victim = before[1]["pid"]
    os.kill(victim, signal.SIGKILL)
    after = fleet.wait_workers(3, without={victim})
    new = [r for r in after if r["pid"] not in {b["pid"] for b in before}]
    assert len(new) == 1 and new[0]["fleet"] == before[0]["fleet"] and new[0]["ppid"] == fleet.proc.pid
    assert not (fleet.directory / f"otrace-{victim}.json").exists()    # the dead one's file is gone
    assert f"worker {victim} ended (signal 9): starting another" in fleet.output
