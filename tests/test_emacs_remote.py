"""Emacs's "Attach to Remote Process" (emacs/otrace-remote.el, ``M-x otrace-attach-remote``): the
ERT tests of emacs/test/otrace-remote-test.el run in ``emacs --batch`` against the real torna_trace
demo reached over a real OpenSSH sshd on 127.0.0.1 (tests/support/sshd.py), through the real
``otrace ps --ssh`` and ``otrace attach --ssh``. Skipped when Emacs or OpenSSH is not installed
(``make test`` installs both)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.sshd import demo, sshd  # noqa: F401  (fixtures: the demo, its sshd)

ROOT = Path(__file__).resolve().parent.parent
EMACS = os.environ.get("EMACS", "emacs")


def test_emacs_attaches_to_a_remote_process_over_ssh(sshd, demo):
    if shutil.which(EMACS) is None:
        pytest.skip("Emacs is not installed (Debian emacs-nox; make test installs it)")
    ssh_args = sshd.args()[2:]                       # -p PORT -i KEY -F CONFIG
    env = dict(os.environ, PYTHONPATH=str(ROOT), OTRACE_TEST_PYTHON=sys.executable,
               OTRACE_TEST_SSH_HOST=f"{sshd.user}@127.0.0.1", OTRACE_TEST_SSH_ARGS=" ".join(ssh_args),
               OTRACE_TEST_SSH_WRONG_KEY=str(sshd.wrong_key), OTRACE_TEST_REMOTE_PID=str(demo.proc.pid),
               OTRACE_TEST_REMOTE_HTTP=str(demo.http), OTRACE_TEST_REMOTE_XDG=str(demo.dir.parent))
    proc = subprocess.run([EMACS, "--batch", "-Q", "-L", "emacs", "-L", "emacs/test",
                           "--eval", "(setq load-prefer-newer t)", "-l", "emacs/test/otrace-remote-test.el",
                           "--eval", '(ert-run-tests-batch-and-exit "^otrace-remote-test-")'],
                          cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    ran = re.findall(r"^Ran (\d+) tests?, (\d+) results? as expected", output, re.M)
    assert ran and ran[-1][0] == ran[-1][1] == "4", output
    assert demo.token not in output
