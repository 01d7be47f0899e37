"""A Content-Length framed JSON client over TCP (the framing of LSP and DAP), for tests and the
benchmark: a reader thread parses each message and hands it to ``_received`` under a condition;
``_wait`` waits on that condition with a timeout. ``tests.lsp.rpc.Client`` (JSON-RPC) and
``tests.dap.dapclient.DapClient`` (DAP) add their protocol on top.

Thread-safety: ``send`` may be called from any thread; ``_received`` runs on the reader thread with
``_cond`` held, and the waiting helpers read the collected messages under the same condition.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Callable

__all__ = ["FramedClient"]


class FramedClient:
    """One TCP connection speaking ``Content-Length: N\\r\\n\\r\\n`` + N bytes of JSON."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self._cond = threading.Condition()
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

    def _received(self, message: dict) -> None:
        """File one message from the server (reader thread, ``_cond`` held): the subclass's part."""
        raise NotImplementedError

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
                message = json.loads(self._file.read(length))
                with self._cond:
                    self._received(message)
                    self._cond.notify_all()
        except (EOFError, OSError, ValueError):
            pass
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    # ---- waiting ------------------------------------------------------------------------------
    def _wait(self, predicate: Callable[[], Any], timeout: float | None, what: str) -> Any:
        """The first true value of ``predicate()`` (called with ``_cond`` held, again after every
        message); TimeoutError("no <what> within <timeout>s") when none comes in time."""
        timeout = timeout or self.timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout}s")
                self._cond.wait(left)

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """Whether the server closed the connection within ``timeout`` seconds."""
        try:
            return self._wait(lambda: self.closed, timeout, "close")
        except TimeoutError:
            return False

    def close(self) -> None:
        """Close the connection: shut it down first, so the peer sees EOF even while the reader
        thread is still blocked in ``recv`` on this socket (a bare ``close`` would not send it)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
