"""Navigation: cd, cdls, pushd, popd, swapd, pwd, up, dn.

``cd`` with no argument goes to the top of the current trace context, else to /osh/globals inside
/osh, else to the user's home directory. As in otrace, ``cd path; command`` (also ``cd path;command``)
changes directory and then runs ``command`` there (``cd path; cmd1; cmd2`` runs several). Thread-safety: mutates only the calling session.
"""

from __future__ import annotations

import os
import shlex

from otrace_server.core.errors import OTraceError
from otrace_server.shell import vfs
from otrace_server.shell.paths import GLOBALS_PATH, join_path
from otrace_server.shell.registry import COMMANDS, command

__all__ = ["change_dir"]

_CD_HELP = """Special paths: ".."=>parent, "/"=>root, "~"=>home (/osh/globals), "~~"=>most recent trace context,
               "~~g"=>/osh/globals, "~~w"=>work directory
In /osh/globals and /osh/locals, "a.b" means "a/b".
If the current directory is /osh/*, input is interpreted as oshell commands;
otherwise as Unix shell commands (except cd, pushd, popd, swapd, pwd, help, set, alias, quit).

Without a path: the top of the current trace context (inside /osh/recent, saved or pickled),
else /osh/globals inside /osh, else the user's home directory.

Wildcards (*, abc*, ?, [..]) may stand in any component when they name exactly one directory,
e.g. cd /osh/recent/holds/*/*/* with one hold waiting (a path that exists as typed, such as
/osh/web/* = every browser, is entered as typed).

cd path; command          change directory, then run command there (e.g. cd ~~; ls -l)
cd path; cmd1; cmd2       ... then several commands (Python code takes the rest of the line)"""


def _default(session) -> list[str]:
    ctx = session.context_here()
    if ctx is not None:
        return session.cwd[:6]
    if session.in_osh:
        return list(GLOBALS_PATH)
    return [p for p in os.path.expanduser("~").split("/") if p]


def change_dir(session, target: str | None) -> None:
    """cd to ``target`` (None: the default directory); OTraceError when it is not a directory.
    Going up (``cd ..``) from a current directory that vanished (a deleted trace context) lands in
    the nearest directory above it that still exists.
    Wildcards (``*``, ``abc*``, ``?``, ``[..]``) may stand in any component, as long as they name
    exactly one directory (e.g. ``cd /osh/recent/holds/*/*/*`` with one hold waiting); a path that
    names a directory as typed is taken as typed (``/osh/web/*`` is every browser)."""
    parts = _default(session) if not target else session.abspath(target)
    try:
        session.chdir(parts)
    except OTraceError:
        if any(vfs.has_magic(name) for name in parts):
            session.chdir(_only_directory(session, parts, target))   # a directory named "*" (/osh/web/*) wins
        elif parts == session.cwd[:len(parts)] and _gone(session):
            session.chdir(_nearest_existing(session, parts))          # cd .. out of a vanished directory
        else:
            raise


def _gone(session) -> bool:
    try:
        vfs.resolve(session.shell, session.cwd)
    except OTraceError:
        return True
    return False


def _nearest_existing(session, parts: list[str]) -> list[str]:
    """The longest prefix of ``parts`` that is a directory (``/`` at worst)."""
    while parts:
        try:
            vfs.resolve(session.shell, parts)
            return parts
        except OTraceError:
            parts = parts[:-1]
    return parts


def _only_directory(session, parts: list[str], typed: str) -> list[str]:
    """The one directory that the wildcard path ``parts`` matches; OTraceError for none or several."""
    matches = []
    for match in vfs.glob(session.shell, parts):
        try:
            vfs.resolve(session.shell, match)
        except OTraceError:
            continue
        matches.append(match)
    if not matches:
        raise OTraceError(f"no such directory: {typed}")
    if len(matches) > 1:
        shown = ", ".join(join_path(m) for m in matches[:4]) + (", ..." if len(matches) > 4 else "")
        raise OTraceError(f"{len(matches)} directories match {typed}: {shown}; be more specific")
    return matches[0]


@command("cd", 'cd [path]                 # Change current working directory to "path"', _CD_HELP, raw=True)
def cd(session, call):
    target, semicolon, follow_up = call.raw.partition(";")
    try:
        args = shlex.split(target)
    except ValueError as exc:
        raise OTraceError(f"cd: {exc}") from None
    if len(args) > 1:
        hint = f"; to run a command after cd: cd {args[0]}; {' '.join(args[1:])}" if not semicolon else ""
        raise OTraceError(f"cd: too many arguments{hint}")
    change_dir(session, args[0] if args else None)
    if semicolon and follow_up.strip():
        return _run_commands(session, follow_up, call.stdin)
    return ""


def _run_commands(session, text: str, stdin: str | None):
    """Run ``cmd1; cmd2; ...`` after ``cd path;``: each part that starts with a command or alias
    name runs on its own; Python code (``!``, ``exec``, ``pr`` or an expression) takes the rest of
    the line, semicolons included. Stops at the first error; outputs are joined."""
    outputs = []
    rest = text
    while rest.strip():
        part, _, after = rest.partition(";")
        word = part.split()[0] if part.split() else ""
        if not word:
            rest = after
            continue
        if word.startswith("!") or word in ("exec", "pr") or \
                (word not in COMMANDS and word not in session.aliases):
            part, after = rest, ""
        result = session.run_follow_up(part, stdin)
        if result.output:
            outputs.append(result.output)
        if result.error or result.quit or result.repeat or result.edit:
            result.output = "\n".join(outputs)
            return result
        rest = after
    return "\n".join(outputs)


@command("cdls", 'cdls [path] [ls options]  # cd to "path" and list its entries (cd+ls)')
def cdls(session, call):
    target = [a for a in call.args if not a.startswith("-")]
    if len(target) > 1:
        raise OTraceError("cdls: too many arguments")
    change_dir(session, target[0] if target else None)
    from otrace_server.shell.commands.listing import list_entries
    return list_entries(session, [a for a in call.args if a.startswith("-")])


@command("pushd", "pushd [path]              # Push current directory on the stack and cd to path")
def pushd(session, call):
    if len(call.args) > 1:
        raise OTraceError("pushd: too many arguments")
    previous = list(session.cwd)
    change_dir(session, call.args[0] if call.args else None)
    session.dir_stack.append(previous)
    return ""


@command("popd", "popd [-a]                 # Pop the directory stack and return to that directory",
         "-a  return to the bottom of the stack and clear it")
def popd(session, call):
    if not session.dir_stack:
        raise OTraceError("popd: directory stack is empty")
    if call.args not in ([], ["-a"]):
        raise OTraceError("popd: expected no argument or -a")
    target = session.dir_stack[0] if call.args == ["-a"] else session.dir_stack[-1]
    session.chdir(target)
    if call.args == ["-a"]:
        session.dir_stack.clear()
    else:
        session.dir_stack.pop()
    return ""


@command("swapd", "swapd                     # Swap current directory with the top of the directory stack")
def swapd(session, call):
    if not session.dir_stack:
        raise OTraceError("swapd: directory stack is empty")
    target = session.dir_stack[-1]
    current = list(session.cwd)
    session.chdir(target)
    session.dir_stack[-1] = current
    return ""


@command("pwd", 'pwd [-a]                  # Print current working "directory"',
         "-a  also print the directory stack, top first", bounded=True)
def pwd(session, call):
    if call.args not in ([], ["-a"]):
        raise OTraceError("pwd: expected no argument or -a")
    lines = [session.cwd_text]
    if call.args == ["-a"]:
        lines += [join_path(p) for p in reversed(session.dir_stack)]
    return "\n".join(lines)


def _frame_step(session, link: str, name: str) -> str:
    if session.context_here() is None:
        raise OTraceError(f"{name}: not in a trace context")
    here = session.here()
    if link not in here.names():
        raise OTraceError(f"{name}: no {'older' if link == vfs.DOWN else 'newer'} stack frame")
    session.chdir(session.cwd + [link])
    return ""


@command("up", "up                        # Move up the stack frames of a trace context (to a newer frame, cd __up)")
def up(session, call):
    return _frame_step(session, vfs.UP, "up")


@command("dn", "dn                        # Move down the stack frames of a trace context (to an older frame, the caller; cd __down)")
def dn(session, call):
    return _frame_step(session, vfs.DOWN, "dn")
