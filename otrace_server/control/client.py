"""One connected control-plane client, whatever its protocol: the connection's protocol object
(``asyncio.Protocol``), its framing of the messages as they arrive, its buffered output. The
protocol modules subclass ``Client`` (``lsp.client.LspClient``, ``dap.client.DapClient``) and
provide ``handle_body`` (one message body) and ``answer_too_large`` (the protocol's error for a
body above the limit).

Reading is the same for every protocol: the bytes the transport hands to ``data_received`` are
framed there (``framing.FrameParser``) and each whole message goes to ``handle_body`` in the same
callback, in order. No coroutine sits between the socket and the handler: a request the protocol
can answer at once is answered in the callback that read it, within the loop's pass that woke up
for it (every further pass would release the GIL again: ``docs/performance.md``). A handler that
must wait (a worker, another request) returns an awaitable, and the connection's next message is
handled once it is done; meanwhile what arrives is kept, and reading pauses above ``READ_AHEAD``
bytes kept. Before the client proved the token a body may be at most ``framing.MAX_LOGIN_MESSAGE``
bytes and a larger one closes the connection unread; after it, ``framing.MAX_MESSAGE``, and a
larger one is skipped and answered. Garbage that is not framing closes the connection; so does
the client leaving (mid-message or not: what it sent whole is handled first).

    client = MyClient()                     # the protocol factory of loop.create_server
    await client.serve()                    # until the connection ends, either side closing it

Thread-safety: control loop only (``write`` too: it schedules the flush on the running loop).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable

from otrace_server.control.framing import MAX_LOGIN_MESSAGE, MAX_MESSAGE, FrameParser, FramingError, TooLarge

__all__ = ["Client", "MAX_BUFFERED", "READ_AHEAD"]

log = logging.getLogger("otrace")

#: output waiting for a client that does not read, in bytes, above which the connection is dropped
MAX_BUFFERED = 32 * 1024 * 1024
#: input kept while a handler waits, in bytes, above which the connection is not read until it is done
READ_AHEAD = 128 * 1024


class Client(asyncio.Protocol):
    """Base of one connected client of an endpoint: the protocol of its connection
    (``transport`` once connected), a ``closed`` flag, ``authenticated`` (the subclass sets it
    when the client proved the token), ``write`` (buffered per pass) and ``send`` (at once), an
    idempotent ``close()`` and ``serve()`` (waits for the end of the connection)."""

    #: what this client is called in log messages (subclasses and logins set their own)
    client_name = "?"
    #: the protocol, in log messages ("lsp", "dap")
    protocol_name = "control"

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.authenticated = False
        self._out: list[bytes] = []
        self._frames = FrameParser()
        self._waiting: asyncio.Future | None = None   # a handler's awaitable: the next message waits for it
        self._paused = False    # reading paused (READ_AHEAD kept while waiting)
        self._eof = False
        self._ended = asyncio.get_running_loop().create_future()

    # ---- protocol hooks ----------------------------------------------------------------------
    def handle_body(self, body: bytes) -> Awaitable[Any] | None:
        """Handle one message body (the protocol's parsing and dispatch). Control loop, in the
        callback that read it. None: done with it; an awaitable (a coroutine, a future): the
        connection's next message is handled once it completed."""
        raise NotImplementedError

    def answer_too_large(self, error: TooLarge) -> None:
        """Tell the client its message was too large (the protocol's error answer)."""
        raise NotImplementedError

    @staticmethod
    def next_pass() -> asyncio.Future:
        """An awaitable for ``handle_body`` to return when the loop must run one pass (its other
        clients, events) before the connection's next message."""
        loop = asyncio.get_running_loop()
        passed = loop.create_future()
        loop.call_soon(passed.set_result, None)
        return passed

    # ---- the connection (asyncio.Protocol) -------------------------------------------------------
    async def serve(self) -> None:
        """Wait until the connection ends: the client left, sent garbage or was closed."""
        await asyncio.shield(self._ended)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport   # type: ignore[assignment]
        if self.closed:   # closed before the transport came (an endpoint stopping)
            transport.close()

    def data_received(self, data: bytes) -> None:
        self._frames.feed(data)
        if self._waiting:
            if not self._paused and self._frames.buffered > READ_AHEAD:
                self._paused = True
                self.transport.pause_reading()
        else:
            self._handle_messages()

    def eof_received(self) -> bool:
        self._eof = True
        if not self._waiting:
            self.close()   # what came whole was handled; a message cut short is dropped
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._out.clear()
        if not self._ended.done():
            self._ended.set_result(None)

    def _handle_messages(self) -> None:
        """Frame and handle the messages received, in order, until input runs out or a handler
        must be waited for."""
        try:
            while not self.closed and not self._waiting:
                limit = MAX_MESSAGE if self.authenticated else MAX_LOGIN_MESSAGE
                try:
                    body = self._frames.next(limit, skip_large=self.authenticated)
                except TooLarge as exc:
                    self.answer_too_large(exc)
                    if not self.authenticated:   # the body is left unread: nothing more is read
                        self.close()
                    continue
                if body is None:
                    break
                pending = self.handle_body(body)
                if pending is not None:
                    self._waiting = asyncio.ensure_future(pending)
                    self._waiting.add_done_callback(self._handled)
        except FramingError as exc:
            log.warning("otrace %s: closing %s: %s", self.protocol_name, self.client_name, exc)
            self.close()
        except Exception:
            log.exception("otrace %s: handling a message of %s failed", self.protocol_name, self.client_name)
            self.close()
        else:
            if not self._waiting and not self.closed:
                if self._eof:
                    self.close()
                elif self._paused:
                    self._paused = False
                    self.transport.resume_reading()

    def _handled(self, done: asyncio.Future) -> None:
        """A handler's awaitable completed: on with the next message."""
        self._waiting = None
        if done.cancelled():
            self.close()
        elif done.exception() is not None:
            log.error("otrace %s: handling a message of %s failed", self.protocol_name, self.client_name,
                      exc_info=done.exception())
            self.close()
        else:
            self._handle_messages()

    # ---- output --------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send ``data`` (framed messages) to the client. Everything written during one pass of
        the control loop goes out in one write at its end, in order: a burst of 1,000
        notifications is one send, not 1,000. Dropped once closed. Control loop only."""
        if self.closed:
            return
        if not self._out:
            asyncio.get_running_loop().call_soon(self.flush)
        self._out.append(data)

    def send(self, data: bytes) -> None:
        """Send ``data`` now, after what ``write`` buffered (an answer: not at the end of the
        loop's pass, and without scheduling a pass of its own: each pass releases the GIL, which
        the application may then keep for a switch interval). Dropped once closed."""
        if self._out:
            self._out.append(data)
            self.flush()
        elif not self.closed:
            self._transmit(data)

    def flush(self) -> None:
        """Write what ``write`` buffered now (``close`` does it first)."""
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self._transmit(data)

    def _transmit(self, data: bytes) -> None:
        """To the transport (which sends at once what the socket takes). A client that lets more
        than MAX_BUFFERED bytes wait (it does not read) is dropped: its output must not grow the
        process's memory without bound."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > MAX_BUFFERED:
            log.warning("otrace: dropping %s: it does not read its messages (over %d bytes waiting)",
                        self.client_name, MAX_BUFFERED)
            self.closed = True
            transport.abort()

    def close(self) -> None:
        """Close this connection only (the server and the app keep running); idempotent. What was
        written before is sent first."""
        if not self.closed:
            self.flush()
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            elif not self._ended.done():
                self._ended.set_result(None)
