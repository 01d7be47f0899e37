"""Session control: alias, help, lock, quit, repeat, set, source.

Thread-safety: mutate only the calling session, except ``set`` (engine settings: atomic per
parameter, see core.settings).
"""

from __future__ import annotations

import os

from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server.core.textfiles import read_text
from otrace_server.shell.commands.listing import line_wrap
from otrace_server.shell.registry import COMMANDS, command
from otrace_server.shell.result import Result

__all__: list[str] = []

_MAX_SOURCE_DEPTH = 4
#: the largest file ``source`` reads, in bytes
_MAX_SOURCE_BYTES = 1 << 20


@command("help", "help [command|*]          # Display help information",
         "help *                    # One line per command\nhelp command              # Help on a command",
         bounded=True)
def help_(session, call):
    names = sorted(COMMANDS)
    if not call.args:
        return ("Commands:\n" + line_wrap(names) + '\n\nIf you omit the command, "pr" is assumed.\n'
                "Use the TAB key for completion.\n"
                'Type "help <command>" or "help *" for more info.')
    if len(call.args) > 1:
        raise OTraceError("help: one command at a time")
    name = call.args[0]
    if name == "*":
        return "\n".join(COMMANDS[n].usage for n in names) + \
            '\n\nUse traceassert(condition, label=..., action=...) in code to trace assertions.'
    if name not in COMMANDS:
        if name in session.aliases:
            return f"{name}: alias for {session.aliases[name]}"
        raise OTraceError(f"help: unknown command {name!r}; 'help' lists them")
    text = COMMANDS[name].help
    if name == "set":
        text += "\n\nPARAMETERS\n" + "\n".join(session.settings.help(p) for p in session.settings.names())
    return text


@command("alias", "alias name command <\\*> <\\1>...  # Define an alias (\\* all arguments, \\1 the first ...)",
         """alias                     # List aliases
alias name                # Display the alias for name
alias name ""             # Remove the alias for name
Commands in an alias are separated by ";".""", raw=True)
def alias(session, call):
    name, _, body = call.raw.strip().partition(" ")
    if not name:
        return "\n".join(f"{k} {v}" for k, v in sorted(session.aliases.items()))
    if name in COMMANDS:
        raise OTraceError(f"alias: {name} is a command")
    body = body.strip()
    if not body:
        if name not in session.aliases:
            raise OTraceError(f"alias: no such alias: {name}")
        return f"{name} {session.aliases[name]}"
    if body in ('""', "''"):
        session.aliases.pop(name, None)
        return ""
    session.aliases[name] = body
    return ""


@command("set", "set [parameter [value]]   # Set (or display) parameters",
         """set                       # Display all parameter values
set parameter             # Display the value (and help) of a parameter
set parameter value       # Set it (typed: True/False, numbers, strings)
set parameter ""          # Clear a string parameter""", changes_state=True)
def set_(session, call):
    settings = session.settings
    if not call.args:
        return Result("\n".join(settings.display(n) for n in settings.names()),
                      data={"settings": {n: settings.get(n) for n in settings.names() if n != "password"}})
    if len(call.args) > 2:
        raise OTraceError("set: expected 'set parameter value' (quote values with spaces)")
    name = call.args[0]
    if len(call.args) == 1:
        return settings.display(name) + "\n" + settings.help(name)
    settings.set(name, call.args[1])
    audit.record("set", name=name, value="***" if name == "password" else settings.get(name))
    return settings.display(name)


@command("lock", "lock                      # Lock the console until the password is entered",
         "Needs a password: 'set password SECRET' first.")
def lock(session, call):
    if not session.settings.password:
        raise OTraceError("lock: no password set; 'set password SECRET' first")
    session.locked = True
    return Result("locked", data={"lock": True})


@command("quit", "quit                      # Quit the shell session")
def quit_(session, call):
    return Result("", quit=True)


@command("repeat", "repeat command            # Repeat a command every repeat_interval until new input",
         "The front end re-runs the command and redraws its output.", raw=True)
def repeat(session, call):
    line = call.raw.strip()
    if not line:
        raise OTraceError("repeat: specify a command")
    if line.split()[0] == "repeat":
        raise OTraceError("repeat: cannot repeat repeat")
    first = session.run_follow_up(line, call.stdin, depth=1)
    if first.error:
        return first
    first.repeat = line
    return first


@command("source", "source filename           # Read commands from a file (# comments and blank lines skipped)")
def source(session, call):
    if len(call.args) != 1:
        raise OTraceError("source: specify one file")
    name = call.args[0]
    path = "/" + "/".join(session.abspath(name)) if name.startswith("~~w") else os.path.expanduser(name)
    if not os.path.isabs(path):
        path = os.path.join(session.shell.work_dir, path)
    depth = session.source_depth
    if depth >= _MAX_SOURCE_DEPTH:
        raise OTraceError("source: files source each other too deeply")
    try:
        lines = read_text(path, limit=_MAX_SOURCE_BYTES).splitlines()
    except OTraceError as exc:
        raise OTraceError(f"source: {exc}") from None
    outputs: list[str] = []
    failed = False
    session.source_depth = depth + 1
    try:
        for line in lines:
            if not line.strip() or line.strip().startswith("#"):
                continue
            result = session.execute(line)
            if result.output:
                outputs.append(result.output)
            failed = failed or result.error
            if result.quit:
                return Result("\n".join(outputs), error=failed, quit=True)
    finally:
        session.source_depth = depth
    return Result("\n".join(outputs), error=failed)
