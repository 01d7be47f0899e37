"""control.discovery and control.audit: the files that hold or reveal the control-plane token: the discovery directory
and file, and the audit log. Real files, real modes and owners (the suite runs as root in CI, so
a directory of another user is made with chown; elsewhere those cases skip)."""

import os
import stat

import pytest

from otrace_server.control import discovery
from otrace_server.control.audit import AuditLog

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file of another user")


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_existing_world_readable_directory_is_made_private(tmp_path):
    folder = tmp_path / "otrace"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    path = discovery.write(lsp_port=1, token="secret", directory=folder)
    assert mode(folder) == 0o700 and mode(path) == 0o600


def test_new_directory_is_private(tmp_path):
    folder = tmp_path / "a" / "otrace"
    discovery.write(lsp_port=1, token="secret", directory=folder)
    assert mode(folder) == 0o700


@as_root
def test_directory_of_another_user_is_refused(tmp_path):
    folder = tmp_path / "otrace"
    folder.mkdir(mode=0o777)
    os.chown(folder, NOBODY, NOBODY)
    with pytest.raises(OSError, match="owned by uid 65534, not you"):
        discovery.write(lsp_port=1, token="secret", directory=folder)
    assert list(folder.iterdir()) == []        # the token was not written there


@as_root
def test_symlink_of_another_user_is_refused(tmp_path):
    target = tmp_path / "mine"
    target.mkdir(mode=0o700)
    link = tmp_path / "otrace"
    link.symlink_to(target)
    os.lchown(link, NOBODY, NOBODY)
    with pytest.raises(OSError, match="symlink owned by uid 65534"):
        discovery.write(lsp_port=1, token="secret", directory=link)


def test_leftover_wide_temporary_file_does_not_leak_the_token(tmp_path):
    """A .tmp left with mode 0644 (a crash, another tool) kept its mode through O_CREAT, and the
    rename then published the token world-readable."""
    tmp = tmp_path / f"otrace-{os.getpid()}.json.tmp"
    tmp.write_text("old")
    os.chmod(tmp, 0o644)
    path = discovery.write(lsp_port=1, token="secret", directory=tmp_path)
    assert mode(path) == 0o600


def test_planted_temporary_symlink_is_not_followed(tmp_path):
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("untouched")
    (tmp_path / f"otrace-{os.getpid()}.json.tmp").symlink_to(victim)
    path = discovery.write(lsp_port=1, token="secret", directory=tmp_path)
    assert victim.read_text() == "untouched"
    assert not path.is_symlink() and "secret" in path.read_text()


def test_existing_wide_audit_log_is_made_0600(tmp_path):
    log = tmp_path / "otrace-1.audit.log"
    log.write_text("2026-01-01T00:00:00 client=c method=otrace/resume\n")
    os.chmod(log, 0o644)
    audit = AuditLog(log)
    audit.close()
    assert mode(log) == 0o600


def test_audit_log_symlink_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("")
    log = tmp_path / "otrace-1.audit.log"
    log.symlink_to(victim)
    with pytest.raises(OSError):
        AuditLog(log)
