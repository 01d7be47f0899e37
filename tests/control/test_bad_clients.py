"""The control plane (control/, and the language server and DAP endpoint on it) against a REAL app process
(demos/torna_trace.py, its output captured in a file): malformed framing, bodies and params, clients
that never authenticate, never read or leave mid-message, many clients at once.

The contract checked every time: the attacker gets a clear error (or a clean close), the app keeps
serving HTTP, a request held during the attack is still held and resumable afterwards, and nothing
the attacker sends puts a traceback in the app's output.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from otrace_server.control.auth import AUTH_TIMEOUT
from otrace_server.control.client import MAX_BUFFERED
from otrace_server.control.framing import MAX_HEADERS, MAX_LOGIN_MESSAGE
from tests.dap.dapclient import DapClient
from tests.lsp.conftest import ROOT, _demo_ready
from tests.lsp.rpc import Client, RpcError
from tests.support.processes import end_process

pytestmark = pytest.mark.timeout(90)


class DemoApp:
    """The torna_trace demo with its stderr in a file: ``http``, ``lsp``, ``dap``, ``token``."""

    def __init__(self, tmp) -> None:
        self.stderr_path = tmp / "app-stderr.txt"
        self._stderr = open(self.stderr_path, "w")
        env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp), PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "demos" / "torna_trace.py"), "--port", "0", "--no-console",
             "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=env, text=True, cwd=str(ROOT))
        self.http, self.lsp = _demo_ready(self.proc.stdout)
        info = json.loads((tmp / "otrace" / f"otrace-{self.proc.pid}.json").read_text())
        self.dap, self.token = info["dap_port"], info["token"]
        self.watcher = self.client("watcher")   # sees every holdStarted
        self.watcher.sock.settimeout(None)      # quiet for a while (AUTH_TIMEOUT) is not a failure

    def client(self, name: str = "qa") -> Client:
        c = Client(self.lsp)
        c.initialize(self.token, name=name)
        return c

    def output(self, since: int = 0) -> str:
        """What the app wrote to stderr (from offset ``since``: see ``mark``)."""
        return self.stderr_path.read_text()[since:]

    def mark(self) -> int:
        return len(self.stderr_path.read_text())

    def get(self, query: str, timeout: float = 10) -> bytes:
        return urllib.request.urlopen(f"http://127.0.0.1:{self.http}/?{query}", timeout=timeout).read()

    def stop(self) -> None:
        self.watcher.close()
        end_process(self.proc)
        self._stderr.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    demo = DemoApp(tmp_path_factory.mktemp("xdg"))
    yield demo
    demo.stop()


class Held:
    """A request to /?number=77 held by the demo's traceassert while a test attacks."""

    def __init__(self, app: DemoApp) -> None:
        self.app = app
        self.mark = app.mark()
        self.box: dict = {}
        self.thread = threading.Thread(target=lambda: self.box.update(body=app.get("number=77", 80)), daemon=True)
        self.thread.start()
        self.id = app.watcher.wait_notification("otrace/holdStarted", lambda p: "number=77" in json.dumps(p))["id"]

    def check_survived_and_resume(self) -> None:
        """The app still serves, the hold is still held, and resuming it answers the request."""
        assert b"reciprocal of 4.0" in self.app.get("number=4")
        c = self.app.client("checker")
        assert self.id in [h["id"] for h in c.request("otrace/holds")["holds"]]
        assert c.request("otrace/resume", {"ids": [self.id]}) == {"resumed": [self.id]}
        self.thread.join(10)
        assert b"reciprocal of 77.0" in self.box["body"]
        c.close()
        assert "Traceback" not in self.app.output(self.mark)


@pytest.fixture
def held(app):
    hold = Held(app)
    yield hold
    hold.check_survived_and_resume()


def frame(body: bytes | dict) -> bytes:
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[list[dict], bool]:
    """Send ``data`` on a fresh connection; (the framed JSON messages received, whether the server
    closed the connection) within ``timeout``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(data)
    except OSError:
        pass
    received, closed, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        received += chunk
    sock.close()
    messages = []
    while received:
        header, _, rest = received.partition(b"\r\n\r\n")
        length = int(header.split(b":")[1])
        messages.append(json.loads(rest[:length]))
        received = rest[length:]
    return messages, closed


def init(token) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"capabilities": {}, "initializationOptions": {"token": token}}}


DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_LOGIN = b"[" * 30_000 + b"]" * 30_000   # too deep to parse, yet within MAX_LOGIN_MESSAGE

# (raw bytes before initialize, the error code answered or None, closed)
LSP_GARBAGE = {
    "negative Content-Length": (b"Content-Length: -5\r\n\r\n{}", None),
    "no Content-Length": (b"Content-Type: x\r\n\r\n{}", None),
    "HTTP request": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None),
    "endless header block": (b"X-Junk: 1\r\n" * (MAX_HEADERS + 5), None),
    "header line over 64 KiB": (b"X-" + b"a" * 70_000 + b": 1\r\n\r\n", None),
    "huge Content-Length": (b"Content-Length: 99999999999999999999\r\n\r\n", -32600),
    "Content-Length too short": (b"Content-Length: 5\r\n\r\n" + json.dumps(init("x")).encode(), -32700),
    "not JSON": (frame(b"{not json"), -32700),
    "nested too deeply": (frame(DEEP_LOGIN), -32700),
    "body over the login limit": (frame(b" " * (MAX_LOGIN_MESSAGE + 1)), -32600),
    "JSON but not an object": (frame(b"[1, 2]"), -32600),
    "id that is an object": (frame({"jsonrpc": "2.0", "id": {"a": 1}, "method": "initialize", "params": {}}), -32600),
    "request before initialize": (frame({"jsonrpc": "2.0", "id": 1, "method": "otrace/holds"}), -32002),
    "initialize without params": (frame({"jsonrpc": "2.0", "id": 1, "method": "initialize"}), -32602),
    "no token": (frame(init(None)), -32004),
    "token of the wrong type": (frame(init(12345)), -32004),
    "token with a lone surrogate": (frame(init("\ud800")), -32004),
}


def garbage_before_login(app, port: int, case: str, data: bytes, answered: bool) -> list[dict]:
    """Send ``data`` before logging in: the connection must be closed, with no traceback in the
    app's output; the messages answered (none unless ``answered``)."""
    mark = app.mark()
    messages, closed = exchange(port, data)
    assert closed, f"{case}: the connection stayed open"
    if not answered:
        assert messages == []
    assert "Traceback" not in app.output(mark)
    return messages


@pytest.mark.parametrize("case", LSP_GARBAGE)
def test_lsp_garbage_before_initialize_gets_an_error_or_a_clean_close(app, case):
    data, code = LSP_GARBAGE[case]
    messages = garbage_before_login(app, app.lsp, case, data, answered=code is not None)
    if code is not None:
        assert [m["error"]["code"] for m in messages] == [code]
        assert messages[0]["error"]["message"] and "\n" not in messages[0]["error"]["message"]


def test_lsp_bad_input_after_initialize_is_answered_and_the_connection_stays(app, held):
    c = app.client()
    c.send_raw(frame(DEEP))
    assert c.wait_response(None)["error"] == {"code": -32700, "message": "parse error: the message is nested too deeply"}
    c.send_raw(frame({"jsonrpc": "2.0", "id": [7], "method": "otrace/holds"}))
    assert c.wait_response(None)["error"]["code"] == -32600
    nested = b'{"jsonrpc":"2.0","id":50,"method":"otrace/command","params":{"line":' + b"[" * 900 + b"]" * 900 + b"}}"
    c.send_raw(frame(nested))
    assert c.wait_response(50)["error"] == {"code": -32602, "message": "otrace/command: 'line' must be a string"}
    for params in ({}, {"line": 5}, {"line": "ls", "stdin": 5}, [1]):
        with pytest.raises(RpcError) as err:
            c.request("otrace/command", params)
        assert err.value.code == -32602
    with pytest.raises(RpcError) as err:
        c.request("otrace/complete", {"line": "abc", "cursor": 10**30})
    assert err.value.code == -32602
    with pytest.raises(RpcError) as err:
        c.request("otrace/resume", {"ids": "abc"})
    assert err.value.code == -32602
    with pytest.raises(RpcError) as err:
        c.request("otrace/resume", {"ids": [held.id], "status": 99999})
    assert err.value.code == -32001 and "status" in err.value.message
    with pytest.raises(RpcError) as err:
        c.request("otrace/nope", {})
    assert err.value.code == -32601
    # a command without arguments must never mean "all": the hold stays held
    for arguments in (None, [], [5, None]):
        params = {"command": "otrace.resume"} if arguments is None else {"command": "otrace.resume", "arguments": arguments}
        with pytest.raises(RpcError) as err:
            c.request("workspace/executeCommand", params)
        assert err.value.code == -32602 and "otrace.resumeAll" in err.value.message
    c.notify("textDocument/didOpen", {"textDocument": 5})
    c.notify("textDocument/didChange", {"textDocument": {"uri": "file:///never-opened.py", "version": 2},
                                        "contentChanges": [{"text": "x"}]})
    c.send({"jsonrpc": "2.0", "id": 4242, "result": {"unasked": True}})
    assert c.request("otrace/command", {"line": "pwd"})["cwd"] == "/osh/globals"
    assert not c.closed
    c.close()


def test_lsp_cancel_without_a_request_id_and_requests_after_shutdown(app, held):
    """A ``$/cancelRequest`` whose id is no request's is dropped (it broke pygls: a traceback in the
    app's output and the connection closed); a request after ``shutdown`` gets -32600 (it was never
    answered: its client waited forever)."""
    c = app.client()
    for bad in ({"x": [1]}, [1], None, True, 1.5):
        c.notify("$/cancelRequest", {"id": bad})
    c.notify("$/cancelRequest", [1])
    c.notify("$/cancelRequest", {"id": 424242})   # a request id, of no request: ignored
    assert c.request("otrace/command", {"line": "pwd"})["cwd"] == "/osh/globals"
    assert c.request("shutdown") is None
    for method, params in (("otrace/command", {"line": "pwd"}), ("otrace/holds", {}), ("shutdown", None)):
        response = c.request_raw(method, params)
        assert response["error"] == {"code": -32600, "message": "invalid request after shutdown: only exit is accepted"}
    c.notify("exit")
    assert c.wait_closed()
    assert "Traceback" not in app.output(held.mark)


def test_clients_that_do_not_authenticate_in_time_are_closed(app, held):
    lsp_idle = socket.create_connection(("127.0.0.1", app.lsp), timeout=AUTH_TIMEOUT + 5)
    dap_idle = socket.create_connection(("127.0.0.1", app.dap), timeout=AUTH_TIMEOUT + 5)
    lsp_idle.sendall(b"Content-Length: 100\r\n")            # a header block that never ends
    dap_idle.sendall(frame({"seq": 1, "type": "request", "command": "initialize", "arguments": {}}))
    started = time.monotonic()
    assert lsp_idle.recv(1 << 16) == b""                     # closed without a word
    dap_reply = b""
    while chunk := dap_idle.recv(1 << 16):                   # initialize is answered, then closed
        dap_reply += chunk
    waited = time.monotonic() - started
    assert b'"success": true' in dap_reply
    assert AUTH_TIMEOUT - 1 < waited < AUTH_TIMEOUT + 4
    assert "did not authenticate within" in app.output(held.mark)
    lsp_idle.close()
    dap_idle.close()


def test_a_client_that_never_reads_is_dropped_and_the_others_are_served(app, held):
    sock = socket.create_connection(("127.0.0.1", app.lsp), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(frame(init(app.token)))
    request = frame({"jsonrpc": "2.0", "id": 2, "method": "otrace/command", "params": {"line": "'x' * 100000"}})
    other = app.client("reader")
    sent, dropped = 0, False
    try:   # each answer is ~50 KB: well past MAX_BUFFERED if nothing is read
        for _ in range(2 * MAX_BUFFERED // 50_000):
            sock.sendall(request)
            sent += 1
            if sent % 100 == 0:
                assert other.request("otrace/holds", timeout=10)["holds"]   # others keep being answered
                dropped = "does not read its messages" in app.output(held.mark)
                if dropped:
                    break
    except OSError:   # reset by the server: dropped
        dropped = True
    deadline = time.monotonic() + 20
    while not dropped and time.monotonic() < deadline:
        time.sleep(0.2)
        dropped = "does not read its messages" in app.output(held.mark)
    assert dropped, f"still connected after {sent} unread answers"
    sock.close()
    assert other.request("otrace/command", {"line": "pwd"})["cwd"] == "/osh/globals"
    other.close()


def test_a_client_flooding_requests_does_not_queue_ahead_of_the_others(app, held):
    """One client sends thousands of worker requests at once: another client's request is answered
    long before the flood is worked through (each client has at most MAX_PENDING requests in the
    workers). They all went to the shared pool at once: the other client waited behind the whole
    flood (2,000 requests: 5 s on a quiet machine), and memory grew with the flood."""
    flooder = app.client("flooder")
    flooder.sock.settimeout(None)   # the server reads it only as fast as it answers it
    count = 3000
    flood = b"".join(frame({"jsonrpc": "2.0", "id": f"f{i}", "method": "otrace/testgen", "params": {"traceId": held.id}})
                     for i in range(count))
    other = app.client("other")
    started = time.monotonic()
    threading.Thread(target=flooder.send_raw, args=(flood,), daemon=True).start()
    flooder.wait_response("f0", timeout=30)                 # the flood is being worked on
    asked = time.monotonic()
    assert other.request("otrace/command", {"line": "pr 1"}, timeout=120)["output"] == "1"
    waited = time.monotonic() - asked
    flooder.wait_response(f"f{count - 1}", timeout=120)     # every request of the flood is answered
    flood_time = time.monotonic() - started
    assert waited < flood_time / 4, f"waited {waited:.1f}s behind a flood of {flood_time:.1f}s"
    flooder.close()
    other.close()


def test_clients_leaving_mid_frame_or_mid_answer_change_nothing(app, held):
    for partial in (b"Content-Len", b"Content-Length: 100\r\n\r\n{\"jsonrpc\"", frame(init(app.token)) + b"Content-"):
        sock = socket.create_connection(("127.0.0.1", app.lsp), timeout=5)
        sock.sendall(partial)
        sock.close()
    for _ in range(5):
        c = app.client("leaver")
        c.send({"jsonrpc": "2.0", "id": 99, "method": "otrace/command", "params": {"line": "ls -l /osh/globals"}})
        c.send({"jsonrpc": "2.0", "id": 100, "method": "otrace/holds", "params": {}})
        c.close()
    d = DapClient(app.dap)
    d.attach(app.token)
    d.send_request("threads")
    d.send_raw(b"Content-Length: 50\r\n\r\n{\"seq\"")
    d.close()
    assert app.client("after").request("otrace/command", {"line": "pwd"})["cwd"] == "/osh/globals"


def test_many_clients_at_once(app, held):
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for port in (app.lsp, app.dap) for _ in range(50)]
    results: list = []

    def one(i):
        c = Client(app.lsp)
        c.initialize(app.token, name=f"many{i}")
        results.append([h["id"] for h in c.request("otrace/holds", timeout=30)["holds"]])
        c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 20 and all(held.id in ids for ids in results)
    assert b"reciprocal of 4.0" in app.get("number=4")
    for s in idle:
        s.close()


# ---- DAP --------------------------------------------------------------------------------------------
def dap_request(seq: int, command: str, arguments=None) -> bytes:
    message = {"seq": seq, "type": "request", "command": command}
    if arguments is not None:
        message["arguments"] = arguments
    return frame(message)


# (raw bytes before attach, the error message expected in the response or None, closed)
DAP_GARBAGE = {
    "no Content-Length": (b"Content-Type: x\r\n\r\n{}", None),
    "endless header block": (b"X-Junk: 1\r\n" * (MAX_HEADERS + 5), None),
    "huge Content-Length": (b"Content-Length: 99999999999999\r\n\r\n", "message too large"),
    "not JSON": (frame(b"{x"), "not valid JSON"),
    "nested too deeply": (frame(DEEP_LOGIN), "nested too deeply"),
    "body over the login limit": (frame(b" " * (MAX_LOGIN_MESSAGE + 1)), "message too large"),
    "JSON but not an object": (frame(b"[1]"), "not a JSON object"),
    "an event": (frame({"seq": 1, "type": "event", "event": "x"}), "not a DAP request"),
    "request before attach": (dap_request(1, "threads"), "not attached"),
    "attach without token": (dap_request(1, "attach", {}), "invalid token"),
    "attach with a lone surrogate": (dap_request(1, "attach", {"token": "\ud800"}), "invalid token"),
    "attach arguments not an object": (dap_request(1, "attach", [1]), "arguments must be an object"),
}


def test_a_strangers_client_name_reaches_the_log_as_one_escaped_line(app):
    """DAP's ``initialize`` comes before the token: its clientName, which log lines name, was written
    raw (a stranger could add lines and terminal escapes to the application's log)."""
    mark = app.mark()
    name = "evil\n2026-12-05 otrace: a line the app never wrote\x1b[31m"
    messages, closed = exchange(app.dap, dap_request(1, "initialize", {"clientName": name}) + b"no header\r\n\r\n")
    assert closed and messages[0]["success"]
    out = app.output(mark)
    assert "closing evil\\n2026-12-05 otrace: a line the app never wrote\\x1b[31m: bad header" in out, out
    assert "\x1b" not in out and "\n2026-12-05 otrace: a line" not in out


@pytest.mark.parametrize("case", DAP_GARBAGE)
def test_dap_garbage_before_attach_gets_an_error_or_a_clean_close(app, case):
    data, expected = DAP_GARBAGE[case]
    messages = garbage_before_login(app, app.dap, case, data, answered=expected is not None)
    if expected is not None:
        assert len(messages) == 1 and messages[0]["success"] is False and expected in messages[0]["message"]


def test_dap_bad_requests_get_clear_errors_and_a_disconnect_leaves_holds_held(app, held):
    d = DapClient(app.dap)
    d.attach(app.token)
    d.request("configurationDone")
    thread = d.wait_event("stopped", lambda b: b.get("text") == held.id)["threadId"]

    def fails(command, arguments, text):
        response = d.request_raw(command, arguments)
        assert response["success"] is False and text in response["message"], response
        assert "\n" not in response["message"]

    fails("stackTrace", {"threadId": thread, "startFrame": "x"}, "non-negative integers")
    fails("stackTrace", {"threadId": thread, "levels": -1}, "non-negative integers")
    fails("stackTrace", {"threadId": 9999}, "no held request with thread id 9999")
    fails("scopes", {"frameId": 1.5}, "bad frameId")
    fails("scopes", {"frameId": 9999 * 1000}, "no held request")
    fails("variables", {"variablesReference": 123456}, "unknown variablesReference")
    fails("variables", {"variablesReference": 1, "start": "x"}, "non-negative integers")
    fails("evaluate", {"expression": 5}, "must be a string")
    fails("evaluate", {"expression": "1" + "+1" * 100_000}, "RecursionError")
    fails("continue", {"threadId": 9999}, "no held request")
    fails("continue", {}, "no held request")
    fails("pause", {"threadId": thread}, "does not stop a running server")
    fails("terminate", {}, "never terminates")
    fails("bogus", {}, "unsupported request")
    fails("setBreakpoints", {"source": {"path": 5}}, "source.path is required")
    for path in ("/tmp/a\0b.py", "/tmp/a\ud800b.py"):   # were os.path's errors, logged with their traceback
        fails("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": 1}]}, "source.path has a ")
    fails("setBreakpoints", {"source": {"path": str(ROOT / "demos" / "torna_trace.py")},   # was 85 s under
                             "breakpoints": [{"line": 1}] * 100_000},                   # the breakpoints' lock
          "setBreakpoints: 100,000 breakpoints in one file; at most 1,000")
    fifo = app.stderr_path.with_name("fifo.py")   # was read under the breakpoints' lock: every client blocked
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/null"):
        [point] = d.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": 1}]})["breakpoints"]
        assert (point["verified"], point["message"]) == (False, f"{path} is not a regular file")
    fails("setBreakpoints", {"source": {"path": str(ROOT / "demos" / "torna_trace.py")}, "lines": "abc"},
          "'lines' must be a list")
    fails("setExceptionBreakpoints", {"filters": "traced"}, "must be a list")
    d.send_raw(frame(DEEP))
    assert "nested too deeply" in d.wait_response(0)["message"]
    frames = d.request("stackTrace", {"threadId": thread})["stackFrames"]   # the session still works
    assert frames and frames[0]["name"] == "get"
    d.request("disconnect", {"terminateDebuggee": True})
    assert d.wait_closed()
    # held.check_survived_and_resume (the fixture) resumes it from the LSP afterwards
