"""help, set, alias, lock/unlock, repeat, source, quit."""

import os

from otrace_server.shell.registry import COMMANDS
from tests.shell.helpers import out

ALL = ["alias", "cd", "cdls", "del", "dn", "edit", "exec", "help", "lock", "ls", "popd", "pr", "pushd", "pwd",
       "quit", "repeat", "resume", "rm", "run", "save", "set", "source", "swapd", "tag", "trace", "unpatch",
       "unpickle", "untag", "untrace", "up", "view"]


def test_every_otrace_command_is_registered_with_help(session):
    assert set(ALL) <= set(COMMANDS)
    assert set(COMMANDS) - set(ALL) <= {"debug", "testgen"}   # beyond otrace: debugpy escalation, tests from contexts
    text = session.execute("help").output
    assert all(name in text.split() for name in ALL)
    star = session.execute("help *").output.splitlines()
    assert all(any(line.startswith(name + " ") for line in star) for name in ALL)
    for name in ALL:
        r = session.execute(f"help {name}")
        assert not r.error and r.output.startswith(name), name
    assert "--status N" in session.execute("help resume").output
    assert "safe_mode (bool, default True)" in session.execute("help set").output
    assert session.execute("help nosuch").error


def test_set(session, engine):
    lines = session.execute("set").output.splitlines()
    assert "safe_mode = True" in lines and "max_recent = 10" in lines
    assert session.execute("set max_recent 20").output == "max_recent = 20" and engine.settings.max_recent == 20
    assert session.execute("set repeat_interval 1").output == "repeat_interval = 1.0"
    assert session.execute("set editor 'code -w'").output == "editor = 'code -w'"
    assert session.execute('set editor ""').output == "editor = ''"
    assert session.execute("set max_recent").output.startswith("max_recent = 20\nmax_recent (int")
    for bad in ("set max_recent x", "set max_recent 0", "set nosuch 1", "set safe_mode maybe", "set a b c"):
        r = session.execute(bad)
        assert r.error and "\n" not in r.output, bad
    assert engine.settings.max_recent == 20


def test_alias(session):
    assert session.execute("alias p2 pwd; ls config").output == ""
    assert session.execute("p2").output.splitlines() == ["/osh/globals", "config"]
    session.execute("alias at pr \\1 + \\2")
    assert session.execute("at 40 2").output == "42"
    assert session.execute("alias at").output == "at pr \\1 + \\2"
    session.execute('alias at ""')
    assert session.execute("alias at").error
    assert session.execute("alias ls pwd").error       # commands cannot be shadowed
    assert "show view -i" in session.execute("alias").output


def test_alias_arguments_are_substituted_once(session):
    """\\10 is the tenth argument, not \\1 followed by "0"; an argument that contains \\2 stays as typed."""
    session.execute("alias tenth pr \\10")
    assert session.execute("tenth 5 2 3 4 5 6 7 8 9 99").output == "99"     # was 50
    session.execute("alias both pr \\1, \\2")
    assert session.execute("both '\"\\\\2\"' 7").output == "('\\\\2', 7)"
    session.execute("alias all pr [\\*]")
    assert session.execute("all 1, 2").output == "[1, 2]"


def test_lock_unlock(session, engine):
    assert session.execute("lock").error                 # no password yet
    session.execute("set password s3cret")
    r = session.execute("lock")
    assert r.data["lock"] is True
    r = session.execute("pwd")
    assert r.error and r.data["lock"] is True
    assert session.unlock("wrong") is False and session.locked
    assert session.unlock("s3cret") is True
    assert session.execute("pwd").output == "/osh/globals"


def test_repeat_and_quit(session):
    r = session.execute("repeat counter")
    assert (r.output, r.repeat) == ("3", "counter")
    r = session.execute("repeat nosuch")
    assert r.error and r.repeat is None
    assert session.execute("repeat").error
    assert session.execute("quit").quit is True


def test_source(session, tmp_path):
    script = tmp_path / "init.trc"
    script.write_text("# comment\n\ncd config\nport\nnosuch\npwd\n")
    r = session.execute(f"source {script}")
    assert r.error and r.output.splitlines()[0] == "8888" and r.output.splitlines()[-1] == "/osh/globals/config"
    assert session.execute(f"source {tmp_path}/missing.trc").error
    loop = tmp_path / "loop.trc"
    loop.write_text(f"source {loop}\n")
    assert session.execute(f"source {loop}").error


def test_source_of_a_file_that_is_not_a_command_script_is_one_error_line(session, tmp_path):
    """Binary text was "internal error: UnicodeDecodeError"; a FIFO blocked the thread for good (an
    editor's worker and session); /dev/zero was read until the application's memory ran out."""
    binary = tmp_path / "binary.trc"
    binary.write_bytes(b"pwd\n\xd0\x00\n")
    assert (session.execute(f"source {binary}").output
            == f"source: {binary} is not UTF-8 text (byte 0xd0 at offset 4)")
    big = tmp_path / "big.trc"
    big.write_text("pwd\n" * 300_000)
    assert session.execute(f"source {big}").output == f"source: {big} is larger than 1,048,576 bytes"
    fifo = tmp_path / "fifo.trc"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        r = session.execute(f"source {path}")
        assert r.error and r.output == f"source: {path} is not a regular file"
        r = session.execute(f"view {path}")
        assert r.error and r.output == f"view: {path} is not a regular file"


def test_alias_called_without_its_arguments_says_what_it_needs(session):
    out(session, "alias into cd \\1; ls")
    assert out(session, "into config").split() == ["debug", "nested", "port"]
    out(session, "cd /osh/globals")
    r = session.execute("into")                                 # was: cd to a directory named "1"
    assert r.error and r.output == "into: needs 1 argument (alias into cd \\1; ls)"
    assert r.cwd == "/osh/globals"
