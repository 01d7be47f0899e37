"""The otrace object shell: the /osh virtual filesystem and every otrace command.

    from otrace_server.shell import Shell
    shell = Shell(engine, globals())
    session = shell.session("console")
    result = session.execute("ls -l")      # Result(output, error, prompt, cwd, data, repeat, edit, quit)

Modules: shell (Shell, Session, dispatch), result (Result, EditRequest), registry (commands and
their help), commands/ (one module per command family), vfs (the /osh tree), context_dirs (trace
contexts in it), paths (special paths), mappings (object/sequence views), evaluation (pr/exec,
safe mode), guarded (the safe-mode form of an expression), safety (what is application code; the
run-time net), limits (safe-mode resource limits), completion, runtime_views (tasks and threads
snapshots), oshfiles (/osh as files for editors), testgen (a pytest test from a trace context),
providers (the Protocols of what the shell is given: TaskSource, WebProvider,
DebugProvider).
The shell imports only core; it starts no threads and never prints.
"""

from otrace_server.shell import commands as _commands  # noqa: F401  (registers the commands)
from otrace_server.shell.providers import DebugProvider, TaskSource, WebClientInfo, WebProvider
from otrace_server.shell.result import EditRequest, Result
from otrace_server.shell.shell import Session, Shell

__all__ = ["Shell", "Session", "Result", "EditRequest", "WebClientInfo", "WebProvider", "TaskSource", "DebugProvider"]
