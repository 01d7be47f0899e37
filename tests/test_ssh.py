"""``otrace ps --ssh`` and ``otrace attach --ssh`` (otrace_server/remote.py) against a real OpenSSH
``sshd`` started here on 127.0.0.1 (Debian openssh-server: ``make test`` installs it), with a
throwaway host key, user key, authorized_keys, sshd_config and client config in a temp directory,
logging in as the current user; and the real torna_trace demo, whose discovery file is found over
ssh. Skipped only when sshd or ssh is not installed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dap.conftest import DemoProcess
from tests.dap.dapclient import DapClient
from tests.lsp.rpc import Client
from tests.support.sshd import demo, free_port, sshd  # noqa: F401  (fixtures: the demo, its sshd)

ROOT = Path(__file__).resolve().parent.parent


def otrace(*args: str, env_extra: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "otrace_server.cli", *args], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def attach(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "otrace_server.cli", "attach", *args], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


# ---- otrace ps --ssh -----------------------------------------------------------------------------
def test_ps_over_ssh_lists_the_remote_process_without_its_token(sshd, demo):
    proc = otrace("ps", *sshd.args())
    assert proc.returncode == 0, proc.stderr
    [line] = [line for line in proc.stdout.splitlines() if line.split()[0] == str(demo.proc.pid)]
    assert str(demo.lsp) in line and str(demo.dap) in line and "torna_trace.py" in line
    assert demo.token not in proc.stdout + proc.stderr


def test_ps_over_ssh_json_is_the_records_without_tokens(sshd, demo):
    proc = otrace("ps", *sshd.args(), "--json")
    assert proc.returncode == 0, proc.stderr
    [record] = [r for r in json.loads(proc.stdout) if r["pid"] == demo.proc.pid]
    assert record == {k: v for k, v in demo.info.items() if k != "token"}
    failed = otrace("ps", *sshd.args(key=sshd.wrong_key), "--json")
    assert failed.returncode == 3
    assert json.loads(failed.stdout) == {"error": failed.stderr.strip().removeprefix("otrace: ")}


def test_ps_over_ssh_skips_stale_files_and_leaves_them_alone(sshd, demo):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = demo.dir / f"otrace-{dead.pid}.json"
    stale.write_text(json.dumps({"pid": dead.pid, "argv": ["gone.py"], "cwd": "/", "host": "127.0.0.1",
                                 "lsp_port": 1, "dap_port": None, "token": "t", "started": 0}))
    try:
        proc = otrace("ps", *sshd.args())
        assert proc.returncode == 0, proc.stderr
        assert "gone.py" not in proc.stdout and "torna_trace.py" in proc.stdout
        assert stale.exists()                                  # read-only over ssh
    finally:
        stale.unlink()


def test_ps_over_ssh_says_when_there_are_no_processes(sshd, tmp_path):
    proc = otrace("ps", *sshd.args(), "--remote-dir", str(tmp_path))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"no otrace processes on {sshd.user}@127.0.0.1\n", "")


@pytest.mark.parametrize("case, status, message", [
    ("bad key", 3, "otrace: cannot log in to {user}@127.0.0.1: "),
    ("closed port", 3, "otrace: cannot reach {user}@127.0.0.1 over ssh: "),
    ("no ssh", 3, "otrace: ssh is not installed"),
    ("ssh options alone", 2, "otrace ps: error: -p, -i, -F and --remote-dir go with --ssh; see otrace ps -h"),
])
def test_ps_over_ssh_errors_are_one_clear_line(sshd, tmp_path, case, status, message):
    args, env = sshd.args(), None
    if case == "bad key":
        args = sshd.args(key=sshd.wrong_key)
    elif case == "closed port":
        args = sshd.args(port=free_port())
    elif case == "no ssh":
        env = {"PATH": str(tmp_path)}
    elif case == "ssh options alone":
        args = ["-p", "22"]
    proc = otrace("ps", *args, env_extra=env)
    assert proc.returncode == status, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(user=sshd.user)), proc.stderr
    assert proc.stdout == ""


# ---- otrace attach --ssh -------------------------------------------------------------------------
def test_attach_forwards_both_ports_for_real_clients_and_closes_on_sigterm(sshd, demo):
    tunnel = attach(*sshd.args(), str(demo.proc.pid), "--json")
    try:
        info = json.loads(tunnel.stdout.readline())
        assert info["pid"] == demo.proc.pid and info["host"] == "127.0.0.1" and info["token"] == demo.token
        assert info["remote"] == {"destination": f"{sshd.user}@127.0.0.1", "host": "127.0.0.1",
                                  "lsp_port": demo.lsp, "dap_port": demo.dap}
        lsp = Client(info["lsp_port"])
        lsp.initialize(info["token"], name="over-ssh")
        assert lsp.request("otrace/command", {"line": "pwd"})["output"] == "/osh/globals"
        dap = DapClient(info["dap_port"])
        dap.attach(info["token"])
        assert dap.request("threads") == {"threads": []}
        dap.request("disconnect", {})
        lsp.close()
        dap.close()
        tunnel.send_signal(signal.SIGTERM)
        assert tunnel.wait(15) == 0
        stderr = tunnel.stderr.read()
        assert "tunnel to" in stderr and "closed" in stderr and demo.token not in stderr
        assert refused(info["lsp_port"]) and refused(info["dap_port"])
    finally:
        if tunnel.poll() is None:
            tunnel.kill()
            tunnel.wait()


def test_attach_text_output_names_the_ports_not_the_token(sshd, demo):
    lsp_port, dap_port = free_port(), free_port()
    tunnel = attach(*sshd.args(), str(demo.proc.pid), "--local-lsp-port", str(lsp_port),
                    "--local-dap-port", str(dap_port))
    try:
        line = tunnel.stdout.readline()
        assert f"language server 127.0.0.1:{lsp_port}, DAP 127.0.0.1:{dap_port}" in line
        assert demo.token not in line
        tunnel.send_signal(signal.SIGINT)
        assert tunnel.wait(15) == 0
    finally:
        if tunnel.poll() is None:
            tunnel.kill()
            tunnel.wait()


def test_attach_ends_with_the_remote_process(sshd, demo):
    other = DemoProcess(demo.dir.parent)             # found by the login too
    tunnel = attach(*sshd.args(), str(other.proc.pid), "--json")
    try:
        assert json.loads(tunnel.stdout.readline())["pid"] == other.proc.pid
        other.stop()
        assert tunnel.wait(20) == 1
        assert f"the otrace process {other.proc.pid} on {sshd.user}@127.0.0.1 ended" in tunnel.stderr.read()
    finally:
        other.stop()
        if tunnel.poll() is None:
            tunnel.kill()
            tunnel.wait()


def test_attach_ends_with_the_ssh_connection(sshd, demo):
    tunnel = attach(*sshd.args(), str(demo.proc.pid), "--json")
    try:
        info = json.loads(tunnel.stdout.readline())
        sessions = [pid for pid in os.listdir("/proc") if pid.isdigit() and remote_reader_of(pid, demo.proc.pid)]
        assert sessions
        for session in sessions:                               # this tunnel's (an earlier test's may be ending)
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(session), signal.SIGKILL)          # the connection's remote end goes away
        assert tunnel.wait(20) == 1
        assert f"the ssh connection to {sshd.user}@127.0.0.1 ended" in tunnel.stderr.read()
        assert refused(info["lsp_port"])
    finally:
        if tunnel.poll() is None:
            tunnel.kill()
            tunnel.wait()


def remote_reader_of(pid: str, app_pid: int) -> bool:
    """Whether process ``pid`` is the remote program that ``otrace attach`` runs for ``app_pid``."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"base64.b64decode" in b" ".join(argv) and argv[-3:-1] == [b"get", str(app_pid).encode()]


@pytest.mark.parametrize("case, status, message", [
    ("busy local port", 1, "otrace: cannot forward 127.0.0.1:{busy} to port {lsp} of {user}@127.0.0.1: "),
    ("unknown pid", 1, "otrace: no otrace process 4194304 on {user}@127.0.0.1 ('otrace ps --ssh"),
    ("bad key", 3, "otrace: cannot log in to {user}@127.0.0.1: "),
    ("wide bind", 2, "otrace attach: error: refusing to forward to 0.0.0.0: only a loopback address"),
])
def test_attach_errors_are_one_clear_line(sshd, demo, case, status, message):
    args = [*sshd.args(key=sshd.wrong_key if case == "bad key" else None),
            "4194304" if case == "unknown pid" else str(demo.proc.pid), "--json"]
    if case == "wide bind":
        args += ["--bind", "0.0.0.0"]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        if case == "busy local port":
            args += ["--local-lsp-port", str(busy_port)]
        tunnel = attach(*args)
        stdout, stderr = tunnel.communicate(timeout=60)
    assert tunnel.returncode == status, stderr
    lines = stderr.splitlines()
    expected = message.format(user=sshd.user, busy=busy_port, lsp=demo.lsp)
    assert len(lines) == 1 and lines[0].startswith(expected), stderr
    if case != "wide bind":                                    # an editor reads the error on stdout too
        assert json.loads(stdout) == {"error": lines[0].removeprefix("otrace: ")}


# ---- VS Code Remote-SSH --------------------------------------------------------------------------
def test_the_vscode_extension_runs_where_the_processes_are():
    """Under Remote-SSH the extension must run on the host (its discovery files, its loopback ports):
    a workspace extension, never a ui one (README, "Remote processes")."""
    package = json.loads((ROOT / "vscode-extension" / "package.json").read_text())
    assert package["extensionKind"] == ["workspace"]
