"""The ``bounded`` policy of commands (shell.registry): which lines and completions read only
otrace's own state (``Session.bounded``, ``Session.completion_bounded``, ``vfs.own_listing``)."""

import pytest

from otrace_server.shell import vfs
from otrace_server.shell.registry import COMMANDS


@pytest.mark.parametrize("line", ["pwd", "pwd -a", "pwd extra", "  ", "# a comment", "help", "help ls",
                                  "ls /osh", "ls -a /osh", "ls -t /osh/patches", "ls /osh /osh/patches"])
def test_lines_that_read_only_otraces_state(session, line):
    assert session.bounded(line)


@pytest.mark.parametrize("line", [
    "ls",                       # /osh/globals: the application's names
    "ls /osh/globals", "ls -l /osh", "ls -c /osh", "ls /osh/rec*", "ls /osh/tasks", "ls /osh/web", "ls /tmp",
    "ls /osh/recent/calls/f/l/t",   # a context: the application's locals
    "ls /osh/recent", "ls /osh/saved",   # trees of contexts: a read of the store
    "ls ~~", "ls ~~/..",        # the newest context
    "cd /osh", "Receive", "!1 + 1", "pr 1", "set trace_active True", "trace helper", "ls 'unbalanced",
    "ll",                       # an alias: it could stand for anything
])
def test_lines_that_may_touch_the_application_or_do_more(session, line):
    assert not session.bounded(line)


def test_outside_osh_only_navigation_is_bounded(session):
    session.execute("cd /tmp")
    assert session.bounded("pwd")
    assert not session.bounded("ls")     # a Unix command there


def test_a_locked_session_answers_locked_whatever_the_line(session):
    session.locked = True
    assert session.bounded("exec 1")


def test_the_bounded_commands_declare_it_where_they_are_registered():
    assert COMMANDS["pwd"].bounded is True and COMMANDS["help"].bounded is True
    assert callable(COMMANDS["ls"].bounded)
    assert not COMMANDS["cd"].bounded and not COMMANDS["pr"].bounded and not COMMANDS["exec"].bounded


@pytest.mark.parametrize("line,bounded", [
    ("pw", True), ("", True), ("set trace_a", True), ("set trace_active ", True), ("help p", True),
    ("trace -a ", True), ("trace -", True),
    ("Rec", False), ("ls /osh/gl", False), ("cd ", False), ("trace Rec", False),
])
def test_completions_of_otraces_own_names(session, line, bounded):
    assert session.completion_bounded(line) is bounded


@pytest.mark.parametrize("link", [vfs.UP, vfs.DOWN])
def test_in_a_frames_up_or_down_no_line_is_bounded(session, link):
    session.cwd = ["osh", "recent", "holds", "f", "hd-label", "12-00-00", link]
    assert not session.bounded("pwd")


@pytest.mark.parametrize("parts,own", [
    (["osh"], True), (["osh", "patches"], True), (["osh", "recent"], False),
    (["osh", "recent", "calls", "f", "label"], False), (["osh", "saved"], False),
    (["osh", "recent", "calls", "f", "label", "time"], False), (["osh", "globals"], False),
    (["osh", "tasks"], False), (["osh", "threads"], False), (["osh", "web"], False), ([], False), (["tmp"], False),
    (["osh", "rec*"], False),
])
def test_own_listing(parts, own):
    assert vfs.own_listing(parts) is own
