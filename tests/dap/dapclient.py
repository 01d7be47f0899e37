"""A small raw DAP client over TCP for the tests: Content-Length framing, a reader thread that
files responses by ``request_seq`` and events in order, waits with timeouts."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from typing import Any, Callable


class DapClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self._seq = itertools.count(1)
        self._cond = threading.Condition()
        self.responses: dict[int, dict] = {}
        self.events: list[dict] = []
        self.closed = False
        self._file = self.sock.makefile("rb")
        threading.Thread(target=self._read, daemon=True).start()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def _read(self) -> None:
        try:
            while True:
                length = None
                while True:
                    line = self._file.readline()
                    if not line:
                        raise EOFError
                    if line == b"\r\n":
                        break
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                msg = json.loads(self._file.read(length))
                with self._cond:
                    if msg.get("type") == "response":
                        self.responses[msg["request_seq"]] = msg
                    else:
                        self.events.append(msg)
                    self._cond.notify_all()
        except (EOFError, OSError, ValueError):
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def _wait(self, pred: Callable[[], Any], timeout: float | None, what: str) -> Any:
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while True:
                value = pred()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout or self.timeout}s")
                self._cond.wait(left)

    def send_request(self, command: str, arguments: Any = None) -> int:
        """Send a request without waiting; returns its seq (see ``wait_response``)."""
        seq = next(self._seq)
        msg = {"seq": seq, "type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        self.send(msg)
        return seq

    def wait_response(self, seq: int, timeout: float | None = None) -> dict:
        return self._wait(lambda: self.responses.get(seq), timeout, f"response to request {seq}")

    def request_raw(self, command: str, arguments: Any = None, timeout: float | None = None) -> dict:
        """Send a request and return its response message (success or not)."""
        return self.wait_response(self.send_request(command, arguments), timeout)

    def request(self, command: str, arguments: Any = None, timeout: float | None = None) -> dict:
        """Send a request and return its body; AssertionError when it fails."""
        response = self.request_raw(command, arguments, timeout)
        assert response["success"], f"{command} failed: {response.get('message')}"
        return response.get("body") or {}

    def wait_event(self, name: str, pred: Callable[[dict], bool] = lambda b: True, timeout: float | None = None,
                   after: int = 0) -> dict:
        """The body of the first event ``name`` (from index ``after``) whose body matches ``pred``."""
        def find():
            for e in self.events[after:]:
                if e.get("event") == name and pred(e.get("body") or {}):
                    return e.get("body") or {"_": True}
            return None
        return self._wait(find, timeout, f"event {name}")

    def wait_closed(self, timeout: float = 5.0) -> bool:
        return self._wait(lambda: self.closed, timeout, "close")

    def attach(self, token: str) -> dict:
        caps = self.request("initialize", {"clientID": "test", "adapterID": "otrace", "linesStartAt1": True})
        self.request("attach", {"token": token})
        self.wait_event("initialized")
        self.request("configurationDone")
        return caps

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
