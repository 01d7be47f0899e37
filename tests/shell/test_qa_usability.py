"""Defects found by using the shell as a user would (QA pass): each test fails on the code before
its fix. Real Engine, real trace contexts and a real hold on a real asyncio loop thread."""

import re
import time

from otrace_server.core import tags
from tests.shell.test_contexts import hold, record


def out(session, line):
    r = session.execute(line)
    assert not r.error, r.output
    return r.output


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


def test_ls_dot_in_a_class_directory_shows_the_inherited_attributes(session):
    out(session, "cd Receive")
    assert out(session, "ls").split() == ["base_attr", "inherited", "limit", "respond"]
    assert out(session, "ls -.").split() == ["base_attr", "inherited"]          # was empty
    assert out(session, "ls -..").split() == ["limit", "respond"]
    out(session, "cd /osh/globals/receiver")
    assert out(session, "ls -.").split() == ["value"]                           # instances: unchanged


def test_ls_relative_directory_with_trailing_slash_lists_it(session):
    assert out(session, "ls config/").split() == ["debug", "nested", "port"]    # was "config"
    assert out(session, "ls config") == "config"                                # otrace: the name
    assert out(session, "ls -l config/nested/") == "deep = 1"
    r = session.execute("ls counter/")
    assert r.error


def test_pr_of_a_virtual_directory_shows_its_listing_not_an_internal_object(session, engine):
    text = out(session, "pr /osh/recent")
    assert "otrace_server" not in text and "object at" not in text              # was <...ContextTree object at 0x..>
    assert text.splitlines()[0] == "asserts    = {}"
    assert "exceptions = {}" in text
    assert out(session, "pr ~~g") == out(session, "pr /osh/globals")
    assert "'counter': 3" in out(session, "pr ~~g")
    ctx = record(engine)
    assert out(session, "pr ~~") == repr(ctx)
    assert out(session, "pr /osh/recent/exceptions").splitlines() == ["Receive.respond = {ex-ZeroDivisionError}"]


def test_view_of_a_work_directory_file(session, tmp_path):
    session.shell.work_dir = str(tmp_path)
    (tmp_path / "notes.trc").write_text("set trace_active True\nls\n")
    assert out(session, "view ~~w/notes.trc") == "    1  set trace_active True\n    2  ls"   # was "no source for str"
    r = session.execute("view ~~w/missing.trc")
    assert r.error and r.output == f"view: cannot read {tmp_path}/missing.trc: No such file or directory"
    assert out(session, "view /osh/../" + str(tmp_path / "notes.trc").lstrip("/")).startswith("    1  set")


def test_commands_in_a_deleted_context_say_what_happened(session, engine, loop, wait):
    future, h = hold(engine, loop, wait)
    out(session, "cd ~~")
    out(session, "resume")
    out(session, "cd ~~")
    assert future.result(5) == "resumed:None"
    engine.store.delete(h.id)
    for line in ("ls", "number", "resume", "save", "del", "view"):
        r = session.execute(line)
        assert r.error and r.output.startswith(f"current directory /osh/recent/holds/GetHandler.get/"), (line, r.output)
        assert "no longer exists (its trace context was deleted or dropped)" in r.output
    r = session.execute("cd ..")                                                 # was an error: parent gone too
    assert not r.error and r.cwd == "/osh/recent/holds"
    r = session.execute("cd ~~")
    assert r.error and r.output.startswith("~~: no trace context (none recorded yet, or all deleted")


def test_alias_called_without_its_arguments_says_what_it_needs(session):
    out(session, "alias into cd \\1; ls")
    assert out(session, "into config").split() == ["debug", "nested", "port"]
    out(session, "cd /osh/globals")
    r = session.execute("into")                                 # was: cd to a directory named "1"
    assert r.error and r.output == "into: needs 1 argument (alias into cd \\1; ls)"
    assert r.cwd == "/osh/globals"


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


def test_cd_then_several_commands(session):
    r = session.execute("cd config; ls; pwd")     # was: "pr: statements need 'exec' ... e.g. !ls; pwd"
    assert not r.error and r.output == "debug  nested port\n/osh/globals/config"
    r = session.execute("cd ~;; pwd")
    assert not r.error and r.output == "/osh/globals"
    session.execute("set safe_mode False")
    r = session.execute("cd ~; !a = 1; b = 2")    # Python code keeps its semicolons
    assert not r.error and session.shell.globals["a"] == 1 and session.shell.globals["b"] == 2
    r = session.execute("cd config; ls nosuch; pwd")
    assert r.error and r.output == "ls: no match for 'nosuch'" and r.cwd == "/osh/globals/config"
    r = session.execute("cd ~; repeat counter")
    assert not r.error and r.repeat == "counter" and r.output == "3"


def test_edit_and_unpatch_redirect_without_a_file_name_name_the_command(session):
    session.execute("set safe_mode False")
    r = session.execute("edit helper <")                       # was "missing file name after <"
    assert r.error and r.output == "edit: missing file name after <"
    session.execute("edit helper", stdin="def helper(a, b=2):\n    return a * b")
    r = session.execute("unpatch helper >")
    assert r.error and r.output == "unpatch: missing file name after >"
    assert out(session, "unpatch helper") == "Unpatching helper"
