"""The control plane before login, on both ports (real app in this process, real TCP on 127.0.0.1):
a stranger's connection costs a stream pair (no pygls server, no shell session is built before the
token is accepted), its messages are bounded by MAX_LOGIN_MESSAGE, and past MAX_LOGINS waiting
connections the one that has waited longest is closed, so an editor that logs in at once still
gets in while strangers hold connections open."""

from __future__ import annotations

import socket

import pytest

import otrace_server
from otrace_server.control.auth import MAX_LOGINS
from otrace_server.control.framing import MAX_LOGIN_MESSAGE, frame
from tests.dap.dapclient import DapClient
from tests.lsp.rpc import Client
from tests.support.waiting import wait_for
from tests.tornado_holds.demo_server import DemoServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def started():
    server = DemoServer()
    app = otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=True)
    try:
        yield app
    finally:
        app.stop()
        server.stop()


def _closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_nothing_of_the_protocol_is_built_before_the_token(started):
    app = started
    lsp = app._lsp.endpoint
    stranger = socket.create_connection(("127.0.0.1", app.lsp_port))
    wait_for(lambda: len(lsp.clients) == 1, what="the language server to accept the stranger")
    [waiting] = lsp.clients
    assert waiting.ls is None and waiting.session is None and not waiting.authenticated
    editor = Client(app.lsp_port)
    editor.initialize(app.token, name="editor")
    [logged_in] = [c for c in lsp.clients if c.authenticated]
    assert logged_in.ls is not None and logged_in.session is not None and logged_in.client_name == "editor"
    assert waiting.ls is None
    editor.close()
    stranger.close()


@pytest.mark.parametrize("port", ["lsp", "dap"])
def test_a_login_message_above_the_limit_closes_the_connection_unread(started, port):
    app = started
    sock = socket.create_connection(("127.0.0.1", getattr(app, f"{port}_port")))
    sock.sendall(b"Content-Length: %d\r\n\r\n" % (MAX_LOGIN_MESSAGE + 1))   # the body never comes
    assert _closed_by_peer(sock), "a stranger could make the process wait for a large body"
    sock.close()


@pytest.mark.parametrize("port", ["lsp", "dap"])
def test_past_max_logins_the_longest_waiting_connection_is_closed(started, port):
    app = started
    endpoint = (app._lsp if port == "lsp" else app._dap).endpoint
    number = getattr(app, f"{port}_port")
    strangers = [socket.create_connection(("127.0.0.1", number)) for _ in range(MAX_LOGINS)]
    wait_for(lambda: len(endpoint.clients) == MAX_LOGINS, what="every stranger to be accepted")
    newest = socket.create_connection(("127.0.0.1", number))
    assert _closed_by_peer(strangers[0]), "the longest-waiting stranger was kept"
    wait_for(lambda: endpoint.evicted_logins == 1, what="the eviction to be counted")
    if port == "lsp":     # an editor logging in at once gets in, though strangers wait
        editor = Client(number)
        editor.initialize(app.token)
        assert editor.request("otrace/command", {"line": "pwd"})["cwd"] == "/osh/globals"
        editor.close()
    else:
        debugger = DapClient(number)
        debugger.attach(app.token)
        assert debugger.request("threads") == {"threads": []}
        debugger.close()
    assert not _closed_by_peer(strangers[-1], timeout=0.2)   # the newer ones still wait (until AUTH_TIMEOUT)
    for sock in strangers + [newest]:
        sock.close()


def test_a_login_within_the_limit_still_works_with_large_capabilities(started):
    """An editor's initialize with big capabilities (VS Code's are ~10 KiB) fits the login limit."""
    app = started
    client = Client(app.lsp_port)
    big = {"experimental": {"padding": "x" * 30_000}}
    client.send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"capabilities": big, "initializationOptions": {"token": app.token}}})
    assert "capabilities" in client.wait_response(1)["result"]
    assert len(frame(b"x" * 30_000)) < MAX_LOGIN_MESSAGE
    client.close()


@pytest.mark.parametrize("port", ["lsp", "dap"])
def test_a_strangers_closed_connection_is_freed_at_once(started, port):
    """No reference cycle keeps a client that never logged in (and its read buffers) alive until
    the cyclic garbage collector runs: a flood of such connections must not grow the process."""
    import gc

    from otrace_server.control.client import Client as ControlClient

    app = started
    endpoint = (app._lsp if port == "lsp" else app._dap).endpoint
    number = getattr(app, f"{port}_port")

    def alive() -> int:
        return sum(isinstance(o, ControlClient) for o in gc.get_objects())

    gc.collect()
    before = alive()
    gc.disable()
    try:
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", number))
            sock.sendall(b"Content-Length: %d\r\n\r\n" % (MAX_LOGIN_MESSAGE + 1) + b"x" * 65536)
            assert _closed_by_peer(sock)
            sock.close()
        wait_for(lambda: not endpoint.clients, what="the endpoint to forget the strangers")
        wait_for(lambda: alive() <= before, timeout=5, what="the closed clients to be freed without the cyclic GC")
    finally:
        gc.enable()
