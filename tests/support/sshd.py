"""A real OpenSSH ``sshd`` on 127.0.0.1 for the tests of the remote path (``otrace ps --ssh``,
``otrace attach --ssh`` and the editors' "Attach to Remote Process"): a throwaway host key, user
key, authorized_keys, sshd_config and client config in a temp directory, logging in as the current
user. ``installed()`` says whether sshd, ssh and ssh-keygen are there (Debian openssh-server).
The module fixtures ``demo`` (the torna_trace demo, its discovery file where the logins look) and
``sshd`` (skipped when OpenSSH is not installed) are imported by the test modules that use them."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.dap.conftest import DemoProcess

__all__ = ["SSHD", "Sshd", "free_port", "installed", "demo", "sshd"]

SSHD = "/usr/sbin/sshd"


def installed() -> bool:
    """Whether OpenSSH's sshd, ssh and ssh-keygen are installed."""
    return bool(os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen"))


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
    if not installed():
        pytest.skip("OpenSSH's sshd is not installed (Debian openssh-server; make test installs it)")
    server = Sshd(tmp_path_factory.mktemp("sshd"), demo.dir.parent)
    yield server
    server.stop()
