"""trace/untrace/tag/untag and view/edit/unpatch against the real core tracer and patcher."""

import re
import time

import pytest

from otrace_server.core import tags
from tests.shell.helpers import out


def test_trace_records_exception_context(session, engine, app):
    assert out(session, "trace Receive.respond") == "Tracing Receive.respond"
    assert engine.settings.trace_active
    assert out(session, "trace") == "Receive.respond"
    try:
        app["Receive"]().respond(0)
    except ZeroDivisionError:
        pass
    assert session.execute("ls ~~").output.startswith("/osh/recent/exceptions/Receive.respond/ex-ZeroDivisionError/")
    session.execute("cd ~~")
    assert session.execute("number").output == "0"
    assert out(session, "cd /osh/globals") == ""
    assert out(session, "untrace Receive.respond") == "untraced Receive.respond"
    assert out(session, "trace") == "nothing traced"


def test_trace_options(session, engine, app):
    assert out(session, "trace -c call -n 2 helper") == "Tracing -c call -n 2 helper"
    assert out(session, "trace -a break GetHandler.get") == "Tracing -a break GetHandler.get"
    assert out(session, "trace").splitlines() == ["-a break GetHandler.get", "-c call -n 2 helper"]
    app["helper"](1)
    assert engine.store.latest().id.startswith("helper:tr-")
    for bad in ("trace -a fly helper", "trace -n x helper", "trace -c", "trace -q helper", "trace nosuch",
                "trace -a hold helper", "trace a b"):
        r = session.execute(bad)
        assert r.error and "\n" not in r.output, bad
    assert out(session, "untrace all") == "untraced all" and out(session, "trace") == "nothing traced"


def test_trace_relative_and_star(session, engine):
    session.execute("cd Receive")
    assert out(session, "trace respond") == "Tracing Receive.respond"
    assert set(out(session, "trace *").splitlines()) == {"Tracing Receive.inherited", "Tracing Receive.respond"}
    assert {s.name for s in engine.tracer.traced()} == {"Receive.inherited", "Receive.respond"}
    out(session, "untrace *")
    assert engine.tracer.traced() == []
    session.execute("cd /osh/recent")
    assert session.execute("trace x").output.startswith("must be in /osh/globals")


def test_tag_untag(session, app):
    from otrace_server.core import tags

    assert out(session, "tag receiver mytag") == "tagged mytag"
    assert tags.get_tag(app["receiver"]) == "mytag"
    assert out(session, "untag receiver") == "untagged mytag" and tags.get_tag(app["receiver"]) is None
    session.execute("cd receiver")
    out(session, "tag")
    assert tags.get_tag(app["receiver"]) is not None
    assert session.execute("tag a b c").error


def test_view(session):
    text = out(session, "view helper")
    assert 'def helper(a, b=2):' in text and text.lstrip().split()[0].isdigit()
    assert out(session, "view -d helper") == "Add two numbers."
    assert out(session, "view -i Receive.respond").splitlines()[0].strip().endswith("def respond(self, number):")
    assert "class Receive(Base):" in out(session, "view receiver")      # an instance shows its class
    session.execute("cd Receive")
    assert out(session, "view -d") == "Receives numbers."
    assert session.execute("view -x helper").error
    assert session.execute("view nosuch").error


NEW_RESPOND = "def respond(self, number):\n    return 1 / max(number, 1)\n"


def test_edit_and_unpatch(session, app, tmp_path):
    assert "safe mode" in session.execute("edit Receive.respond", stdin=NEW_RESPOND).output
    session.execute("set safe_mode False")
    r = session.execute("edit Receive.respond")
    assert r.edit is not None and r.edit.name == "Receive.respond" and "def respond" in r.edit.source
    assert out(session, "edit Receive.respond", stdin=NEW_RESPOND) == "Patched Receive.respond"
    assert app["Receive"]().respond(0) == 1
    assert out(session, "ls /osh/patches/*") == "/osh/patches/Receive.respond"
    saved = tmp_path / "respond.patch"
    assert out(session, f"unpatch Receive.respond > {saved}") == "Unpatching Receive.respond"
    assert saved.read_text() == NEW_RESPOND
    assert app["Receive"]().respond(2) == 0.5
    src = tmp_path / "src.py"
    src.write_text(NEW_RESPOND)
    assert out(session, f"edit Receive.respond < {src}") == "Patched Receive.respond"
    assert out(session, "unpatch *") == "Unpatching Receive.respond"
    assert session.execute("unpatch Receive.respond").error
    assert session.execute("edit Receive.respond", stdin="def wrong(): pass").error


def test_trace_hold_action(session):
    assert out(session, "trace -a hold GetHandler.get") == "Tracing -a hold GetHandler.get"


def test_tag_default_is_the_object_id_as_the_help_says(session, app):
    receiver = app["receiver"]
    assert "default tag: id(object)" in out(session, "help tag")
    assert out(session, "tag receiver") == f"tagged 0x{id(receiver):x}"      # was the constant "tag"
    assert tags.get_tag(receiver) == f"0x{id(receiver):x}"
    assert out(session, "tag receiver id") == f"tagged 0x{id(receiver):x}"
    before = time.strftime("%H-%M-%S")
    label = out(session, "tag receiver time").removeprefix("tagged ")
    assert re.fullmatch(r"\d\d-\d\d-\d\d", label) and before <= label <= time.strftime("%H-%M-%S")
    assert tags.get_tag(receiver) == label


def test_untag_of_an_untagged_object_says_so(session, app):
    out(session, "tag receiver mine")
    assert out(session, "untag receiver") == "untagged mine"
    r = session.execute("untag receiver")                                       # was "untagged" again
    assert r.error and r.output == "untag: receiver is not tagged"


def test_view_of_a_work_directory_file(session, tmp_path):
    session.shell.work_dir = str(tmp_path)
    (tmp_path / "notes.trc").write_text("set trace_active True\nls\n")
    assert out(session, "view ~~w/notes.trc") == "    1  set trace_active True\n    2  ls"   # was "no source for str"
    r = session.execute("view ~~w/missing.trc")
    assert r.error and r.output == f"view: cannot read {tmp_path}/missing.trc: No such file or directory"
    assert out(session, "view /osh/../" + str(tmp_path / "notes.trc").lstrip("/")).startswith("    1  set")


def test_edit_and_unpatch_redirect_without_a_file_name_name_the_command(session):
    session.execute("set safe_mode False")
    r = session.execute("edit helper <")                       # was "missing file name after <"
    assert r.error and r.output == "edit: missing file name after <"
    session.execute("edit helper", stdin="def helper(a, b=2):\n    return a * b")
    r = session.execute("unpatch helper >")
    assert r.error and r.output == "unpatch: missing file name after >"
    assert out(session, "unpatch helper") == "Unpatching helper"


@pytest.mark.parametrize("line, condition, matching", [   # the quoting rule of shell.options
    ("trace -c a==77 helper", "a==77", 77),                          # otrace's form, unquoted
    ("trace -c 'a==77' helper", "a==77", 77),                        # quoted: quotes removed once
    ('trace -c "a == 77" helper', "a == 77", 77),
    ("trace -c a == 77 helper", "a == 77", 77),                      # spaces: up to the name
    ("trace -c a==77,b==2 helper", "a==77,b==2", 77),
    ('trace -c "a == 77, b == 2" helper', "a == 77, b == 2", 77),
    ("trace -c a=='x y' helper", "a=='x y'", "x y"),                  # the literal's quotes kept
    ("trace -c \"a=='x, y'\" helper", "a=='x, y'", "x, y"),
    ('trace -c a=="-n" -n 5 helper', 'a=="-n"', "-n"),               # an option word in quotes is text
    ("trace -n 5 -c a == 77 helper", "a == 77", 77),
    ("trace -a break -c a==77 helper", "a==77", None),
])
def test_trace_condition_quoting_rule(session, engine, app, line, condition, matching):
    assert out(session, line).startswith("Tracing ")
    (spec,) = engine.tracer.traced()
    assert spec.condition == condition and spec.name == "helper"
    if matching is not None:
        before, b = engine.store.latest(), (2 if matching == 77 else "")
        app["helper"](78 if matching == 77 else "other", b)
        assert engine.store.latest() is before
        app["helper"](matching, b)
        assert engine.store.latest() is not before and engine.store.latest().id.startswith("helper:")
    out(session, "untrace all")


def test_trace_options_and_name_errors(session, engine):
    assert out(session, "trace -a 'break' -n '-2' helper") == "Tracing -a break -n -2 helper"
    out(session, "untrace all")
    for bad, message in [("trace -c call", "trace: specify what to trace (the name comes last)"),
                         ("trace helper -c call", "trace: options come before the name"),
                         ("trace -c 'a==1 helper", "trace: no closing quotation"),
                         ("trace -c -n 2 helper", "trace: -c needs a value"),
                         ("trace -q helper", "trace: unknown option -q")]:
        r = session.execute(bad)
        assert r.error and r.output.startswith(message) and "\n" not in r.output, (bad, r.output)
    assert engine.tracer.traced() == []


def test_help_of_trace_and_resume_states_the_quoting_rule(session):
    from otrace_server.shell.options import RULE

    for name in ("trace", "resume"):
        assert RULE in out(session, f"help {name}")
