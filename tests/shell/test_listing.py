"""ls (every flag, patterns, long listing) and rm."""

from tests.shell.helpers import out


def test_ls_globals(session):
    assert out(session, "ls").split() == sorted(["Base", "GetHandler", "Receive", "config", "counter", "flags",
                                                 "helper", "numbers", "pair", "receiver", "sys"])
    assert "__name__" in out(session, "ls -a").split()


def test_ls_type_flags(session):
    assert out(session, "ls -c").split() == ["Base", "GetHandler", "Receive"]
    assert out(session, "ls -f").split() == ["helper"]
    assert out(session, "ls -m").split() == ["sys"]
    assert out(session, "ls -v").split() == ["config", "counter", "flags", "numbers", "pair", "receiver"]
    assert out(session, "ls -cf").split() == ["Base", "GetHandler", "Receive", "helper"]


def test_ls_long(session):
    lines = out(session, "ls -l config counter numbers pair").splitlines()
    assert lines == ["config  = {port, debug, nested}", "counter = 3", "numbers = [10, 20, 30]", "pair    = [1, two]"]


def test_ls_patterns(session):
    assert out(session, "ls R*").split() == ["Receive"]
    assert out(session, "ls *e*").split() == ["Base", "GetHandler", "Receive", "counter", "helper", "numbers", "receiver"]
    assert out(session, "ls config/*").split() == ["config/debug", "config/nested", "config/port"]
    assert out(session, "ls /osh/glob*") == "/osh/globals"
    r = session.execute("ls nomatch*")
    assert r.error and r.output == "ls: no match for 'nomatch*'"


def test_ls_osh_and_recent(session):
    assert out(session, "cdls /osh").split() == sorted(
        ["globals", "locals", "recent", "saved", "patches", "pickled", "web", "tasks", "threads"])
    assert out(session, "cdls /osh/recent").split() == sorted(["exceptions", "asserts", "traces", "holds", "breaks", "tags"])


def test_ls_class_exclusions(session):
    session.execute("cd receiver")
    assert out(session, "ls").split() == ["base_attr", "inherited", "limit", "respond", "value"]
    assert out(session, "ls -.").split() == ["value"]                        # instance attributes only
    assert out(session, "ls -..").split() == ["limit", "respond", "value"]   # not from the parent class
    assert out(session, "ls -Base").split() == ["limit", "respond", "value"]
    assert out(session, "ls -.Base").split() == ["limit", "respond", "value"]
    assert session.execute("ls -zz").output.startswith("ls: unknown option -zz")


def test_ls_sequences_sets_dicts(session):
    assert out(session, "cdls /osh/globals/numbers").split() == ["0", "1", "2"]
    assert out(session, "pr /osh/globals/numbers/1") == "20"
    assert out(session, "cdls /osh/globals/flags").split() == ["'x'", "'y'"]
    session.execute("cd /osh/globals/config")
    assert out(session, "port") == "8888"


def test_ls_t_orders_by_time(session, engine):
    from otrace_server.core.context import TraceContext

    for i, name in enumerate(["zeta", "alpha", "mid"]):
        engine.record(TraceContext("traces", "call", name, "call", {}, {}, [], -1, timestamp=1000.0 + i))
    session.execute("cd /osh/recent/traces")
    assert out(session, "ls").split() == ["alpha", "mid", "zeta"]
    assert out(session, "ls -t").split() == ["zeta", "alpha", "mid"]


def test_rm(session, app):
    r = session.execute("rm config/port")
    assert r.error and "safe mode" in r.output and "port" in app["config"]
    session.execute("set safe_mode False")
    assert not session.execute("rm config/port").error
    assert "port" not in app["config"]
    assert not session.execute("rm receiver/value").error and not hasattr(app["receiver"], "value")
    assert session.execute("rm config/nosuch").error
    assert session.execute("rm").error


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
