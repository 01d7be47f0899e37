"""Discovery files: written 0600 with the documented keys, listed while the pid lives, stale ones cleaned."""

import os
import stat
import subprocess
import sys

from otrace_server.control import discovery


def test_write_list_remove(tmp_path):
    path = discovery.write(host="127.0.0.1", lsp_port=1234, token="secret", directory=tmp_path)
    assert path == tmp_path / f"otrace-{os.getpid()}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [info] = discovery.list_processes(tmp_path)
    assert set(info) == {"pid", "ppid", "argv", "cwd", "host", "lsp_port", "dap_port", "token", "started",
                         "fleet"}
    assert (info["pid"], info["lsp_port"], info["dap_port"], info["token"]) == (os.getpid(), 1234, None, "secret")
    assert (info["ppid"], info["fleet"]) == (os.getppid(), None)
    discovery.remove(path)
    assert discovery.list_processes(tmp_path) == []
    discovery.remove(path)  # a missing file is not an error


def test_stale_file_of_dead_pid_is_ignored_and_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"otrace-{dead.pid}.json"
    stale.write_text('{"pid": %d, "lsp_port": 1}' % dead.pid)
    empty_log, kept_log = tmp_path / f"otrace-{dead.pid}.audit.log", tmp_path / "otrace-1.audit.log"
    empty_log.write_text("")
    kept_log.write_text("2026-11-30T00:00:00 client=c method=otrace/resume\n")
    assert discovery.list_processes(tmp_path) == []
    assert not stale.exists() and not empty_log.exists()     # nothing audited: nothing to keep
    assert kept_log.exists()                                  # never another process's records


def test_audit_log_is_kept_with_records_and_removed_when_empty(tmp_path):
    from otrace_server.control import audit
    from otrace_server.core.audit import acting, record

    quiet = audit.AuditLog(tmp_path / "quiet.audit.log")
    quiet.close()
    busy = audit.AuditLog(tmp_path / "busy.audit.log")
    with acting("lsp", "vscode"):
        record("resume", ids=["x"])
    busy.close()
    assert not (tmp_path / "quiet.audit.log").exists()
    assert 'front=lsp client=vscode action=resume ids=["x"]' in (tmp_path / "busy.audit.log").read_text()


def test_runtime_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert discovery.runtime_dir() == tmp_path / "otrace"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert discovery.runtime_dir() == discovery.Path(os.path.expanduser("~")) / ".cache" / "otrace"
