"""Processes on other hosts, over OpenSSH only: list their discovery files, forward their ports.

    >>> target = SshTarget("deploy@web1")                       # doctest: +SKIP
    >>> [p["pid"] for p in list_remote(target)]                  # doctest: +SKIP
    [4242]
    >>> tunnel = Tunnel(target, 4242)                            # doctest: +SKIP
    >>> tunnel.open()["lsp_port"]                # a port on 127.0.0.1 here   # doctest: +SKIP
    >>> tunnel.wait()                            # until it ends by itself     # doctest: +SKIP
    >>> tunnel.close()                                                         # doctest: +SKIP

What runs on the remote host is one ``python3 -c`` program (any Python 3.6+; otrace need not be
installed there): ``discovery.read_records`` (the very function ``otrace ps`` uses here, sent as
source) and a few lines around it, base64-encoded so that any login shell passes it on unchanged.
It only reads: stale files (dead pids) are skipped, not removed, and ``list`` leaves the token out.
It looks in ``$XDG_RUNTIME_DIR/otrace`` and ``~/.cache/otrace`` of the login (the two places a
process may have written its file), or in the directory given.

``Tunnel`` is one OpenSSH connection, a control master (``ssh -M -S SOCKET``, the socket in a
private temporary directory): its session runs the program's ``get PID``, which prints that
process's record (token included: read over this connection, kept in memory, never written to
disk here) and then stays until its stdin closes or the process ends; the ports are then forwarded
over the same connection (``ssh -S SOCKET -O forward -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE``, the
remote ports being known only from the record). OpenSSH carries every byte: nothing of ours
relays traffic. Closing ends the master (SIGTERM), which removes the forwards.

Errors are ``RemoteError`` (a one-line ``message`` naming the host and what to check, and
``unreachable``: True when SSH itself failed: ssh missing, host unknown or unreachable, login
refused, host key not verified; False when the host was reached and something there failed).

Thread-safety: a ``Tunnel`` belongs to the thread that made it (``close`` may also run from a
signal handler's exception path on that thread); its one thread of its own only collects the
master's stderr. ``list_remote`` may run on any thread.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass

from otrace_server.control.auth import is_loopback
from otrace_server.control.discovery import read_records

__all__ = ["SshTarget", "RemoteError", "list_remote", "Tunnel", "CONNECT_TIMEOUT"]

#: seconds ssh waits for the TCP connection (``ConnectTimeout``)
CONNECT_TIMEOUT = 10
#: seconds an ``ssh -O forward`` request may take
FORWARD_TIMEOUT = 15
#: how many free local ports are tried when a port picked here was taken before ssh bound it
PORT_ATTEMPTS = 3

_PROGRAM = """
import json, os, select, sys
READER
def main(mode, arg=None, folder=None):
    home = [os.path.join(os.path.expanduser("~"), ".cache", "otrace")]
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    folders = [folder] if folder else [os.path.join(xdg, "otrace")] * bool(xdg) + home
    records = read_records(folders)
    if mode == "list":
        print(json.dumps([dict((k, v) for k, v in r.items() if k != "token") for r in records]))
        return
    pid = int(arg)
    found = [r for r in records if r.get("pid") == pid]
    print(json.dumps(found[0] if found else None), flush=True)
    while found:     # hold the session (and its forwards) until stdin closes or the process ends
        if select.select([sys.stdin], [], [], 2.0)[0]:
            if not os.read(sys.stdin.fileno(), 4096):
                return
        elif not any(r.get("pid") == pid for r in read_records(folders)):
            print(json.dumps({"gone": pid}), flush=True)
            return
main(*sys.argv[1:])
"""


class RemoteError(Exception):
    """A remote operation failed: ``message`` is one line for the user; ``unreachable`` is True
    when SSH itself failed (see the module doc)."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable


@dataclass
class SshTarget:
    """Where and how to log in: ``destination`` (``[user@]host`` or a Host of the ssh config) and
    the ssh options ``port`` (-p), ``identity`` (-i), ``config`` (-F); ``batch``: no password or
    host-key prompts (``BatchMode=yes``: what a program without a terminal needs); ``remote_dir``:
    the remote discovery directory instead of the defaults."""

    destination: str
    port: int | None = None
    identity: str | None = None
    config: str | None = None
    batch: bool = True
    remote_dir: str | None = None

    def __post_init__(self) -> None:
        if not self.destination or self.destination.startswith("-") or any(c.isspace() for c in self.destination):
            raise ValueError(f"not an ssh destination: {self.destination!r} (give [user@]host)")

    def ssh(self, *options: str) -> list[str]:
        """The ssh command line up to the destination, with ``options`` before it. RemoteError when
        ssh is not installed."""
        program = shutil.which("ssh")
        if program is None:
            raise RemoteError("ssh is not installed (OpenSSH's client, e.g. Debian's openssh-client)",
                              unreachable=True)
        argv = [program]
        if self.config:
            argv += ["-F", self.config]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.identity:
            argv += ["-i", self.identity]
        if self.batch:
            argv += ["-o", "BatchMode=yes"]
        argv += ["-o", f"ConnectTimeout={CONNECT_TIMEOUT}", *options, self.destination]
        return argv

    def remote_command(self, *args: str) -> str:
        """The one remote command line running the reader program with ``args`` (``list`` or
        ``get PID``), then the discovery directory when one was given."""
        source = _PROGRAM.replace("READER", inspect.getsource(read_records))
        encoded = base64.b64encode(source.encode()).decode()
        words = [*args, *([self.remote_dir] if self.remote_dir else [])]
        return (f"python3 -c 'import base64; exec(base64.b64decode(\"{encoded}\"))' "
                + " ".join(shlex.quote(w) for w in words))


def _failure(target: SshTarget, status: int, stderr: str) -> RemoteError:
    """The RemoteError of an ssh command that exited with ``status``."""
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("Warning: Permanently")]
    last = lines[-1].strip() if lines else f"exit status {status}"
    host = target.destination
    if status == 255:
        if "Permission denied" in stderr or "Too many authentication failures" in stderr:
            return RemoteError(f"cannot log in to {host}: {last} (check the user, the key given with -i "
                               "and the remote ~/.ssh/authorized_keys)", unreachable=True)
        if "Host key verification failed" in stderr or "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
            return RemoteError(f"the host key of {host} is not known or has changed (run 'ssh {host}' once "
                               "to check and accept it)", unreachable=True)
        if "Could not resolve hostname" in stderr:
            return RemoteError(f"unknown host {host}: {last}", unreachable=True)
        return RemoteError(f"cannot reach {host} over ssh: {last}", unreachable=True)
    if status == 127:
        return RemoteError(f"python3 is not on the PATH of a login on {host} (otrace reads the discovery "
                           "files with it)")
    return RemoteError(f"reading the otrace processes on {host} failed: {last}")


def list_remote(target: SshTarget, timeout: float = 60) -> list[dict]:
    """The discovery records of the live otrace processes of ``target`` (as
    ``discovery.list_processes`` gives them here, without their tokens), oldest first. One ssh
    command. RemoteError when it cannot be run or fails."""
    try:
        proc = subprocess.run(target.ssh("-T", "-n") + [target.remote_command("list", "-")], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RemoteError(f"no answer from {target.destination} within {timeout:g}s", unreachable=True) from None
    if proc.returncode != 0:
        raise _failure(target, proc.returncode, proc.stderr)
    try:
        records = json.loads(proc.stdout.strip().splitlines()[-1])   # the last line: after what a login may print
        if not isinstance(records, list):
            raise ValueError(records)
    except (ValueError, IndexError):
        raise RemoteError(f"unexpected answer from {target.destination}: {proc.stdout[:200]!r}") from None
    return [r for r in records if isinstance(r, dict)]


def _free_port(host: str) -> int:
    """A port free on ``host`` now (ssh binds it a moment later: ``Tunnel`` retries when taken)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Tunnel:
    """The ports of otrace process ``pid`` of ``target`` forwarded to ``bind`` (a loopback address)
    here, over one OpenSSH connection (see the module doc). ``local_lsp_port`` /
    ``local_dap_port``: 0 picks free ports. ValueError for a non-loopback ``bind``."""

    def __init__(self, target: SshTarget, pid: int, *, bind: str = "127.0.0.1", local_lsp_port: int = 0,
                 local_dap_port: int = 0) -> None:
        if not is_loopback(bind):
            raise ValueError(f"refusing to forward to {bind}: only a loopback address keeps the "
                             "ports on this machine (e.g. 127.0.0.1)")
        self.target, self.pid, self.bind = target, pid, bind
        self._local = {"lsp_port": local_lsp_port, "dap_port": local_dap_port}
        self._dir: str | None = None
        self._master: subprocess.Popen | None = None
        self._stderr: list[str] = []
        self._stderr_reader: threading.Thread | None = None

    @property
    def control_path(self) -> str:
        return os.path.join(self._dir, "ssh")

    def open(self) -> dict:
        """Connect, read the process's record and forward its ports. Returns what an editor needs,
        in the shape of a discovery record (``pid, argv, cwd, host, lsp_port, dap_port, token,
        started``: ``host`` and the ports are the local ends) plus ``remote``: ``{destination,
        host, lsp_port, dap_port}``. RemoteError when anything fails (the connection is closed)."""
        try:
            return self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> dict:
        self._dir = tempfile.mkdtemp(prefix="otrace-ssh-")
        argv = self.target.ssh("-T", "-M", "-S", self.control_path, "-o", "ControlPersist=no",
                               "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15")
        self._master = subprocess.Popen(argv + [self.target.remote_command("get", str(self.pid))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self._stderr_reader = threading.Thread(target=self._collect_stderr, name="otrace-ssh-stderr", daemon=True)
        self._stderr_reader.start()
        record = self._read_record()
        if record is None:
            raise RemoteError(f"no otrace process {self.pid} on {self.target.destination} "
                              f"('otrace ps --ssh {self.target.destination}' lists them)")
        remote_host = record.get("host") or "127.0.0.1"
        if remote_host in ("0.0.0.0", "::", "localhost"):
            remote_host = "127.0.0.1"
        info = {**record, "host": self.bind, "remote": {"destination": self.target.destination, "host": remote_host}}
        for key in ("lsp_port", "dap_port"):
            info["remote"][key] = record.get(key)
            info[key] = self._forward(remote_host, record[key], self._local[key]) if record.get(key) else None
        return info

    def _read_record(self) -> dict | None:
        """The record the remote program printed (None: no such process); lines before it that are
        not JSON (what a login script may print) are skipped."""
        for line in self._master.stdout:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record is None or isinstance(record, dict):
                    return record
        raise self._ended()

    def _collect_stderr(self) -> None:
        for line in self._master.stderr:
            self._stderr.append(line)

    def _forward(self, remote_host: str, remote_port: int, local_port: int) -> int:
        """Forward ``local_port`` (0: a free one) to the remote port over the master; the local port."""
        attempts = 1 if local_port else PORT_ATTEMPTS
        for _ in range(attempts):
            port = local_port or _free_port(self.bind)
            logged = len(self._stderr)
            spec = f"{_bracketed(self.bind)}:{port}:{_bracketed(remote_host)}:{remote_port}"
            argv = self.target.ssh("-S", self.control_path, "-O", "forward", "-L", spec)
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=FORWARD_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise RemoteError(f"forwarding {spec} over ssh took over {FORWARD_TIMEOUT}s") from None
            if proc.returncode == 0:
                return port
        why = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        master_said = [line.strip() for line in self._stderr[logged:] if line.strip()]
        if master_said:     # the master's own reason, e.g. "bind [127.0.0.1]:N: Address already in use"
            why = f"{why}: {master_said[0]}"
        raise RemoteError(f"cannot forward {self.bind}:{port} to port {remote_port} of "
                          f"{self.target.destination}: {why}")

    def wait(self) -> str:
        """Block until the tunnel ends by itself; returns why, one line (the process ended, or the
        connection did). Ctrl-C / a signal handler's exception interrupts it."""
        for line in self._master.stdout:
            if '"gone"' in line:
                return f"the otrace process {self.pid} on {self.target.destination} ended"
        status = self._master.wait()
        self._stderr_reader.join(5)
        said = [line.strip() for line in self._stderr if line.strip()]
        return f"the ssh connection to {self.target.destination} ended ({said[-1] if said else f'status {status}'})"

    def _ended(self) -> RemoteError:
        """Why the master exited (its status and all of its stderr)."""
        status = self._master.wait()
        self._stderr_reader.join(5)
        return _failure(self.target, status, "".join(self._stderr))

    def close(self) -> None:
        """End the connection and its forwards (idempotent): the master is sent SIGTERM, then the
        private control directory is removed."""
        master, self._master = self._master, None
        if master is not None:
            if master.poll() is None:
                master.terminate()
                try:
                    master.wait(5)
                except subprocess.TimeoutExpired:
                    master.kill()
                    master.wait(5)
            for stream in (master.stdin, master.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
