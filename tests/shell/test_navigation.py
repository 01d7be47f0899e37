"""cd, cdls, pushd/popd/swapd, pwd, special paths and otrace's short prompts."""


import pytest


def run(session, line):
    r = session.execute(line)
    assert not r.error, r.output
    return r


def test_starts_in_globals(session):
    r = run(session, "pwd")
    assert (r.output, r.prompt, r.cwd) == ("/osh/globals", "globals> ", "/osh/globals")


@pytest.mark.parametrize("path, cwd, prompt", [
    ("Receive", "/osh/globals/Receive", "osh..Receive> "),
    ("Receive.respond", "/osh/globals/Receive/respond", "osh..respond> "),
    ("/osh/globals/config/nested", "/osh/globals/config/nested", "osh..nested> "),
    ("numbers", "/osh/globals/numbers", "osh..numbers> "),
    ("/osh", "/osh", "osh> "),
    ("/osh/web", "/osh/web", "web> "),
    ("/osh/recent", "/osh/recent", "recent> "),
    ("/", "/", "/> "),
    ("/tmp", "/tmp", "tmp> "),
    ("~~g", "/osh/globals", "globals> "),
])
def test_cd_and_prompt(session, path, cwd, prompt):
    r = run(session, f"cd {path}")
    assert (r.cwd, r.prompt) == (cwd, prompt)


def test_relative_dotdot_and_home(session):
    run(session, "cd config/nested")
    assert run(session, "cd ..").cwd == "/osh/globals/config"
    assert run(session, "cd ../..").cwd == "/osh"
    assert run(session, "cd ~").cwd == "/osh/globals"
    run(session, "cd Receive")
    assert run(session, "cd").cwd == "/osh/globals"


def test_work_dir_path(session, shell, tmp_path):
    shell.work_dir = str(tmp_path)
    assert run(session, "cd ~~w").cwd == str(tmp_path)


def test_cd_errors_leave_cwd(session):
    for line in ("cd nosuch", "cd counter", "cd /osh/nosuch", "cd a b", "cd ~~"):
        r = session.execute(line)
        assert r.error and "\n" not in r.output and r.cwd == "/osh/globals", line


def test_cdls(session):
    r = run(session, "cdls config")
    assert r.cwd == "/osh/globals/config" and r.output.split() == ["debug", "nested", "port"]


def test_dir_stack(session):
    run(session, "pushd Receive")
    run(session, "pushd /osh/recent")
    assert run(session, "pwd -a").output.splitlines() == ["/osh/recent", "/osh/globals/Receive", "/osh/globals"]
    assert run(session, "swapd").cwd == "/osh/globals/Receive"
    assert run(session, "popd").cwd == "/osh/recent"
    run(session, "popd")
    assert session.execute("popd").error and session.execute("swapd").error
    run(session, "pushd Receive")
    run(session, "pushd /osh/globals/config")
    assert run(session, "popd -a").cwd == "/osh/globals" and session.dir_stack == []


def test_sessions_are_independent(shell):
    a, b = shell.session("a"), shell.session("b")
    a.execute("cd Receive")
    a.execute("alias hi pwd")
    assert b.execute("pwd").output == "/osh/globals"
    assert b.execute("hi").error


def test_unix_commands_outside_osh(session, tmp_path):
    (tmp_path / "hello.txt").write_text("hi there\n")
    run(session, f"cd {tmp_path}")
    refused = session.execute("ls")             # safe_mode (the default) refuses the pass-through
    assert refused.error and refused.output.startswith("Unix command: refused in safe mode")
    run(session, "set safe_mode False")
    assert run(session, "ls").output == "hello.txt"
    assert run(session, "cat hello.txt").output == "hi there"
    r = session.execute("cat nosuch")
    assert r.error and r.data["returncode"] != 0
    assert run(session, "cd /osh/globals").prompt == "globals> "


def test_unix_command_timeout(session, engine, tmp_path):
    engine.settings.set("shell_timeout", 0.3)
    engine.settings.set("safe_mode", False)
    run(session, f"cd {tmp_path}")
    r = session.execute("sleep 5")
    assert r.error and r.output.startswith("timed out")


def test_up_dn_outside_context(session):
    assert session.execute("up").output == "up: not in a trace context"
    assert session.execute("dn").error


def test_cd_then_a_follow_up_command_runs_in_the_new_directory(session):
    # otrace: "cd path; command" (with or without blanks around ";") cds, then runs the command there
    r = run(session, "cd config; ls")
    assert (r.cwd, r.prompt, r.output.split()) == ("/osh/globals/config", "osh..config> ", ["debug", "nested", "port"])
    r = run(session, "cd nested;pwd")
    assert r.output == "/osh/globals/config/nested"
    r = run(session, "cd ; pwd")
    assert r.cwd == "/osh/globals" and r.output == "/osh/globals"
    assert run(session, "cd config;").cwd == "/osh/globals/config"


def test_cd_follow_up_errors(session):
    r = session.execute("cd nosuch; ls")
    assert r.error and r.output == "no such directory: /osh/globals/nosuch" and r.cwd == "/osh/globals"
    r = session.execute("cd config; nosuch_name")      # cd happened, the follow-up failed
    assert r.error and "NameError" in r.output and r.cwd == "/osh/globals/config"
    r = session.execute("cd .. ls")                     # forgot the ';': one line saying how
    assert r.error and r.output == "cd: too many arguments; to run a command after cd: cd ..; ls"
    r = session.execute("cd 'config")
    assert r.error and r.output.startswith("cd: No closing quotation")


def test_latest_context_before_any_says_what_records_one(session):
    for line in ("cd ~~", "ls ~~", "pr ~~"):
        r = session.execute(line)
        assert r.error and r.cwd == "/osh/globals" and "\n" not in r.output, line
        if line != "pr ~~":
            assert r.output.startswith("~~: no trace context (none recorded yet") and "trace_active" in r.output


def test_cd_expands_wildcards_that_name_one_directory(session, engine):
    assert run(session, "cd conf*/nest*").cwd == "/osh/globals/config/nested"
    assert run(session, "cd /osh/glob?ls/Rec*").cwd == "/osh/globals/Receive"
    assert run(session, "pushd /osh/rec*").cwd == "/osh/recent"
    run(session, "cd /osh/globals; trace helper")
    with pytest.raises(TypeError):
        session.shell.globals["helper"]("x", None)
    (ctx,) = engine.store.recent("exceptions")
    r = run(session, "cd /osh/recent/exceptions/*/*/*")             # one context: its directory
    assert r.cwd == "/osh/recent/exceptions/" + "/".join(ctx.path[2:])
    for line, message in [("cd /osh/globals/*", "directories match /osh/globals/*: /osh/globals/Base, "),
                          ("cd /osh/globals/zz*", "no such directory: /osh/globals/zz*"),
                          ("cd counte?", "no such directory: counte?")]:   # counter is not a directory
        r = session.execute(line)
        assert r.error and message in r.output and r.cwd == "/osh/recent/exceptions/" + "/".join(ctx.path[2:]), (line, r.output)


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
