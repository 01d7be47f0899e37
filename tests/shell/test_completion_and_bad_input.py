"""Completion, bad input (one clear error line, session keeps working) and a hypothesis fuzz."""

import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from otrace_server.shell import Result
from tests.shell.helpers import hold, out


def test_complete_commands_paths_params_options(session):
    assert session.complete("unt", 3) == ["untag", "untrace"]
    assert session.complete("ls Rec", 6) == ["Receive/"]
    assert session.complete("ls Receive.re", 13) == ["Receive.respond"]
    assert session.complete("cd /osh/gl", 10) == ["/osh/globals/"]
    assert session.complete("cd /osh/globals/con", 19) == ["/osh/globals/config/"]
    assert session.complete("cd config/ne", 12) == ["config/nested/"]
    assert session.complete("set max", 7) == ["max_recent"]
    assert session.complete("set safe_mode ", 14) == ["True", "False"]
    assert session.complete("set max_recent ", 15) == ["10"]
    assert session.complete("trace -", 7) == ["-a", "-c", "-n"]
    assert session.complete("trace -a h", 10) == ["hold"]
    assert session.complete("trace -c ca", 11) == ["call"]
    assert session.complete("help re", 7) == ["repeat", "resume"]
    assert session.complete("cd /osh/nosuch/x", 16) == []
    assert session.complete("ls Rec and more", 6) == ["Receive/"]         # cursor in the middle


def test_directories_complete_with_a_slash_like_bash(session, tmp_path):
    """A directory candidate ends with '/' so the next TAB goes on into it; names stay names."""
    assert session.complete("cd /osh/rec", 11) == ["/osh/recent/"]
    assert session.complete("cd /osh/recent/exc", 18) == ["/osh/recent/exceptions/"]
    assert session.complete("ls con", 6) == ["config/"]
    assert session.complete("ls config/", 10) == ["config/debug", "config/nested/", "config/port"]
    assert session.complete("ls Receive/", 11) == ["Receive/base_attr", "Receive/inherited",
                                                   "Receive/limit", "Receive/respond"]
    assert session.complete("ls hel", 6) == ["helper"]               # a function: no "/"
    assert session.complete("ls co", 5) == ["config/", "counter"]
    assert session.complete("cd co", 5) == ["config/"]                # cd is offered directories only
    assert session.complete("pushd hel", 9) == [] and session.complete("cdls Rec", 8) == ["Receive/"]
    assert session.complete("trace Rec", 9) == ["Receive"]            # trace takes a name
    assert session.complete("Rec", 3) == ["Receive"]                  # pr Receive.x
    assert session.complete("cd ~~g/con", 10) == ["~~g/config/"]       # a path: "/" after values too
    (tmp_path / "sub").mkdir()
    (tmp_path / "file.osh").write_text("pwd\n")
    assert session.complete(f"source {tmp_path}/", len(f"source {tmp_path}/")) == [
        f"{tmp_path}/file.osh", f"{tmp_path}/sub/"]


def test_complete_in_context(session, held):
    session.execute("cd ~~")
    assert session.complete("ls __", 5) == ["__down/", "__trc/"]
    assert session.complete("num", 3) == ["number"]


@pytest.mark.parametrize("line", [
    "nosuchname", "cd nosuch", "ls -q", "pr 'unterminated", "ls 'unterminated", "pr (", "exec x",
    "counter(", "trace -a", "resume --status", "set", "view ''", "1/0", "cd /osh/globals/counter",
    "pr " + "(" * 200, "!x", "rm x", "edit helper", "del", "save", "tag nosuch", "untrace", "alias ls x",
    "pr '\ud800'", "cd \udcff",
])
def test_bad_input_gives_one_error_line(session, line):
    r = session.execute(line)
    if line == "set":
        assert not r.error
        return
    assert r.error and r.output and "\n" not in r.output, (line, r.output)
    assert session.execute("pwd").output == "/osh/globals"      # the session keeps working


def test_lone_surrogates_are_refused_as_text(session):
    """A client (LSP, DAP) can send JSON "\\ud800": one plain error, not an internal error."""
    r = session.execute("pr 'a\ud800'")
    assert r.error and r.output == "the command line is not valid text (surrogates not allowed at column 6)"


def test_non_string_line(session):
    r = session.execute(None)  # type: ignore[arg-type]
    assert r.error and r.output == "command line must be a string"


def test_broken_application_objects(session, app):
    class Evil:
        def __getattr__(self, name):
            raise RuntimeError("boom")

        def __dir__(self):
            raise RuntimeError("no dir")

        def __repr__(self):
            raise RuntimeError("no repr")

    app["evil"] = Evil()
    assert not session.execute("ls -l").error
    assert "unrepresentable" in [x for x in session.execute("ls -l evil").output.splitlines()][0]
    session.execute("cd evil")
    assert session.execute("ls").output == ""
    assert session.execute("x").error


_words = st.sampled_from(["ls", "cd", "pr", "set", "trace", "resume", "!", "help", "view", "tag", "alias", "..",
                          "/", "~~", "~", "*", "-l", "-a", "-c", "-.", "-..", "-x", "'", '"', "\\", ";", "<", ">",
                          "/osh", "/osh/recent", "Receive", "config", "__trc", "safe_mode", "True", "=", "(", ")",
                          "repeat", "source", "unpatch", "untrace", "rm", "run", "edit", "lock", "quit"])
_line = st.one_of(
    st.lists(st.one_of(_words, st.text(string.printable, max_size=6)), max_size=6).map(" ".join),
    st.text(max_size=40),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, min_size=1, max_size=4))
def test_random_command_lines_never_escape(shell, lines):
    shell.unix_commands = False       # random lines must never reach /bin/sh
    session = shell.session("fuzz")
    for line in lines:
        r = session.execute(line)
        assert isinstance(r, Result)
        assert isinstance(r.output, str) and isinstance(r.error, bool) and isinstance(r.data, dict)
        assert r.prompt.endswith("> ") and r.cwd.startswith("/")
        if r.error:
            assert "\n" not in r.output and r.output
        if r.quit:
            session = shell.session("fuzz")
        session.locked = False


def test_unix_commands_can_be_disabled(shell, session):
    shell.unix_commands = False
    session.execute("cd /tmp")
    r = session.execute("echo hi")
    assert r.error and r.output == "Unix commands are disabled here; cd /osh"


def test_quit_with_an_argument_is_one_clear_error(session):
    result = session.execute("quit now")
    assert result.error and not result.quit
    assert result.output == ("quit: takes no arguments (got 'now'); it closes this console, "
                             "the application keeps running")
    assert session.execute("pwd").output == "/osh/globals"      # the session goes on
    assert session.execute("quit").quit


def test_tab_completes_dotted_names_inside_a_trace_context(session, engine, loop, wait):
    future, h = hold(engine, loop, wait)
    out(session, "cd ~~")
    assert session.complete("self.eng") == ["self.engine"]      # was []: dots only in /osh/globals
    assert session.complete("pr self.eng") == ["self.engine"]
    assert session.complete("num") == ["number"]
    out(session, "cd /osh/recent/holds")                        # names with dots are not paths here
    assert session.complete("cd GetHandler.g") == ["GetHandler.get/"]
    out(session, f"resume {h.id}")
    assert future.result(5) == "resumed:None"
