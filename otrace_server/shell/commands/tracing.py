"""Tracing and tagging: trace, untrace, tag, untag (over core.tracer and core.tags).

Names are resolved like otrace: relative to the current directory inside /osh/globals or
/osh/locals (``trace respond`` in /osh/globals/Receive traces ``Receive.respond``), or absolute
(``/osh/globals/Receive.respond``). Thread-safety: the tracer and tags are thread-safe (core).
"""

from __future__ import annotations

import inspect
import time
import types

from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import is_instance
from otrace_server.shell.commands.errors import application_errors, one_argument
from otrace_server.shell.options import RULE, parse_options, text_of
from otrace_server.shell.registry import command
from otrace_server.shell.result import Result

__all__ = ["TRACE_ACTIONS", "format_spec", "qualify_name"]

TRACE_ACTIONS = ("break", "hold", "tag")
_TRACE_OPTIONS = ("-a", "-c", "-n")

_TRACE_HELP = """-a break|hold|tag   action when the trace condition matches:
     break => stop the calling thread until the resume command
     hold  => hold this request (async functions only) until resume; the loop keeps serving
     tag   => tag the self argument on return with a string describing the matched conditions
-c call|return|all|tagged[argname]|arg.attr==v,arg2!=w,return>5   condition to match:
     call => before the call, return => after it returns, all => both,
     tagged[argname] => a (or the named) argument is tagged,
     comparisons => argument/attribute/return values, Python literals (quote strings: name=='joe')
-n +/-count   count > 0: stop tracing after count matches; count < 0: start after -count matches
Without -c only exceptions are traced. "trace" alone lists traced names; "trace *" traces every
function and method of the current directory. Tracing activates trace_active.
""" + RULE + """
Examples:  trace -c a==77 f    trace -c "a == 77" f    trace -c a == 77, name=='x y' f    trace -n -2 f"""


def qualify_name(session, name: str) -> tuple[str, dict]:
    """(dotted name, namespace) for the tracer and the patcher: ``name`` relative to the cwd in
    /osh/globals or /osh/locals, or absolute (``/osh/globals/mod/func``); OTraceError elsewhere."""
    for area in ("globals", "locals"):
        prefix = f"/osh/{area}/"
        if name.startswith(prefix):
            dotted = name[len(prefix):].replace("/", ".")
            return dotted, session.shell.globals if area == "globals" else session.shell.locals
    if session.area not in ("globals", "locals"):
        raise OTraceError("must be in /osh/globals or /osh/locals (or give /osh/globals/name) to trace")
    namespace = session.shell.globals if session.area == "globals" else session.shell.locals
    dotted = ".".join(session.cwd[2:] + [name.replace("/", ".")])
    return dotted, namespace


def format_spec(spec) -> str:
    """otrace's listing of a trace: ``[-a action] [-c condition] [-n count] name``."""
    opts = []
    if spec.action:
        opts.append(f"-a {spec.action}")
    if spec.condition:
        opts.append(f"-c {spec.condition}")
    if spec.count:
        opts.append(f"-n {spec.count}")
    return " ".join(opts + [spec.name])


def _tracer(session):
    tracer = getattr(session.shell.engine, "tracer", None)
    if tracer is None:
        raise OTraceError("tracing is not available (no tracer)")
    return tracer


def _traceable(value) -> bool:
    return is_instance(value, (types.FunctionType, types.MethodType, staticmethod, classmethod))


@command("trace", "trace [-a break|hold|tag] [-c condition] [-n +/-count] ([class.]method|function|*)   # Trace calls",
         _TRACE_HELP, raw=True, changes_state=True)
def trace(session, call):
    parsed = parse_options("trace", call.raw, _TRACE_OPTIONS, name_last=True)
    for word in parsed.operands:
        if word.startswith("-") and word != "-" and not word[1:].isdigit():
            raise OTraceError(f"trace: unknown option {word} (-a, -c, -n)")
    if parsed.values and parsed.operands:
        raise OTraceError("trace: options come before the name (trace [-a ...] [-c ...] [-n ...] name)")
    args = parsed.operands + ([text_of(parsed.last)] if parsed.last is not None else [])
    action = text_of(parsed.values["-a"]) if "-a" in parsed.values else None
    condition = text_of(parsed.values["-c"]) if "-c" in parsed.values else None
    count = None
    if action is not None and action not in TRACE_ACTIONS:
        raise OTraceError(f"trace: -a expects one of {', '.join(TRACE_ACTIONS)}, got {action!r}")
    if "-n" in parsed.values:
        value = text_of(parsed.values["-n"])
        try:
            count = int(value)
        except ValueError:
            raise OTraceError(f"trace: -n expects an integer, got {value!r}") from None
    tracer = _tracer(session)
    if not args:
        if action or condition or count is not None:
            raise OTraceError("trace: specify what to trace (the name comes last)")
        specs = tracer.traced()
        names = [format_spec(s) for s in specs]
        return Result("\n".join(names) or "nothing traced", data={"traced": names})
    if len(args) > 1:
        raise OTraceError(f"trace: one name at a time (got {' '.join(args)})")
    names = [args[0]]
    if args[0] == "*":
        here = session.here()
        names = []
        for n in here.names():
            if n.startswith("__") and n.endswith("__"):
                continue
            try:
                raw = inspect.getattr_static(here.value, n) if here.value is not None and not is_instance(here.value, dict) else here.get(n)
            except Exception:
                continue
            if _traceable(raw):
                names.append(n)
        if not names:
            raise OTraceError("trace *: no functions or methods here")
    done = []
    for name in names:
        dotted, namespace = qualify_name(session, name)
        spec = tracer.trace(dotted, namespace=namespace, condition=condition, action=action, count=count)
        audit.record("trace", name=spec.name, condition=condition, on_match=action, count=count)
        done.append(format_spec(spec))
    session.settings.set("trace_active", True)
    return Result("\n".join(f"Tracing {d}" for d in done), data={"traced": done})


@command("untrace", "untrace ([class.]method|function|*|all)   # Stop tracing",
         '"*" untraces everything traced under the current directory, "all" everything.', changes_state=True)
def untrace(session, call):
    name = one_argument(call, "one name, * or all")
    tracer = _tracer(session)
    if name == "all":
        gone = [s.name for s in tracer.untrace_all()]
        if gone:
            audit.record("untrace", names=gone)
        return Result("untraced all", data={"untraced": ["all"]})
    if name == "*":
        prefix, namespace = qualify_name(session, "x")
        prefix = prefix[:-2] if prefix.endswith(".x") else ""
        gone = []
        for spec in tracer.traced():
            spec_name = spec.name
            if not prefix or spec_name.startswith(prefix + ".") or spec_name == prefix:
                tracer.untrace(spec_name, namespace=namespace)
                gone.append(spec_name)
        if gone:
            audit.record("untrace", names=gone)
        return Result("\n".join(f"untraced {g}" for g in gone) or "nothing traced here", data={"untraced": gone})
    dotted, namespace = qualify_name(session, name)
    tracer.untrace(dotted, namespace=namespace)
    audit.record("untrace", names=[dotted])
    return Result(f"untraced {dotted}", data={"untraced": [dotted]})


def _tag_target(session, args: list[str]):
    if not args or args[0] == ".":
        ctx = session.context_here()
        if ctx is not None:
            here = session.here()
            if "self" not in here.names():
                raise OTraceError("no self object to tag in this trace context")
            return here.get("self")
        value = session.here().value
        if value is None:
            raise OTraceError("nothing to tag here; name an object")
        return value
    return session.lookup(args[0])


def _tag_name(session, args: list[str]) -> str:
    """The object of ``tag``/``untag`` as the audit line names it: its path as typed, else the
    current directory (never the object's repr, which would run its code)."""
    return args[0] if args and args[0] != "." else session.cwd_text


def _tag_label(obj, word: str) -> str:
    """The tag text for ``tag obj word``: ``id`` -> the object's id in hex (``0x7f...``),
    ``time`` -> the current time (``HH-MM-SS``, as in trace ids), else ``word`` itself."""
    if word == "id":
        return f"0x{id(obj):x}"
    if word == "time":
        return time.strftime("%H-%M-%S")
    return word


@command("tag", "tag [(object|.) [tag_str|id|time]]    # Tag an object for tracing (default tag: id(object))",
         """Tagged objects can be traced with 'trace -c tagged'. In a trace context, '.' is its self.
The tag "id" (the default) is the object's id in hex (0x7f...), "time" the current time (HH-MM-SS);
any other word is the tag itself.""", changes_state=True)
def tag(session, call):
    if len(call.args) > 2:
        raise OTraceError("tag: too many arguments")
    from otrace_server.core import tags

    obj = _tag_target(session, call.args)
    label = _tag_label(obj, call.args[1] if len(call.args) > 1 else "id")
    with application_errors("tag"):
        got = tags.tag(obj, label)
    text = str(got if got is not None else tags.get_tag(obj))
    audit.record("tag", object=_tag_name(session, call.args), tag=text)
    return Result(f"tagged {text}", data={"tag": text})


@command("untag", "untag [object|.]          # Remove the tag of an object", changes_state=True)
def untag(session, call):
    if len(call.args) > 1:
        raise OTraceError("untag: too many arguments")
    from otrace_server.core import tags

    obj = _tag_target(session, call.args)
    with application_errors("untag"):
        old = tags.untag(obj)
    if old is None:
        raise OTraceError(f"untag: {call.args[0] if call.args else 'this object'} is not tagged")
    audit.record("untag", object=_tag_name(session, call.args), tag=str(old))
    return Result(f"untagged {old}", data={"tag": old})
