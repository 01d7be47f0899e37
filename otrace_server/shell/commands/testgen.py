"""testgen: a pytest test from a recorded trace context (``shell.testgen`` writes it).

Thread-safety: reads the engine's thread-safe store and the live function; writes the file (when
asked) on the caller's thread.
"""

from __future__ import annotations

import os

from otrace_server.core import audit
from otrace_server.core.context import TraceContext
from otrace_server.core.errors import OTraceError
from otrace_server.core.policy import require_unsafe
from otrace_server.shell import vfs
from otrace_server.shell.commands.code import file_path, split_redirect
from otrace_server.shell.context_dirs import ContextDir
from otrace_server.shell.registry import command
from otrace_server.shell.result import Result
from otrace_server.shell.testgen import generate

__all__ = ["context_named"]

_HELP = """context: a trace id, or the path of a context (~~, /osh/recent/exceptions/...); default: the
context the current directory is in, else the most recent one (~~).
The test rebuilds the call with the recorded arguments and asserts the recorded outcome (the
exception type and message, or the return value): it pins what the code DID (its docstring says
so: a fix flips the assertion). Arguments whose repr round-trips are written literally; an object
is rebuilt from its recorded attributes only where that is faithful; anything else is a fixture
stub whose TODO fails the test until it is written. A context without an outcome (a hold, a
break, an assert, a call) gets a failing TODO in place of the assertion.
"> file" writes the test to a new file (refused in safe mode: it writes a file; audited);
without it the test is the output."""


def context_named(session, text: str | None) -> TraceContext:
    """The trace context ``text`` names (a trace id or a context's path; None: the one the cwd is
    in, else the most recent); OTraceError when there is none."""
    if text is None:
        here = session.context_here()
        ctx = here.ctx if here is not None else session.shell.engine.store.latest()
        if ctx is None:
            raise OTraceError("testgen: no trace context recorded yet (name one: testgen ID|PATH)")
        return ctx
    if text.startswith(("/", "~")) or "/" in text:
        parts = session.abspath(text)
        node = vfs.resolve(session.shell, parts[:6]) if len(parts) >= 6 and parts[0] == vfs.BASE else None
        if not isinstance(node, ContextDir):
            raise OTraceError(f"testgen: not a trace context: {text}")
        return node.ctx
    return session.shell.engine.store.find(text)


@command("testgen", "testgen [context] [> file]   # A pytest test that replays a recorded call and asserts its outcome",
         _HELP)
def testgen(session, call):
    args, outfile = split_redirect(list(call.args), ">", "testgen")
    if len(args) > 1:
        raise OTraceError("testgen: one context at a time")
    ctx = context_named(session, args[0] if args else None)
    test = generate(ctx, work_dir=session.shell.work_dir)
    data = {"traceId": ctx.id, "suggestedName": test.suggested_name, "literal": test.literal,
            "rebuilt": test.rebuilt, "todo": test.todo}
    if outfile is None:
        return Result(test.text.rstrip("\n"), data=data)
    require_unsafe(session.settings, "testgen > file", "it writes a file")
    path = file_path(session, outfile)
    if os.path.isdir(path):
        path = os.path.join(path, test.suggested_name)
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(test.text)
    except FileExistsError:
        raise OTraceError(f"testgen: {path} exists already: choose another file name") from None
    except OSError as exc:
        raise OTraceError(f"testgen: cannot write {path}: {exc.strerror}") from None
    audit.record("testgen", file=path, context=ctx.id)
    todo = "".join(f"\n  TODO: {t}" for t in test.todo)
    return Result(f"Wrote {path} (a test of {ctx.funcname}){todo}", data={**data, "file": path})
