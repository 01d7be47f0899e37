"""Hostile application objects (tests/support/hostile.py) against every shell command that takes a
path or an expression, with safe_mode on and off: each command answers with a result or a one-line
error, never "internal error", its output stays bounded, and the session keeps working after.
The same objects as locals of a trace context, in completion, and in core's resolve and tags."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otrace_server.core import tags, targets
from otrace_server.core.context import TraceContext
from otrace_server.core.engine import Engine
from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import exception_text, is_class, is_instance, type_name
from otrace_server.core.reprs import safe_repr
from otrace_server.shell import Shell
from otrace_server.shell.result import MAX_OUTPUT
from tests.support.hostile import BadStr, make_zoo

ZOO_NAMES = sorted(make_zoo())

#: commands naming the object ({n}); after "cd {n}" the same commands run without a name
NAMED = ["ls {n}", "ls -l {n}", "ls -a {n}", "ls -la {n}", "ls -c {n}", "ls -f {n}", "ls -m {n}", "ls -t {n}",
         "ls -v {n}", "ls {n}/", "ls -l {n}/", "ls -lacfmtv {n}/", "ls -{n}", "ls -.{n}", "ls {n}/*", "ls {n}.*",
         "pr {n}", "{n}", "pr {n}.x", "pr {n}.__class__", "pr {n}.__wrapped__", "pr {n}.__dict__",
         "pr /osh/globals/{n}", "pr /osh/globals/{n}/x", "pr [{n}]", "pr {{'k': {n}}}", "pr {n} is None",
         "view {n}", "view -d {n}", "view -i {n}", "view -d -i {n}", "view {n}.x", "view -d {n}.__wrapped__",
         "trace {n}", "trace {n}.method", "trace {n}.x.y", "trace -c call {n}", "trace -a tag {n}.__call__",
         "untrace {n}", "untrace {n}.method", "tag {n}", "tag {n} time", "untag {n}", "untag {n}",
         "edit {n}", "edit {n}.method", "unpatch {n}", "rm {n}/x", "run {n}", "exec {n}", "!{n}.x = 1",
         "cdls {n}", "pushd {n}", "popd", "cd {n}; ls -l", "cd /osh/globals"]
INSIDE = ["ls", "ls -l", "ls -a", "ls -la", "ls -c", "ls -f", "ls -m", "ls -t", "ls -v", "ls -.", "ls -..",
          "ls -l *", "pwd", "pwd -a", "up", "dn", "view", "view -d", "view -i", "pr __class__", "pr x",
          "x", "tag", "untag", "tag .", "trace *", "untrace *", "ls -l __class__", "cd __class__", "cd ..",
          "cd __wrapped__", "cd __dict__", "cd 0", "cd ..", "cd /osh/globals"]
COMPLETED = ["ls {n}", "ls {n}.", "ls {n}/", "ls {n}/_", "ls {n}.__", "cd {n}/", "cd {n}.", "trace {n}.",
             "pr {n}.", "view {n}.", "tag {n}", "{n}.", "{n}/a"]


def check(result, line: str) -> None:
    """The answer every command owes: a result or one line of error, never "internal error",
    never more than the shell's output limit."""
    assert isinstance(result.output, str), line
    assert "internal error" not in result.output, (line, result.output[:300])
    assert len(result.output) <= MAX_OUTPUT + 200, (line, len(result.output))
    if result.error:
        assert result.output.strip() and "\n" not in result.output, (line, result.output[:300])


def still_works(session) -> None:
    """The session answers ordinary commands after the hostile ones."""
    for line, want in (("cd /osh/globals", ""), ("pr 1 + 1", "2"), ("pwd", "/osh/globals")):
        r = session.execute(line)
        assert not r.error and r.output == want, (line, r.output)
    assert "ordinary" in session.execute("ls").output


@pytest.fixture(scope="module")
def zoo_shell():
    engine = Engine()
    engine.install_crossing(lambda loop, fn: loop.call_soon_threadsafe(fn))
    zoo = make_zoo()
    shell = Shell(engine, {"__name__": "hostile_app", "ordinary": 1, **zoo})
    shell.unix_commands = False   # "cd .." out of /osh: lines are refused, not run by /bin/sh
    yield shell
    engine.holds.resume_all()
    engine.tracer.untrace_all()
    engine.patcher.unpatch_all()


@pytest.mark.parametrize("safe", [True, False], ids=["safe", "unsafe"])
@pytest.mark.parametrize("name", ZOO_NAMES)
def test_every_command_on_a_hostile_object(zoo_shell, name, safe):
    zoo_shell.engine.settings.set("safe_mode", safe)
    session = zoo_shell.session("hostile")
    for template in NAMED:
        line = template.format(n=name)
        check(session.execute(line), line)
    if not session.execute(f"cd {name}").error:
        for line in INSIDE:
            check(session.execute(line), f"cd {name}; {line}")
    for template in COMPLETED:
        line = template.format(n=name)
        for cursor in sorted({len(line), len(line) - 1, len(line) // 2, line.find(" ") + 1, 0}):
            words = session.complete(line, cursor)
            assert isinstance(words, list) and all(isinstance(w, str) for w in words), line
            assert len(words) <= 100_000
    zoo_shell.engine.tracer.untrace_all()
    still_works(session)


def test_listing_every_hostile_object_at_once(zoo_shell):
    """``ls -l`` in the globals shows each hostile object in its line (or its error) and the rest."""
    zoo_shell.engine.settings.set("safe_mode", True)
    session = zoo_shell.session("listing")
    for flags in ("", "-l", "-la", "-c", "-f", "-m", "-v", "-t", "-lt"):
        r = session.execute(f"ls {flags}")
        check(r, f"ls {flags}")
        assert not r.error and ("ordinary" in r.data["entries"]) == (flags not in ("-c", "-f", "-m"))
    text = session.execute("ls -l").output
    assert "repr_raises" in text and "<unrepresentable ReprRaises: repr refused>" in text
    assert "<unrepresentable ReprBadStr: <unprintable message>>" in text
    classes = session.execute("ls -c").data["entries"]
    assert "AnsweringClass" in classes and "class_lies" not in classes   # by the real type, not __class__


def test_a_hostile_dict_key_and_set_are_listed(zoo_shell):
    session = zoo_shell.session("keys")
    assert session.execute("ls hostile_key/").data["entries"] == ["<unrepresentable HostileKey: key str>", "fine"]
    assert session.execute("pr /osh/globals/hostile_key/fine").output == "2"
    r = session.execute("cd hostile_set")
    check(r, "cd hostile_set")
    check(session.execute("ls -l"), "ls -l in hostile_set")


def test_view_answers_a_getattr_that_answers_everything(zoo_shell):
    """The issue's example: ``view`` on an object whose ``__getattr__`` answers every name shows
    its class's source (not ``internal error: TypeError``)."""
    session = zoo_shell.session("view")
    for name in ("answers_everything", "answers_self", "answers_int"):
        r = session.execute(f"view {name}")
        assert not r.error and "def __getattr__(self, name):" in r.output, r.output
    assert session.execute("view -d answers_everything").output.startswith("``__getattr__`` answers every name")
    r = session.execute("view -d -i answers_self")            # "-d -i" used to loop forever
    assert not r.error and "answers every name with the object itself" in r.output


def test_trace_and_tag_refuse_hostile_objects_in_one_line(zoo_shell):
    zoo_shell.engine.settings.set("safe_mode", False)
    session = zoo_shell.session("trace")
    r = session.execute("trace answers_everything")
    assert r.error and r.output == "answers_everything is a AnswersEverything, not a Python function or method"
    r = session.execute("trace raising_instance.method")
    assert r.error and "RaisingClass instance" in r.output
    r = session.execute("tag huge_int")
    assert r.error and r.output == "cannot tag int objects (no attributes, no weak references)"
    assert session.execute("tag class_raises").output.startswith("tagged 0x")
    assert session.execute("untag class_raises").output.startswith("untagged 0x")


# ---- a trace context whose locals are the zoo ----------------------------------------------------

def test_a_trace_context_with_hostile_locals(zoo_shell):
    zoo = make_zoo()
    for safe in (True, False):
        ctx = zoo_shell.engine.record(TraceContext("exceptions", "RuntimeError", "hostile.handler", "exception",
                                                   {"arg": zoo["repr_raises"]}, zoo, [], -1,
                                                   exc_type="RuntimeError", exc_message="boom"))
        zoo_shell.engine.settings.set("safe_mode", safe)
        session = zoo_shell.session("context")
        assert not session.execute("cd ~~").error
        for line in ["ls", "ls -l", "ls -la", "ls -c", "ls -f", "ls -v", "ls -l __trc", "pr __trc",
                     "view", "view -d", "pwd", "up", "dn", "tag", "untag", "save", "cd ..", "ls -l"]:
            check(session.execute(line), line)
        assert not session.execute(f"cd /osh/saved/exceptions/hostile.handler").error
        for name in sorted(zoo):
            check(session.execute(f"cd /osh/recent/exceptions/hostile.handler/*/*/{name}; ls -l"), name)
            check(session.execute(f"pr /osh/recent/exceptions/hostile.handler/*/*/{name}"), name)
        assert zoo_shell.engine.store.find(ctx.id) is ctx
        check(session.execute(f"del {ctx.id}"), "del")
        still_works(session)


# ---- property-based: sequences of commands over the zoo ------------------------------------------

_LINES = st.tuples(st.sampled_from(NAMED + INSIDE + COMPLETED), st.sampled_from(ZOO_NAMES))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_LINES, min_size=1, max_size=8), st.booleans(), st.integers(0, 40))
def test_any_sequence_of_commands_over_the_zoo(zoo_shell, lines, safe, cursor):
    zoo_shell.engine.settings.set("safe_mode", safe)
    session = zoo_shell.session("sequence")
    for template, name in lines:
        line = template.format(n=name)
        check(session.execute(line), line)
        assert all(isinstance(w, str) for w in session.complete(line, min(cursor, len(line))))
    zoo_shell.engine.tracer.untrace_all()
    still_works(session)


# ---- core: resolve, tags, objects ----------------------------------------------------------------

@pytest.mark.parametrize("name", ZOO_NAMES)
def test_resolve_and_tags_on_hostile_objects(name):
    zoo = make_zoo()
    for dotted in (name, f"{name}.method", f"{name}.x.y", f"{name}.__call__"):
        try:
            target = targets.resolve(dotted, zoo)
        except OTraceError as exc:
            assert "\n" not in str(exc)
        else:   # a real method of a class with a hostile metaclass
            assert dotted == "RaisingClass.method" and target.kind == "method"
    assert targets.untraced(zoo[name]) is zoo[name]
    before = tags.get_tag(zoo[name])          # what traced calls ask: never raises
    assert before is None or isinstance(before, str)
    try:
        tags.tag(zoo[name], "t")
    except OTraceError:
        assert is_instance(zoo[name], (int, list, dict))   # no attributes, no weak references
    else:
        assert tags.untag(zoo[name]) in ("t", None)   # None: a __getattribute__ that hides the tag


def test_objects_helpers_never_run_the_objects_code():
    zoo = make_zoo()
    assert not is_instance(zoo["class_lies"], int) and not is_instance(zoo["class_raises"], dict)
    assert is_class(zoo["NamelessClass"]) and type_name(zoo["NamelessClass"]()) == "NamelessClass"
    assert exception_text(BadStr()) == "BadStr: <unprintable message>"
    assert safe_repr(zoo["repr_badstr"]) == "<unrepresentable ReprBadStr: <unprintable message>>"
    assert safe_repr(zoo["repr_not_string"]) == "<unrepresentable ReprNotString: __repr__ returned non-string (type int)>"


class _Exits:
    """A repr and a property that end the interpreter (or pretend to be Ctrl-C) when run."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __repr__(self) -> str:
        raise self.exc

    @property
    def prop(self):
        raise self.exc


def test_an_object_raising_systemexit_or_keyboardinterrupt_ends_no_front_end():
    """On a front end's thread (the console's, an LSP/DAP worker) an object's SystemExit or
    KeyboardInterrupt is that command's error: it must not end the console thread or a worker.
    (On the main thread a KeyboardInterrupt is the user's Ctrl-C and is let through.)"""
    import threading

    shell = Shell(Engine(), {"quits": _Exits(SystemExit(3)), "interrupts": _Exits(KeyboardInterrupt())})
    answers: list = []

    def front_end() -> None:
        session = shell.session("front")
        for line in ("ls -l", "pr quits", "set safe_mode False", "pr quits", "pr interrupts",
                     "pr quits.prop", "pr interrupts.prop", "ls -l", "pwd"):
            try:
                result = session.execute(line)
                answers.append((line, result.error, result.output))
            except BaseException as exc:   # the defect: the thread would end here
                answers.append((line, "raised", type(exc).__name__))

    thread = threading.Thread(target=front_end)
    thread.start()
    thread.join(30)
    assert [a for a in answers if a[1] == "raised"] == []
    shown = dict((line, output) for line, _, output in answers)
    assert "quits" in shown["ls -l"] and "<unrepresentable _Exits: 3>" in shown["ls -l"]
    assert shown["pr interrupts"] == "<unrepresentable _Exits: >"
    assert shown["pr quits.prop"] == "pr: SystemExit: 3" and shown["pr interrupts.prop"] == "pr: KeyboardInterrupt"
    assert shown["pwd"] == "/osh/globals"
