"""pr (default command) and safe mode, exec / !, run, and the namespace of each directory."""

import pytest

from tests.shell.helpers import out, record


def test_pr_default_command_and_explicit(session):
    assert out(session, "counter") == "3"
    assert out(session, "pr counter + 1") == "4"
    assert out(session, "config['port']") == "8888"
    assert out(session, "receiver.value") == "5"
    assert out(session, "pr /osh/globals/config/nested") == "{'deep': 1}"


def test_pr_shows_a_string_of_several_lines_as_text(session):
    assert out(session, "'77'") == "'77'"                      # one line: its repr, as in the seed
    assert out(session, "'Traceback:\\n  line 1\\n'") == "Traceback:\n  line 1"


def test_pr_repr_without_pretty_print(session):
    session.execute("set pretty_print False")
    assert out(session, "'77'") == "'77'"


@pytest.mark.parametrize("expr, what", [
    ("helper(1)", "calls"),
    ("receiver.respond(1)", "calls"),
    ("(y := 3)", "assignments"),
    ("counter = 4", "assignments"),
    ("counter += 1", "assignments"),
    ("config['port'] = 1", "assignments"),
    ("receiver.value = 1", "assignments"),
    ("del counter", None),                     # del is the context command; never deletes the variable
    ("(lambda: 1)", "lambdas"),
    ("[x for x in numbers]", "comprehensions"),
    ("(x for x in numbers)", "generator expressions"),
    ("{k: 1 for k in config}", "comprehensions"),
])
def test_safe_mode_refuses_calls_and_assignments(session, app, expr, what):
    r = session.execute(expr)
    assert r.error and "\n" not in r.output
    if what:
        assert r.output == f"{what} are not permitted in safe mode; set safe_mode False"
    assert app["counter"] == 3 and app["config"]["port"] == 8888 and app["receiver"].value == 5


def test_unsafe_pr_and_statements(session, app):
    session.execute("set safe_mode False")
    assert out(session, "helper(1)") == "3"
    r = session.execute("counter = 4")
    assert r.error and "exec" in r.output and app["counter"] == 3


def test_exec(session, app):
    r = session.execute("!counter = 10")
    assert r.error and "safe mode" in r.output
    session.execute("set safe_mode False")
    assert out(session, "!counter = 10") == "" and app["counter"] == 10
    assert out(session, "exec print('a', counter); counter * 2") == "a 10\n20"
    assert "print" not in app                      # the captured print never leaks into the app
    r = session.execute("exec 1/0")
    assert r.error and r.output == "ZeroDivisionError: division by zero"
    assert session.execute("exec def (").output.startswith("SyntaxError")
    assert session.execute("exec").output == "exec: nothing to execute"


def test_exec_here_document(session, app):
    session.execute("set safe_mode False")
    r = session.execute("exec", stdin="def twice(x):\n    return 2 * x\nresult = twice(21)\n")
    assert not r.error and app["result"] == 42


def test_namespaces(session, app):
    session.execute("cd receiver")
    assert out(session, "value") == "5"
    assert out(session, "limit") == "10"
    assert out(session, "counter") == "3"              # globals behind the attributes
    session.execute("set safe_mode False")
    out(session, "!value = 6")
    assert app["receiver"].value == 6                  # assignment sets the attribute
    session.execute("cd /osh/globals/config")
    out(session, "!port = 1")
    assert app["config"]["port"] == 1
    session.execute("cd /osh/globals/sys")
    assert out(session, "platform") == repr(__import__("sys").platform)


def test_locals_dir(engine, app):
    from otrace_server.shell import Shell

    session = Shell(engine, app, {"local_var": 99}).session()
    session.execute("cd /osh/locals")
    assert session.execute("ls").output == "local_var"
    assert session.execute("local_var + counter").output == "102"


def test_run(session, app):
    assert session.execute("run helper 1").error
    session.execute("set safe_mode False")
    assert out(session, "run helper 1 5") == "6"
    assert out(session, "run helper 40") == "42"
    assert session.execute("run counter").output == "run: counter is not callable"
    assert session.execute("run helper").output.startswith("TypeError")
    r = session.execute("run GetHandler.get x 77")
    assert r.error


def test_huge_output_is_truncated_quickly_and_the_session_goes_on(session):
    import time

    from otrace_server.shell.result import MAX_OUTPUT

    session.execute("set safe_mode False")
    started = time.monotonic()
    r = session.execute("pr list(range(10**6))")     # pprint of it alone takes ~10 s
    assert time.monotonic() - started < 5
    assert not r.error and r.output.startswith("[0, 1, 2, 3")
    body, last = r.output.rsplit("\n", 1)
    assert len(body) <= MAX_OUTPUT
    assert last == f"... (output truncated: {len(repr(list(range(10**6)))):,} characters in all, {len(body):,} shown)"
    r = session.execute("!for i in range(100000): print('line', i)")
    body, last = r.output.rsplit("\n", 1)
    assert body.endswith("\n" + body.splitlines()[-1]) and body.splitlines()[-1].startswith("line ")  # cut at a line end
    assert last.startswith("... (output truncated: ") and len(body) <= MAX_OUTPUT
    assert out(session, "counter") == "3"


def test_pretty_print_still_used_below_the_limit(session):
    session.execute("set safe_mode False")
    text = out(session, "pr {i: 'x' * 30 for i in range(5)}")
    assert text.count("\n") == 4 and "truncated" not in text


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
