"""One policy, audited where the effect happens: every command declares its policy where it is
registered; safe mode refuses with one message shape; each effect writes one audit line whatever
path led to it (a direct command, ``cd x; command``, an alias, ``repeat``, a ``source``d script),
naming the session's front end and client. Real engine, real holds on a real loop."""

from __future__ import annotations

import logging

import pytest

from otrace_server.core import audit
from otrace_server.shell.registry import COMMANDS, STATE_CHANGING, UNSAFE
from tests.shell.helpers import hold

REFUSED = "{}: refused in safe mode; set safe_mode False to allow it"


@pytest.fixture
def records(caplog):
    with caplog.at_level(logging.INFO, logger="otrace.audit"):
        yield lambda: [audit.parse(r.getMessage()) for r in caplog.records if r.name == "otrace.audit"]


def effects(records):
    return [(r["action"], r.get("ids") or r.get("names") or r.get("name")) for r in records()]


def test_policy_is_declared_at_registration():
    unsafe = sorted(n for n, c in COMMANDS.items() if c.unsafe)
    changing = sorted(n for n, c in COMMANDS.items() if c.changes_state)
    assert unsafe == ["debug", "edit", "exec", "rm", "run"]
    assert changing == ["debug", "del", "edit", "exec", "resume", "rm", "run", "save", "set", "tag",
                        "trace", "unpatch", "untag", "untrace"]
    assert COMMANDS["exec"].help.endswith(STATE_CHANGING + "\n" + UNSAFE)
    assert UNSAFE not in COMMANDS["unpatch"].help and UNSAFE not in COMMANDS["pr"].help


@pytest.mark.parametrize("line, what", [("exec x = 1", "exec"), ("!x = 1", "exec"), ("run helper 1", "run"),
                                        ("edit helper", "edit"), ("rm config/port", "rm"), ("debug", "debug")])
def test_safe_mode_refuses_unsafe_commands_before_they_run(session, app, records, line, what):
    result = session.execute(line)
    assert result.error and result.output == REFUSED.format(what)
    assert "x" not in app and app["config"]["port"] == 8888 and records() == []


def test_safe_mode_refuses_the_unix_pass_through_even_inside_an_alias(session, tmp_path, records):
    session.execute(f"alias mk cd {tmp_path}; touch made")
    for line in (f"cd {tmp_path}; touch made", "cd /osh/globals", "mk"):
        result = session.execute(line)
        assert result.error and result.output.startswith("Unix command: refused in safe mode") or line == "cd /osh/globals"
    assert not (tmp_path / "made").exists() and records() == []
    session.execute("cd /osh/globals; set safe_mode False")
    assert not session.execute("mk").error and (tmp_path / "made").exists()
    assert [(r["action"], r.get("command")) for r in records()] == [("set", None), ("unix", "touch made")]


def test_one_line_per_effect_whatever_the_path(engine, shell, session, loop, wait, tmp_path, records):
    session.execute("alias go resume \\1")
    script = tmp_path / "cmds.osh"
    script.write_text("# a saved script\ntrace helper\nuntrace helper\n")
    first, second, third = (hold(engine, loop, wait)[1].id for _ in range(3))
    assert not session.execute("cd /osh/globals; trace Receive.respond").error     # compound line
    assert not session.execute(f"go {first}").error                                 # alias
    assert not session.execute(f"repeat resume {second}").error                     # repeat
    assert not session.execute(f"source {script}").error                            # saved script
    assert not session.execute(f"resume {third}").error                             # direct
    assert effects(records) == [("trace", "Receive.respond"), ("resume", [first]), ("resume", [second]),
                                ("trace", "helper"), ("untrace", ["helper"]), ("resume", [third])]
    assert {(r["front"], r.get("client")) for r in records()} == {("test", None)}
    lsp = shell.session("lsp:emacs")
    lsp.execute("untrace all")
    assert records()[-1] == {"front": "lsp", "client": "emacs", "action": "untrace", "names": ["Receive.respond"]}


def test_effects_that_change_nothing_write_nothing(session, records):
    for line in ("resume all", "untrace all", "unpatch *", "set", "set max_recent", "trace", "pr 1 + 1",
                 "resume nosuch-id", "set max_recent -5"):
        session.execute(line)
    assert records() == []


def test_settings_tags_and_code_are_audited(session, app, records):
    session.execute("set safe_mode False")
    session.execute("set password s3cret")
    session.execute("tag receiver hello")
    session.execute("untag receiver")
    session.execute("exec counter = 4")
    session.execute("run helper 1")
    session.execute("rm config/debug")
    assert app["counter"] == 4 and "debug" not in app["config"]
    assert [(r["action"], {k: v for k, v in r.items() if k not in ("front", "action")}) for r in records()] == [
        ("set", {"name": "safe_mode", "value": False}), ("set", {"name": "password", "value": "***"}),
        ("tag", {"object": "receiver", "tag": "hello"}), ("untag", {"object": "receiver", "tag": "hello"}),
        ("exec", {"code": "counter = 4", "cwd": "/osh/globals"}),
        ("call", {"function": "helper", "args": ["1"], "cwd": "/osh/globals"}),
        ("rm", {"path": "/osh/globals/config/debug"})]


def test_unpatch_is_allowed_in_safe_mode_except_into_a_file(engine, app, session, tmp_path, records):
    engine.patcher.patch("helper", "def helper(a, b=2):\n    return 'patched'\n", app)   # e.g. a live hold
    refused = session.execute(f"unpatch helper > {tmp_path}/saved.py")
    assert refused.output == ("unpatch > file: refused in safe mode (it writes a file); "
                              "set safe_mode False to allow it")
    assert not session.execute("unpatch helper").error
    assert app["helper"](1) == 3 and not (tmp_path / "saved.py").exists()
    assert effects(records) == [("unpatch", ["helper"])]
