"""``otrace ps --ssh`` and ``otrace attach --ssh`` (otrace_server/remote.py) against a real OpenSSH
``sshd`` started here on 127.0.0.1 (Debian openssh-server: ``make test`` installs it), with a
throwaway host key, user key, authorized_keys, sshd_config and client config in a temp directory,
logging in as the current user; and the real torna_trace demo, whose discovery file is found over
ssh. Skipped only when sshd or ssh is not installed."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dap.conftest import DemoProcess
from tests.dap.dapclient import DapClient
from tests.lsp.rpc import Client

ROOT = Path(__file__).resolve().parent.parent
SSHD = "/usr/sbin/sshd"



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


class Sshd:
    """A real sshd on 127.0.0.1:``port`` as the current user; ``key`` logs in, ``config`` is the
    client's ssh config (the known host key, no prompts); the login's XDG_RUNTIME_DIR is ``xdg``."""

    def __init__(self, tmp: Path, xdg: Path) -> None:
        self.port, self.user = free_port(), getpass.getuser()
        host_key, self.key, self.wrong_key = (keygen(tmp / name) for name in ("host_key", "user_key", "wrong_key"))
        (tmp / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        (tmp / "sshd_config").write_text(f"""\
ListenAddress 127.0.0.1
Port {self.port}
HostKey {host_key}
PidFile {tmp}/sshd.pid
AuthorizedKeysFile {tmp}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowTcpForwarding local
SetEnv XDG_RUNTIME_DIR={xdg}
LogLevel INFO
""")
        (tmp / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {Path(f'{host_key}.pub').read_text()}")
        self.config = tmp / "ssh_config"
        self.config.write_text(f"""\
Host *
  UserKnownHostsFile {tmp}/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  IdentitiesOnly yes
  PasswordAuthentication no
  LogLevel ERROR
""")
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)   # sshd's privilege separation directory
        self.log = tmp / "sshd.log"
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(tmp / "sshd_config")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        deadline = time.monotonic() + 10
        while "Server listening on" not in self.log.read_text():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def args(self, *, key: Path | None = None, port: int | None = None) -> list[str]:
        """``--ssh USER@127.0.0.1 -p PORT -i KEY -F CONFIG``."""
        return ["--ssh", f"{self.user}@127.0.0.1", "-p", str(port or self.port), "-i", str(key or self.key),
                "-F", str(self.config)]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The torna_trace demo, its discovery file where the sshd's logins look (their XDG_RUNTIME_DIR)."""
    app = DemoProcess(tmp_path_factory.mktemp("xdg"))
    yield app
    app.stop()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory, demo):
    if not (os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen")):
        pytest.skip("OpenSSH's sshd is not installed (Debian openssh-server; make test installs it)")
    server = Sshd(tmp_path_factory.mktemp("sshd"), demo.dir.parent)
    yield server
    server.stop()


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
