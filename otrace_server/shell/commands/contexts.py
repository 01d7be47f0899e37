"""Trace contexts: resume (holds and breaks), save, del, unpickle.

Thread-safety: the engine's store and hold registry are thread-safe; resuming only schedules the
held code's continuation (through the resolver the hold was created with).
"""

from __future__ import annotations

from typing import Any

from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server.core.holds import Outcome
from otrace_server.core.outcomes import outcome_from
from otrace_server.shell.commands.errors import application_errors, one_argument
from otrace_server.shell.evaluation import evaluate
from otrace_server.shell.options import RULE, first_word, parse_options, quoted_text, text_of
from otrace_server.shell.paths import GLOBALS_PATH
from otrace_server.shell.registry import command
from otrace_server.shell.result import Result

__all__: list[str] = []

_RESUME_HELP = """resume                    resume the hold/break of the current trace context
resume id1 [id2 ...]      resume the holds/breaks with these trace ids
resume all                resume every hold and break
Outcome options (default: the held code simply continues; traceassert returns None):
  --value EXPR            continue, and "await traceassert(...)" returns the value of EXPR
  --raise EXPR            raise the exception EXPR (an Exception class or instance) in the held code
  --status N [reason]     answer the held request with HTTP status N, 200-599 (requests of Tornado,
                          aiohttp, Starlette/FastAPI; refused for others, e.g. a thread break)
The ids (or all) come before the options. EXPR is evaluated in the current directory (in safe
mode: no calls, so "--raise KeyError" works, "--raise KeyError('x')" needs safe_mode False).
SystemExit, KeyboardInterrupt and the like are refused (they would stop the application, not the
request). After resuming the current context the shell returns to /osh/globals.
""" + RULE + """
Examples: --value [1, {'k': 2}], --value "x y" (the string), --raise ValueError('no'),
--status 404 not found, --status 404 "not found", --status 409 'in use'."""


def _outcome(session, asked: dict[str, str]) -> Outcome:
    """The Outcome the options ask for (``core.outcomes.outcome_from``: its rules and messages),
    their values read by the rule of ``shell.options``: ``--value``/``--raise`` expressions
    evaluated in the current directory (a quoted value: that string), ``--status N [reason]`` as
    text."""
    given: dict[str, Any] = {}
    for option, value in asked.items():
        if option == "--status":
            status, reason = first_word(text_of(value))
            given["status"], given["reason"] = status, text_of(reason)
            continue
        text = quoted_text(value)
        if text is None:
            g, loc = session.here().namespace(session.shell)
            text = evaluate(value, g, loc, safe=session.settings.safe_mode)
        given[_OUTCOME_ARGUMENT[option]] = text
    try:
        return outcome_from(**given)
    except OTraceError as exc:
        raise OTraceError(f"resume: {exc}") from None


#: option -> its argument of ``outcome_from``
_OUTCOME_ARGUMENT = {"--value": "value", "--raise": "exception", "--status": "status"}
_RESUME_OPTIONS = tuple(_OUTCOME_ARGUMENT)


def _parse_resume(session, line: str) -> tuple[list[str], bool, Outcome]:
    """(trace ids, ``all`` given, the Outcome): the ids and ``all`` come before the options."""
    parsed = parse_options("resume", line, _RESUME_OPTIONS)
    ids: list[str] = []
    everything = False
    for word in parsed.operands:
        if word.startswith("-"):
            raise OTraceError(f"resume: unknown option {word} (--value, --raise, --status)")
        if word == "all":
            everything = True
        else:
            ids.append(word)
    return ids, everything, _outcome(session, parsed.values)


def _current_id(session, name: str) -> str:
    ctx = session.context_here()
    if ctx is None:
        raise OTraceError(f"{name}: not in a trace context; give trace ids")
    return ctx.ctx.id


def _nothing_named(engine) -> str:
    """The error for ``resume`` outside a context: says what is waiting and how to name it."""
    waiting = len(engine.holds)
    if not waiting:
        return "resume: not in a trace context, and nothing is held"
    newest = engine.holds.list()[-1].id
    return (f"resume: not in a trace context; {waiting} waiting, newest {newest} "
            f"(resume ID, resume all, or cd ~~ then resume)")


@command("resume", "resume [trace_id ...|all] [--value EXPR | --raise EXPR | --status N [reason]]   # Resume holds/breaks",
         _RESUME_HELP, raw=True, changes_state=True)
def resume(session, call):
    ids, everything, outcome = _parse_resume(session, call.raw)
    engine = session.shell.engine
    current = None
    if everything:
        holds = engine.resume(None, outcome)
    else:
        if not ids:
            if session.context_here() is None:
                raise OTraceError(_nothing_named(engine))
            current = _current_id(session, "resume")
            ids = [current]
        holds = engine.resume(ids, outcome)
    resumed = [h.id for h in holds]
    if current is not None:
        session.chdir(list(GLOBALS_PATH))
    text = "\n".join(f"Resuming {i}" for i in resumed) if resumed else "nothing to resume"
    return Result(text, data={"trace_ids": resumed})


def _for_each_context(session, call, verb: str, apply) -> list[str]:
    """Apply ``apply(trace_id)`` to the named contexts (default: the current one), after checking
    that every id exists, so a bad id changes nothing. Returns the ids."""
    ids = call.args or [_current_id(session, verb)]
    store = session.shell.engine.store
    for trace_id in ids:
        store.find(trace_id)
    for trace_id in ids:
        apply(trace_id)
    audit.record(verb, ids=ids)
    return ids


@command("save", "save [trace_id ...]       # Save the current (or the named) trace contexts to /osh/saved",
         "Saved contexts are never evicted by max_recent.", changes_state=True)
def save(session, call):
    ids = _for_each_context(session, call, "save", session.shell.engine.store.save)
    store = session.shell.engine.store
    if not call.args and session.area == "recent":
        ctx = store.find(ids[0])
        session.cwd = ["osh", "saved"] + ctx.path[1:] + session.cwd[6:]
    return Result("\n".join(f"saved {i}" for i in ids), data={"trace_ids": ids})


@command("del", "del [trace_id ...]        # Delete the current (or the named) trace contexts",
         "A context that is still held cannot be deleted: resume it first.", changes_state=True)
def delete(session, call):
    ids = _for_each_context(session, call, "del", session.shell.engine.store.delete)
    if not call.args:
        session.chdir(list(GLOBALS_PATH))
    return Result("\n".join(f"deleted {i}" for i in ids), data={"trace_ids": ids})


@command("unpickle", "unpickle file             # Load the trace contexts of a trace database into /osh/pickled",
         "The file is a trace database written with 'set pickle_file FILE'.")
def unpickle(session, call):
    name = one_argument(call, "one file")
    from otrace_server.core import tracedb

    path = session.abspath(name) if name.startswith("~~w") else None
    filename = "/" + "/".join(path) if path is not None else name
    with application_errors(f"unpickle: cannot read {filename}"):
        contexts = tracedb.load(filename)
    known = {c.id for c in session.shell.pickled}
    session.shell.pickled.extend(c for c in contexts if c.id not in known)
    return Result(f"loaded {len(contexts)} trace contexts from {filename} into /osh/pickled",
                  data={"trace_ids": [c.id for c in contexts]})
