"""Foreign text (application reprs, names, exception messages, program output) reaches a shell
result escaped (core.reprs.visible): no terminal control in a Result's output or prompt."""

from __future__ import annotations

import re

import pytest

from otrace_server.core.reprs import HIDDEN

RAW = re.compile(f"[{HIDDEN}]")
CLEAR = "\x1b[2J\x1b[H"


class Hostile:
    def __repr__(self):
        return f"{CLEAR}\x1b]0;owned\x07<Hostile \u202eevil>"


def boom():
    raise ValueError(f"{CLEAR}bad\x07")


@pytest.fixture
def hostile_session(session):
    session.shell.globals.update({
        "hostile": Hostile(),
        "keys": {f"{CLEAR}k": 1, "line\nbreak": 2, "ok": Hostile()},
        "boom": boom,
    })
    session.settings.set("safe_mode", False)
    return session


def shown(session, line):
    result = session.execute(line)
    assert not RAW.search(result.output), repr(result.output)
    assert not RAW.search(result.prompt), repr(result.prompt)
    return result


def test_a_repr_with_terminal_escapes_is_shown_escaped(hostile_session):
    assert shown(hostile_session, "pr hostile").output == "\\x1b[2J\\x1b[H\\x1b]0;owned\\x07<Hostile \\u202eevil>"
    assert "\\x1b[2J" in shown(hostile_session, "ls -l hostile").output


def test_names_are_one_line_and_escaped_and_data_keeps_them(hostile_session):
    result = shown(hostile_session, "ls keys/")
    assert result.output.split() == ["\\x1b[2J\\x1b[Hk", "line\\nbreak", "ok"]
    assert sorted(result.data["entries"]) == sorted([f"{CLEAR}k", "line\nbreak", "ok"])
    lines = shown(hostile_session, "ls -l keys/").output.splitlines()
    assert len(lines) == 3 and lines[1].startswith("line\\nbreak") and lines[2].endswith("<Hostile \\u202eevil>")


def test_an_exception_message_is_shown_escaped(hostile_session):
    result = shown(hostile_session, "pr boom()")
    assert result.error and result.output == "ValueError: \\x1b[2J\\x1b[Hbad\\x07"


def test_the_prompt_of_a_directory_named_by_the_application_is_escaped(hostile_session):
    hostile_session.shell.globals["tree"] = {"\x1b[31mred": {"x": 1}}
    result = shown(hostile_session, "cd tree/\x1b[31mred")
    assert not result.error, result.output
    assert result.prompt == "osh..\\x1b[31mred> "


def test_program_output_of_the_unix_pass_through_is_escaped(hostile_session, tmp_path):
    hostile_session.execute(f"cd {tmp_path}")
    result = shown(hostile_session, "printf 'a\\033[2Jb\\n'")
    assert result.output == "a\\x1b[2Jb"


def test_the_shells_own_output_is_unchanged(hostile_session):
    assert shown(hostile_session, "pr 'a\\tb'").output == "'a\\tb'"
    help_text = shown(hostile_session, "help").output
    assert "\n" in help_text and "\\n" not in help_text
