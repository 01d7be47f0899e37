"""What the shell tests share: ``out`` runs a line that must succeed and returns its output;
``record`` records an exception context; ``hold`` holds a real request on the test's loop."""

from __future__ import annotations

import asyncio

from otrace_server.core.context import TraceContext

__all__ = ["out", "record", "hold"]


def out(session, line: str, stdin: str | None = None) -> str:
    """The output of ``session.execute(line)``; the test fails (showing the output) on an error."""
    r = session.execute(line, stdin=stdin) if stdin is not None else session.execute(line)
    assert not r.error, r.output
    return r.output


def record(engine, funcname="Receive.respond", ctype="exceptions", label="ZeroDivisionError", **kw):
    """Record (and return) an exception context of ``funcname``, as the tracer would."""
    ctx = TraceContext(ctype, label, funcname, "exception", {"number": 0}, {"number": 0, "self": None}, [], -1, **kw)
    return engine.record(ctx)


def hold(engine, loop, wait):
    """Hold ``GetHandler().get("77")`` on ``loop``: (its future, the hold), once it is held."""
    from tests.shell.conftest import GetHandler

    before = len(engine.holds)
    future = asyncio.run_coroutine_threadsafe(GetHandler().get("77"), loop)
    wait(lambda: len(engine.holds) == before + 1)
    return future, engine.holds.list()[-1]
