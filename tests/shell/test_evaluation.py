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
        assert r.output == f"{what}: refused in safe mode; set safe_mode False to allow it"
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

# ---- safe mode: no application code, no state change, bounded (issue 15, point 3) -------------

class _Log:
    calls: list = []


class Numberish:
    """Conversions that printf-style formatting would call."""

    def __int__(self):
        _Log.calls.append("int")
        return 1

    __index__ = __int__

    def __float__(self):
        _Log.calls.append("float")
        return 1.0

    def __bytes__(self):
        _Log.calls.append("bytes")
        return b""

    def __repr__(self):
        _Log.calls.append("repr")
        return "Numberish()"


def _decorated(func):
    import functools

    @functools.wraps(func)
    def wrapper(*args):
        return func(*args)
    return wrapper


class Decorated:
    @_decorated
    def __eq__(self, other):
        _Log.calls.append("eq")
        return True

    __hash__ = object.__hash__


class ClaimsStdlib:
    __module__ = "collections"

    def __add__(self, other):
        _Log.calls.append("add")
        return 1


class Keys:
    def keys(self):
        _Log.calls.append("keys")
        return ["k"]

    def __getitem__(self, key):
        _Log.calls.append("getitem")
        if isinstance(key, int) and key > 1:
            raise IndexError(key)
        return key


class Missing(dict):
    def __missing__(self, key):
        _Log.calls.append("missing")
        return 0


@pytest.fixture
def hostile(app):
    from collections import defaultdict
    from itertools import count

    _Log.calls = []
    app.update(num=Numberish(), deco=Decorated(), claim=ClaimsStdlib(), keys=Keys(), miss=Missing(a=1),
               cache=defaultdict(list, a=[1]), it=iter([1, 2]), ticks=count(), huge=range(10 ** 12))
    return app


@pytest.mark.parametrize("expr", [
    "'%d' % num", "'%i' % (num,)", "'%x' % num", "'%c' % num", "'%f' % num", "'%e' % num", "'%r' % num",
    "'%s' % num", "'%a' % num", "b'%s' % num", "b'%b' % num", "'%(k)s' % keys", "'%(zz)s' % miss",
    "{**keys}", "[*keys]", "(*keys,)", "{*keys}", "{*keys, 1}", "deco == 1", "1 == deco", "{deco}", "claim + 1",
    "f'{num}'", "f'{num!r}'", "f'{num!s:>5}'", "numbers[num]", "numbers[num:]", "miss['zz']",
])
def test_safe_mode_runs_no_application_code(session, hostile, expr):
    r = session.execute(expr)
    assert r.error and r.output.startswith("calls: refused in safe mode ("), (expr, r.output)
    assert r.output.endswith("); set safe_mode False to allow it") and "\n" not in r.output
    assert _Log.calls == []


def test_a_set_display_with_a_starred_element(session, hostile):
    assert session.execute("{*numbers, 5}").output == "{10, 20, 5, 30}"
    assert session.execute("{*'ab'} == {'a', 'b'}").output == "True"


def test_percent_mapping_read_never_inserts(session, hostile):
    assert session.execute("'%(a)s' % cache").output == "'[1]'"
    r = session.execute("'%(missing)s' % cache")
    assert r.error and r.output == "KeyError: 'missing'"
    assert dict(hostile["cache"]) == {"a": [1]}
    assert session.execute("'%s and %d%%' % ('x', 3)").output == "'x and 3%'"


def test_reading_an_iterator_would_consume_it_and_is_refused(session, hostile):
    for expr in ("[*it]", "1 in it", "(*ticks,)", "5 in ticks"):
        r = session.execute(expr)
        assert r.error and "an iterator: refused in safe mode (it would consume the " in r.output
        assert r.output.endswith("); set safe_mode False to allow it")
    assert next(hostile["it"]) == 1 and next(hostile["ticks"]) == 0


def test_the_result_is_shown_without_its_applications_repr(session, hostile):
    assert session.execute("num").output.startswith("<tests.shell.test_evaluation.Numberish object at 0x")
    assert session.execute("[num, 1]").output.startswith("[<tests.shell.test_evaluation.Numberish object")
    assert _Log.calls == []
    session.execute("set safe_mode False")
    assert session.execute("num").output == "Numberish()" and "repr" in _Log.calls


@pytest.mark.parametrize("expr, limit", [
    ("2 ** 10 ** 9", "1,048,576"), ("counter ** 10 ** 8", "1,048,576"), ("1 << 10 ** 9", "1,048,576"),
    ("'ab' * 10 ** 9", "1,000,000"), ("[0] * 10 ** 9", "1,000,000"), ("10 ** 9 * (1,)", "1,000,000"),
    ("[*huge]", "1,000,000"), ("2.5 in huge", "1,000,000"), ("f'{1:999999999}'", "10,000"),
    ("f'{2.5:.{10 ** 8}f}'", "10,000"), ("'%999999999d' % 1", "10,000"), ("'%*d' % (10 ** 9, 1)", "10,000"),
    ("'%.*f' % (10 ** 9, 1.5)", "10,000"),
    # each repetition small, their product not: the repr would freeze the app for minutes
    ("[[[0] * 100] * 100] * 1000", "1,000,000"), ("[['ab' * 1000] * 1000] * 2", "1,000,000"),
    ("[{1: [0] * 1000}] * 2000", "1,000,000"), ("3000 * ({(1, 2, 3)}, [(0,) * 1000])", "1,000,000"),
])
def test_safe_mode_resource_limits(session, hostile, expr, limit):
    import time

    started = time.monotonic()
    r = session.execute(expr)
    assert time.monotonic() - started < 1
    assert r.error and r.output.endswith(f": refused in safe mode (over the limit of {limit}); "
                                         "set safe_mode False to allow it"), r.output


def test_below_the_limits_and_with_safe_mode_off_everything_works(session, hostile):
    assert session.execute("2 ** 100").output == str(2 ** 100)
    assert session.execute("'-' * 5 + f'{3:>4}' + '%5.1f' % 2.25").output == "'-----   3  2.2'"
    assert session.execute("5 in huge").output == "True"          # an int: range answers at once
    assert session.execute("[[0] * 2, 'ab'] * 2").output == "[[0, 0], 'ab', [0, 0], 'ab']"
    session.execute("set safe_mode False")
    assert session.execute("len('a' * 2_000_000)").output == "2000000"


def test_an_expression_nested_too_deeply_is_one_error_line(session):
    for line in ("1" + " + 1" * 100_000, "-" * 100_000 + "1", "(" * 300 + "1" + ")" * 300):
        r = session.execute(line)
        assert r.error and "\n" not in r.output and not r.output.startswith("internal error"), r.output[:200]
