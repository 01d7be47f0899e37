"""bench/control_latency.py's baseline thread (the floor): it answers every framed request, however
the requests arrive, writing each answer as the control transport writes one (``send_now``,
keeping the GIL) unless asked for ``socket.sendall`` (diagnosis); ``--order`` names each request
once."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import control_latency  # noqa: E402


def _request(n: int) -> bytes:
    body = b'{"jsonrpc": "2.0", "id": %d, "method": "x"}' % n
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.mark.parametrize("sendall", [False, True])
def test_the_floor_answers_each_request_with_send_now_unless_asked_for_sendall(monkeypatch, sendall):
    sent: list[bytes] = []
    send_now = control_latency.send_now

    def recording(sock, data):
        sent.append(data)
        return send_now(sock, data)

    monkeypatch.setattr(control_latency, "send_now", recording)
    listener = socket.create_server(("127.0.0.1", 0))
    floor = threading.Thread(target=control_latency.floor, args=(listener, sendall), daemon=True)
    floor.start()
    client = socket.create_connection(listener.getsockname(), timeout=10)
    try:
        client.sendall(_request(1) + _request(2))   # two in one segment...
        third = _request(3)
        client.sendall(third[:10])                  # ...and one cut in two
        answers = b""
        while answers.count(b"Content-Length") < 2:
            answers += client.recv(4096)
        client.sendall(third[10:])
        while answers.count(b"Content-Length") < 3:
            answers += client.recv(4096)
        assert answers.count(b'"result": null') == 3
        assert len(sent) == (0 if sendall else 3)
    finally:
        client.close()
        floor.join(10)
        listener.close()
    assert not floor.is_alive()   # the client left: the floor's thread ends


def test_order_must_name_each_request_once(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["control_latency.py", "--order", "pwd,pwd,holds,floor"])
    with pytest.raises(SystemExit) as exit_:
        control_latency.main()
    assert exit_.value.code == 2
    assert "--order: each of pwd, ls /osh, holds, floor once" in capsys.readouterr().err
