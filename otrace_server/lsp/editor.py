"""Moved to ``otrace_server.shell.editor`` (shared with the DAP endpoint); this name stays for
existing imports."""

from otrace_server.shell.editor import *  # noqa: F401,F403
from otrace_server.shell.editor import __all__  # noqa: F401
