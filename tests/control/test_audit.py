"""control.audit under soak: a server that runs for months under a steady stream of
state-changing requests must not fill the disk. The file rolls over past ``max_bytes`` to one
``.1`` file, and every file written, the rolled-over ones too, stays a 0600 file of this user."""

from __future__ import annotations

import os
import stat

from otrace_server.control.audit import MAX_BYTES, AuditLog
from otrace_server.core.audit import acting, parse, record


def _files(directory):
    return {p.name: p.stat() for p in directory.iterdir()}


def test_audit_log_is_bounded_by_its_roll_over(tmp_path):
    path = tmp_path / "otrace-1.audit.log"
    audit = AuditLog(path, max_bytes=20_000)
    old = os.umask(0o022)        # a new file must not take the umask's 0644
    try:
        with acting("lsp", "vscode"):
            for i in range(5_000):   # ~400 KB of records: 20 times the bound
                record("resume", ids=[f"GetHandler.get:hd-hold_check:12-00-{i:05d}"])
    finally:
        os.umask(old)
        audit.close()
    files = _files(tmp_path)
    assert sorted(files) == ["otrace-1.audit.log", "otrace-1.audit.log.1"]
    assert all(st.st_size <= 20_000 for st in files.values())
    assert all(stat.S_IMODE(st.st_mode) == 0o600 for st in files.values())
    newest = path.read_text().splitlines()
    assert newest[-1].endswith('ids=["GetHandler.get:hd-hold_check:12-00-04999"]')
    assert parse(newest[-1]) == {"front": "lsp", "client": "vscode", "action": "resume",
                                 "ids": ["GetHandler.get:hd-hold_check:12-00-04999"]}
    assert "12-00-00000" not in path.read_text() + (tmp_path / "otrace-1.audit.log.1").read_text()


def test_default_bound_is_a_few_mebibytes():
    assert 1 << 20 <= MAX_BYTES <= 64 << 20


def test_roll_over_never_writes_through_a_symlink_planted_at_the_name(tmp_path):
    path = tmp_path / "otrace-1.audit.log"
    target = tmp_path / "elsewhere"
    target.write_text("")
    audit = AuditLog(path, max_bytes=1_000)
    try:
        record("resume", ids=["x"])
        path.unlink()
        path.symlink_to(target)                 # planted while the server runs
        for i in range(100):                    # several roll-overs
            record("resume", ids=[f"id-{i}"])
    finally:
        audit.close()
    assert target.read_text() == ""
    assert not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "id-99" in path.read_text()
