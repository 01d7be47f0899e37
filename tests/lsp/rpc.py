"""A small raw JSON-RPC (LSP framing) client over a TCP socket, for tests and the benchmark.

The framed socket and its reader thread are ``tests.support.framed``; here responses are collected
by id, notifications in order, and requests from the server are answered with a null result.
``request`` waits for its response with a timeout, ``wait_notification`` waits for a notification
matching a predicate.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

from tests.support.framed import FramedClient


class RpcError(Exception):
    def __init__(self, error: dict) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message")


class Client(FramedClient):
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self._ids = itertools.count(1)
        self.responses: dict[Any, dict] = {}
        self.notifications: list[dict] = []
        self.requests_from_server: list[dict] = []
        self.messages: list[dict] = []   # every message from the server, in the order it came
        super().__init__(port, host, timeout)

    def _received(self, message: dict) -> None:
        self.messages.append(message)
        if "method" in message and "id" in message:
            self.requests_from_server.append(message)
            self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        elif "method" in message:
            self.notifications.append(message)
        else:
            self.responses[message.get("id")] = message

    # ---- API ----------------------------------------------------------------------------------
    def request_raw(self, method: str, params: Any = None, timeout: float | None = None) -> dict:
        msg_id = next(self._ids)
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.wait_response(msg_id, timeout)

    def wait_response(self, msg_id: Any, timeout: float | None = None) -> dict:
        """The response to ``msg_id`` (taken out of ``responses``); TimeoutError when none comes in
        time or the connection closes first."""
        def take():
            if msg_id in self.responses:
                return self.responses.pop(msg_id)
            if self.closed:
                raise TimeoutError(f"no response to {msg_id} (closed=True)")
            return None
        return self._wait(take, timeout, f"response to {msg_id}")

    def request(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        response = self.request_raw(method, params, timeout)
        if "error" in response:
            raise RpcError(response["error"])
        return response["result"]

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_notification(self, method: str, pred: Callable[[dict], bool] = lambda p: True,
                          timeout: float | None = None) -> dict:
        """The params of the first notification ``method`` matching ``pred`` (taken out of
        ``notifications``)."""
        def take():
            for i, n in enumerate(self.notifications):
                if n["method"] == method and pred(n.get("params")):
                    del self.notifications[i]
                    return {"params": n["params"]}
            return None
        return self._wait(take, timeout, f"{method} notification")["params"]

    def initialize(self, token: str | None, name: str = "test-client", capabilities: dict | None = None) -> dict:
        options = {"token": token} if token is not None else {}
        result = self.request("initialize", {"processId": None, "rootUri": None,
                                             "capabilities": capabilities or {},
                                             "clientInfo": {"name": name}, "initializationOptions": options})
        self.notify("initialized", {})
        return result
