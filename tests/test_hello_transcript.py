"""otrace's GettingStarted tutorial, replayed against demos/hello_trace.py.

The demo's REAL ThreadingHTTPServer listens on 127.0.0.1 (a free port) in a thread of this test
process; a real shell session over the demo module's globals types the tutorial's commands, and
``submit(...)`` makes real HTTP requests to the server. The sections run in order (as a user
follows the tutorial) and share the module-scoped ``tour`` fixture. The last test runs the whole
tutorial script demos/hello_test.osh through ``hello_trace.py --batch`` in a subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from otrace_server.core.engine import get_engine
from otrace_server.shell import Shell

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demos" / "hello_trace.py"
TIME = r"\d\d-\d\d-\d\d(\.\d+)?"


class Tour:
    """The demo module, its server, a shell session over its globals and the trace ids announced."""

    def __init__(self):
        spec = importlib.util.spec_from_file_location("hello_trace", DEMO)
        self.hello = importlib.util.module_from_spec(spec)
        sys.modules["hello_trace"] = self.hello
        spec.loader.exec_module(self.hello)
        self.original_respond = self.hello.Receive.__dict__["respond"]
        self.server = self.hello.make_server("127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.engine = get_engine()
        self.engine.store.clear()
        self.announced: list[str] = []
        self.unsubscribe = self.engine.events.subscribe(
            lambda ev: ev.kind == "context" and self.announced.append(ev.data["context"].id))
        self.session = Shell(self.engine, vars(self.hello)).session("tutorial")

    def run(self, line, stdin=None):
        """Execute ``line``; it must succeed. Returns the Result."""
        result = self.session.execute(line, stdin=stdin)
        assert not result.error, f"{line!r} failed: {result.output}"
        return result

    def out(self, line, stdin=None) -> str:
        return self.run(line, stdin).output

    def close(self):
        for line in ("untrace all", "unpatch *", "set trace_active False", "set safe_mode True",
                     "set pickle_file ''"):
            self.session.execute(line)
        self.unsubscribe()
        self.server.shutdown()
        self.server.server_close()
        sys.modules.pop("hello_trace", None)


@pytest.fixture(scope="module")
def tour():
    t = Tour()
    yield t
    t.close()


def words(text: str) -> set[str]:
    return set(text.split())


def test_help_cd_ls_and_view(tour):
    help_text = tour.out("help")
    assert {"alias", "cd", "edit", "ls", "pr", "repeat", "trace", "untrace", "view"} <= words(help_text)
    assert "pwd" in tour.out("help pwd")
    assert tour.out("pwd") == "/osh/globals"
    listing = words(tour.out("ls"))
    assert {"GetHandler", "Receive", "Request_stats", "submit", "Page_template"} <= listing
    classes = words(tour.out("ls -c"))
    assert {"GetHandler", "Receive"} <= classes and not {"submit", "Request_stats"} & classes

    assert tour.run("cd GetHandler").prompt == "osh..GetHandler> "
    methods = words(tour.out("ls -f"))
    assert {"do_GET", "send_response", "end_headers"} <= methods   # inherited methods too
    assert words(tour.out("ls -f -..")) == {"do_GET"}            # not inherited (nor overrides, as in otrace)

    tour.run("cd ..")
    assert tour.run("cd Receive").prompt == "osh..Receive> "
    assert "respond" in words(tour.out("ls"))
    source = tour.out("view -i respond")
    assert "def respond(self, request):" in source.splitlines()[0]
    assert "1.0 / self.value" in source


def test_pr_and_exec_respect_safe_mode(tour):
    tour.run("cd ~~g")
    assert tour.out("pr Request_stats") == repr(tour.hello.Request_stats)
    assert tour.out('Request_stats["count"]') == str(tour.hello.Request_stats["count"])
    refused = tour.session.execute('abs(Request_stats["count"] - 1)')
    assert refused.error                                         # calls refused in safe mode
    assert tour.session.execute('!Request_stats["count"] = 2').error
    assert tour.out("set safe_mode False") == "safe_mode = False"
    assert tour.out('abs(Request_stats["count"] - 1)') == str(abs(tour.hello.Request_stats["count"] - 1))
    tour.run('!Request_stats["count"] = 2')
    assert tour.hello.Request_stats["count"] == 2


def test_trace_an_exception_and_explore_its_context(tour):
    tour.run("cd ~~g")
    tour.run("cd Receive")
    assert tour.out("trace respond") == "Tracing Receive.respond"
    assert tour.out("trace") == "Receive.respond"

    assert "The reciprocal of 3.0 is 0.333" in tour.out("submit(3)")     # a real HTTP request
    count = tour.hello.Request_stats["count"]
    reply = tour.out("submit(0)")
    assert "Server error" in reply and "ZeroDivisionError" in reply
    assert tour.hello.Request_stats["count"] == count + 1
    assert re.fullmatch(rf"Receive\.respond:ex-ZeroDivisionError:{TIME}", tour.announced[-1])

    path = tour.out("ls ~~")
    assert re.fullmatch(rf"/osh/recent/exceptions/Receive\.respond/ex-ZeroDivisionError/{TIME}", path)
    tour.run("cd ~~")
    assert tour.out("pwd") == path
    assert {"__trc", "request", "self"} <= words(tour.out("ls"))
    assert "GetHandler" in tour.out("ls -l")                    # request = <...GetHandler object...>
    assert tour.out("self.value") == "0.0"
    tour.run("cd __trc")
    assert {"argvalues", "funcname", "id", "where", "exc_stack"} <= words(tour.out("ls"))
    assert tour.out("id").strip("'") == tour.announced[-1]
    assert "do_GET-->respond" in tour.out("ls -l where")


def test_edit_inserts_a_traceassert(tour):
    tour.run("cd ~~g")
    tour.run("set trace_active True")
    request = tour.run("edit Receive.respond").edit              # the front end's editor request
    assert request is not None and request.name == "Receive.respond"
    assert "def respond(self, request):" in request.source
    tour.run("edit Receive.respond", stdin=tour.hello.Respond_patch)
    tour.run("cd /osh/patches")
    assert tour.out("ls") == "Receive.respond"
    tour.run("cd ~~g")

    assert "The reciprocal of 2.0 is 0.5" in tour.out("submit(2)")
    assert "The reciprocal of 0.0005 is 2000.0" in tour.out("submit(0.0005)")
    assert re.fullmatch(rf"Receive\.respond:as-num_check:{TIME}", tour.announced[-1])
    path = tour.out("ls ~~")
    assert re.fullmatch(rf"/osh/recent/asserts/Receive\.respond/as-num_check/{TIME}", path)
    tour.run("cd ~~")
    assert {"request", "self"} <= words(tour.out("ls"))
    assert tour.out("self.value") == "0.0005"
    assert tour.out('request.headers["Host"]') == repr(f"127.0.0.1:{tour.hello.Http_port}")


def test_unpatch_and_untrace(tour):
    tour.run("cd /osh/patches")
    assert tour.out("ls") == "Receive.respond"
    tour.run("unpatch Receive.respond")
    assert tour.out("ls") == ""
    before = len(tour.announced)
    assert "2000.0" in tour.out("submit(0.0005)")                 # the traceassert is gone
    assert len(tour.announced) == before
    tour.run("cd ~~g")
    assert tour.out("trace") == "Receive.respond"
    assert tour.out("untrace Receive.respond") == "untraced Receive.respond"
    assert tour.out("trace") == "nothing traced"
    assert tour.hello.Receive.__dict__["respond"] is tour.original_respond


def test_object_tag_tracing(tour):
    tour.run("cd ~~g")
    tour.run("trace -a tag -c self.value==1 Receive.__init__")
    tour.run("trace -c taggedself Receive.respond")
    before = len(tour.announced)
    tour.out("submit(2)")
    assert len(tour.announced) == before                         # 2 is not tagged: nothing traced
    assert "The reciprocal of 1.0 is 1.0" in tour.out("submit(1)")
    new = tour.announced[before:]
    assert any(re.fullmatch(rf"Receive\.__init__:tg-.*:{TIME}", i) for i in new), new
    assert any(re.fullmatch(rf"Receive\.respond:tr-taggedself;tg-.*:{TIME}", i) for i in new), new
    tour.run("cd ~~")
    assert tour.out("pwd").startswith("/osh/recent/traces/Receive.respond/tr-taggedself;tg-")
    assert {"request", "self"} <= words(tour.out("ls"))
    tour.run("cd ~~g")
    tour.run("untrace all")
    assert tour.out("trace") == "nothing traced"


def test_pickle_file_and_unpickle(tour, tmp_path):
    db = tmp_path / "trace.db"
    tour.run("cd ~~g")
    tour.run(f"set pickle_file {db}")
    tour.run("trace Receive.respond")
    tour.out("submit(0)")
    saved_id = tour.announced[-1]
    tour.run("untrace Receive.respond")
    tour.run("set pickle_file ''")
    result = tour.run(f"unpickle {db}")
    assert saved_id in result.data["trace_ids"]
    tour.run("cd /osh/pickled/exceptions/Receive.respond")
    assert tour.out("ls") == "ex-ZeroDivisionError"
    tour.run("cd ~~g")


def test_repeat_monitors_requests(tour):
    tour.run("cd ~~g")
    result = tour.run('repeat pr Request_stats["count"]')
    assert result.repeat == 'pr Request_stats["count"]'           # the front end re-runs this
    first = int(tour.out(result.repeat))
    tour.out("submit(5)")
    assert int(tour.out(result.repeat)) == first + 1             # a redraw shows the new request


def test_tutorial_script_runs_in_batch_mode(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), CI="1")
    proc = subprocess.run([sys.executable, str(DEMO), "--port", "0", "--batch", str(ROOT / "demos" / "hello_test.osh"),
                           "--exit-on-stdin-eof"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"Listening on http://127\.0\.0\.1:\d+/", proc.stderr)
    out = proc.stdout
    assert "Tracing Receive.respond" in out
    assert "The reciprocal of 0.0005 is 2000.0" in out
    assert re.search(rf"/osh/recent/exceptions/Receive\.respond/ex-ZeroDivisionError/{TIME}", out)
    assert re.search(rf"/osh/recent/asserts/Receive\.respond/as-num_check/{TIME}", out)
    assert "untraced all" in out
