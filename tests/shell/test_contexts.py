"""resume (every form), save, del, unpickle, ~~ and /osh/saved with real contexts."""

import pytest

from tests.shell.helpers import hold, out, record


def test_resume_with_value_raise_status(session, engine, loop, wait):
    session.execute("set safe_mode False")
    f1, h1 = hold(engine, loop, wait)
    r = session.execute(f"resume {h1.id} --value 6*7")
    assert not r.error and f1.result(5) == "resumed:42"

    f2, h2 = hold(engine, loop, wait)
    session.execute(f"resume {h2.id} --raise KeyError('boom')")
    with pytest.raises(KeyError):
        f2.result(5)

    f3, h3 = hold(engine, loop, wait)
    r = session.execute(f"resume {h3.id} --status 404 gone")
    assert not r.error
    with pytest.raises(Exception, match="404"):
        f3.result(5)


def test_resume_value_is_the_rest_of_the_line_up_to_the_next_option(session, engine, loop, wait):
    """--value [1, {'k': (2, 3)}] is one expression (it was cut at the first space: SyntaxError)."""
    f, h = hold(engine, loop, wait)
    r = session.execute(f"resume {h.id} --value [1, {{'k': (2, 3)}}, 'a  b']")
    assert not r.error, r.output
    assert f.result(5) == "resumed:[1, {'k': (2, 3)}, 'a  b']"
    f, h = hold(engine, loop, wait)
    r = session.execute(f"resume {h.id} --status 103")       # not a final answer: the client would wait on
    assert r.error and "200-599" in r.output
    assert session.execute(f"resume {h.id} --status 409 'in use'").output == f"Resuming {h.id}"
    with pytest.raises(Exception, match="409"):
        f.result(5)


@pytest.mark.parametrize("options, result", [   # the quoting rule of shell.options
    ("--value 6*7", "resumed:42"),
    ("--value [1, {'k': 2}]", "resumed:[1, {'k': 2}]"),
    ('--value "x y"', "resumed:x y"),                        # one quoted string: that string
    ("--value 'a  --raise b'", "resumed:a  --raise b"),      # an option word in quotes is text
    ("--value 'a' + 'b'", "resumed:ab"),                     # not one quoted string: an expression
    ("--value \"it's\"", "resumed:it's"),
])
def test_resume_value_quoting_rule(session, engine, loop, wait, options, result):
    f, h = hold(engine, loop, wait)
    assert out(session, f"resume {h.id} {options}") == f"Resuming {h.id}"
    assert f.result(5) == result


@pytest.mark.parametrize("options, status, reason", [
    ("--status 404", 404, ""),
    ("--status 404 gone", 404, "gone"),
    ("--status 404 not found", 404, "not found"),            # the reason is the rest of the line
    ('--status 404 "not found"', 404, "not found"),          # quoted: quotes removed once
    ("--status 409 'in use'", 409, "in use"),
    ("--status '404 not found'", 404, "not found"),
    ('--status 409 "it\'s taken"', 409, "it's taken"),
])
def test_resume_status_quoting_rule(session, engine, loop, wait, options, status, reason):
    f, h = hold(engine, loop, wait)
    assert out(session, f"resume {h.id} {options}") == f"Resuming {h.id}"
    with pytest.raises(Exception) as answered:
        f.result(5)
    assert (answered.value.status, answered.value.reason) == (status, reason)


@pytest.mark.parametrize("options, exception, message", [
    ("--raise ValueError('no')", ValueError, "no"),
    ("--raise KeyError('a b')", KeyError, "'a b'"),
    ("--raise ValueError", ValueError, ""),
])
def test_resume_raise_quoting_rule(session, engine, loop, wait, options, exception, message):
    session.execute("set safe_mode False")
    f, h = hold(engine, loop, wait)
    assert out(session, f"resume {h.id} {options}") == f"Resuming {h.id}"
    with pytest.raises(exception) as raised:
        f.result(5)
    assert str(raised.value) == message


def test_resume_quoting_errors_resume_nothing(session, engine, loop, wait):
    future, h = hold(engine, loop, wait)
    for line, message in [(f"resume {h.id} --value 'a", "resume: no closing quotation"),
                          (f"resume {h.id} --raise 'ValueError'",
                           "resume: the exception to raise must be an exception class or instance, got str"),
                          (f"resume {h.id} --value --status 404", "resume: --value needs a value"),
                          (f"resume {h.id} -x", "resume: unknown option -x")]:
        r = session.execute(line)
        assert r.error and r.output.startswith(message) and "\n" not in r.output, (line, r.output)
    assert engine.holds.get(h.id) is h and not future.done()
    out(session, "resume all")


def test_resume_raise_class_allowed_in_safe_mode(session, engine, loop, wait):
    f, h = hold(engine, loop, wait)
    assert session.execute(f"resume {h.id} --raise KeyError('x')").error    # a call: refused
    assert not session.execute(f"resume {h.id} --raise KeyError").error
    with pytest.raises(KeyError):
        f.result(5)


def test_resume_all_and_errors(session, engine, loop, wait):
    futures = [hold(engine, loop, wait)[0] for _ in range(2)]
    r = session.execute("resume all")
    assert len(r.data["trace_ids"]) == 2 and all(f.result(5) == "resumed:None" for f in futures)
    assert session.execute("resume all").output == "nothing to resume"
    assert session.execute("resume").output == "resume: not in a trace context, and nothing is held"
    assert session.execute("resume nosuch:id").error
    assert session.execute("resume --status abc").error
    assert session.execute("resume --value").error
    assert session.execute("resume --bogus").error


@pytest.mark.parametrize("line, message", [   # the messages of core.outcomes, as otrace/resume gives them
    ("resume all --value 1 --status 404", "resume: give only one of value, raise, status (got value, status)"),
    ("resume all --status abc", "resume: the status must be an HTTP status code (an integer, 200-599), got 'abc'"),
    ("resume all --raise 5", "resume: the exception to raise must be an exception class or instance, got int"),
    ("resume all --raise SystemExit", "resume: cannot raise SystemExit in held code"),
])
def test_resume_refuses_an_outcome_with_the_core_message_and_resumes_nothing(session, engine, loop, wait, line, message):
    future, h = hold(engine, loop, wait)
    r = session.execute(line)
    assert r.error and r.output.startswith(message)
    assert engine.holds.get(h.id) is h and not future.done()
    session.execute("resume all")


def test_save_and_del(session, engine):
    ctx = record(engine)
    session.execute("cd ~~")
    assert session.execute("pwd").output == "/osh/" + "/".join(ctx.path)
    r = session.execute("save")
    assert r.output == f"saved {ctx.id}" and r.cwd.startswith("/osh/saved/exceptions/Receive.respond/")
    assert session.execute("number").output == "0"
    assert engine.store.saved() == [ctx]
    r = session.execute("del")
    assert not r.error and r.cwd == "/osh/globals" and engine.store.get(ctx.id) is None
    assert session.execute(f"del {ctx.id}").error
    other = record(engine, label="ValueError")
    assert not session.execute(f"save {other.id}").error
    assert session.execute("ls /osh/saved/exceptions/Receive.respond").output == "ex-ValueError"  # abs dir: listed
    assert session.execute("cdls /osh/saved/exceptions/Receive.respond").output == "ex-ValueError"


def test_held_context_cannot_be_deleted(session, held):
    future, h = held
    r = session.execute(f"del {h.id}")
    assert r.error and "held" in r.output


def test_context_prompt_and_stale_context(session, engine):
    ctx = record(engine)
    r = session.execute("cd ~~")
    assert r.prompt == f"Receive..{ctx.time_label[3:]}> "
    engine.store.delete(ctx.id)
    r = session.execute("ls")
    assert r.error and r.output.startswith(f"current directory /osh/recent/exceptions/Receive.respond/")
    assert "no longer exists" in r.output
    assert not session.execute("cd /osh/globals").error


def test_trc_of_exception_context(session, engine):
    ctx = record(engine, exc_type="ZeroDivisionError", exc_message="division by zero", traceback="Traceback...")
    session.execute("cd ~~")
    names = session.execute("ls __trc").output
    assert names == "__trc"
    keys = session.execute("ls -l __trc").output
    assert "exc_context" in keys and "exc_stack" in keys
    assert session.execute("__trc['id']").output == repr(ctx.id)


def test_unpickle(session, engine, tmp_path):
    db = tmp_path / "trace.db"
    engine.settings.set("pickle_file", str(db))
    ctx = record(engine)
    engine.settings.set("pickle_file", "")
    r = session.execute(f"unpickle {db}")
    assert not r.error and r.data["trace_ids"] == [ctx.id]
    r = session.execute("cd /osh/pickled/" + "/".join(ctx.path[1:]))
    assert not r.error
    assert session.execute("number").output == "0"
    assert session.execute(f"unpickle {tmp_path}/nosuch.db").error
    assert session.execute("unpickle").error


def test_resume_outside_a_context_names_what_is_waiting(session, engine, loop, wait):
    futures = [hold(engine, loop, wait)[0] for _ in range(2)]
    newest = engine.holds.list()[-1].id
    r = session.execute("resume --value 4")
    assert r.error and r.output == (f"resume: not in a trace context; 2 waiting, newest {newest} "
                                    "(resume ID, resume all, or cd ~~ then resume)")
    assert not any(f.done() for f in futures)          # nothing was resumed by the bad command
    assert not session.execute(f"resume {newest} --value 4").error
    assert not session.execute("resume all").error
    assert all(f.result(5) for f in futures)


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
