"""A small raw JSON-RPC (LSP framing) client over a TCP socket, for tests and the benchmark.

A reader thread collects responses (by id) and notifications (in order); ``request`` waits for
its response with a timeout, ``wait_notification`` waits for a notification matching a predicate.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from typing import Any, Callable


class RpcError(Exception):
    def __init__(self, error: dict) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message")


class Client:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self.responses: dict[Any, dict] = {}
        self.notifications: list[dict] = []
        self.requests_from_server: list[dict] = []
        self.closed = False
        self._file = self.sock.makefile("rb")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    # ---- wire ---------------------------------------------------------------------------------
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
                    if "method" in msg and "id" in msg:
                        self.requests_from_server.append(msg)
                        self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                    elif "method" in msg:
                        self.notifications.append(msg)
                    else:
                        self.responses[msg.get("id")] = msg
                    self._cond.notify_all()
        except (EOFError, OSError, ValueError):
            pass
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    # ---- API ----------------------------------------------------------------------------------
    def request_raw(self, method: str, params: Any = None, timeout: float | None = None) -> dict:
        msg_id = next(self._ids)
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.wait_response(msg_id, timeout)

    def wait_response(self, msg_id: Any, timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while msg_id not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise TimeoutError(f"no response to {msg_id} (closed={self.closed})")
                self._cond.wait(left)
            return self.responses.pop(msg_id)

    def request(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        response = self.request_raw(method, params, timeout)
        if "error" in response:
            raise RpcError(response["error"])
        return response["result"]

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_notification(self, method: str, pred: Callable[[dict], bool] = lambda p: True,
                          timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while True:
                for i, n in enumerate(self.notifications):
                    if n["method"] == method and pred(n.get("params")):
                        del self.notifications[i]
                        return n["params"]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {method} notification")
                self._cond.wait(left)

    def wait_closed(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.closed and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return self.closed

    def initialize(self, token: str | None, name: str = "test-client", capabilities: dict | None = None) -> dict:
        options = {"token": token} if token is not None else {}
        result = self.request("initialize", {"processId": None, "rootUri": None,
                                             "capabilities": capabilities or {},
                                             "clientInfo": {"name": name}, "initializationOptions": options})
        self.notify("initialized", {})
        return result

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
