"""A small raw DAP client over TCP for the tests: the framed socket of ``tests.support.framed``,
responses filed by ``request_seq`` and events kept in order, waits with timeouts."""

from __future__ import annotations

import itertools
from typing import Any, Callable

from tests.support.framed import FramedClient


class DapClient(FramedClient):
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self._seq = itertools.count(1)
        self.responses: dict[int, dict] = {}
        self.events: list[dict] = []
        super().__init__(port, host, timeout)

    def _received(self, message: dict) -> None:
        if message.get("type") == "response":
            self.responses[message["request_seq"]] = message
        else:
            self.events.append(message)

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

    def attach(self, token: str) -> dict:
        caps = self.request("initialize", {"clientID": "test", "adapterID": "otrace", "linesStartAt1": True})
        self.request("attach", {"token": token})
        self.wait_event("initialized")
        self.request("configurationDone")
        return caps
