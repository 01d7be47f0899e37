"""Evaluating code in the current directory's namespace: pr (default command), exec / ``!``, run.

Thread-safety: runs on the caller's thread (``run`` too, for now: a later runtime may route it to
the application's thread); the code touches the application's objects directly.
"""

from __future__ import annotations

import inspect
import shlex

from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import exception_text, is_instance
from otrace_server.shell import vfs
from otrace_server.shell.commands.errors import application_errors
from otrace_server.shell.evaluation import evaluate, execute, format_value
from otrace_server.shell.paths import join_path
from otrace_server.shell.registry import command

__all__: list[str] = []


@command("pr", "pr python_expression      # Print value of expression (DEFAULT COMMAND)",
         """The command prefix "pr" may be omitted, and is assumed by default.
The expression is evaluated in the current directory: /osh/globals (the globals), a class or
instance (its attributes, globals behind), a trace context (its locals, the function's module
globals behind). With safe_mode True, calls and assignments are refused; use exec for statements.
"pr /osh/path" prints the entry at that path (for a virtual directory such as /osh/recent or a
trace context: its "ls -l" listing).""", raw=True)
def pr(session, call):
    text = call.raw.strip()
    if text.startswith(("/osh/", "~~")) and " " not in text:
        value = session.lookup(text)
        if is_instance(value, vfs.Dir):   # a directory of /osh: its object, or else its ls -l
            if value.value is None:
                from otrace_server.shell.commands.listing import list_entries
                return list_entries(session, ["-l", join_path(session.abspath(text))])
            value = value.value
        with application_errors("pr"):   # a value whose __class__ raises
            return format_value(value, session.settings.pretty_print, session.settings.safe_mode)
    if not text:
        raise OTraceError("pr: nothing to evaluate")
    g, loc = session.here().namespace(session.shell)
    with application_errors("pr"):   # the value's code, also while reporting its own exception
        value = evaluate(text, g, loc, safe=session.settings.safe_mode)
        return format_value(value, session.settings.pretty_print, session.settings.safe_mode)


@command("exec", "exec python_code          # Execute python code (also !python_code)",
         """Runs statements in the current directory's namespace (see pr); print() output and the
value of a final expression are shown. A here-document (stdin) is appended as more lines.""",
         raw=True, changes_state=True, unsafe=True)
def exec_(session, call):
    code = call.raw
    if call.stdin:
        code = (code + "\n" if code.strip() else "") + call.stdin
    if not code.strip():
        raise OTraceError("exec: nothing to execute")
    g, loc = session.here().namespace(session.shell)
    audit.record("exec", code=code, cwd=session.cwd_text)
    with application_errors("exec"):   # the shown value's code, also while reporting its own exception
        return execute(code, g, loc)


@command("run", "run function [args ...]   # Call a function of the current directory with literal arguments",
         """Arguments are Python literals (strings may be unquoted words). The call happens in the
shell's thread (the caller of execute), not the application's thread.""",
         raw=True, changes_state=True, unsafe=True)
def run(session, call):
    try:
        words = shlex.split(call.raw)
    except ValueError as exc:
        raise OTraceError(f"run: {exc}") from None
    if not words:
        raise OTraceError("run: specify a function")
    func = session.lookup(words[0])
    if not callable(func):
        raise OTraceError(f"run: {words[0]} is not callable")
    import ast
    args = []
    for word in words[1:]:
        try:
            args.append(ast.literal_eval(word))
        except (ValueError, SyntaxError):
            args.append(word)
    audit.record("call", function=words[0], args=words[1:], cwd=session.cwd_text)
    try:
        value = func(*args)
        if inspect.isawaitable(value):
            close = getattr(value, "close", None)
            if close is not None:
                close()
            raise OTraceError(f"run: {words[0]} is a coroutine function; it must run on the application's loop")
    except OTraceError:
        raise
    except Exception as exc:
        raise OTraceError(exception_text(exc)) from None
    return format_value(value, session.settings.pretty_print)
