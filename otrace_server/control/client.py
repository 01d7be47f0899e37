"""One connected control-plane client, whatever its protocol: its stream pair, its buffered output
and the read loop that frames its messages. The protocol modules subclass ``Client``
(``lsp.client.LspClient``, ``dap.client.DapClient``) and provide ``handle_body`` (one message
body) and ``answer_too_large`` (the protocol's error for a body above the limit).

The read loop (``serve``) is the same for every protocol: before the client proved the token a body
may be at most ``framing.MAX_LOGIN_MESSAGE`` bytes and a larger one closes the connection unread;
after it, ``framing.MAX_MESSAGE``, and a larger one is skipped and answered. Garbage that is not
framing closes the connection; so does the client leaving mid-message.

Thread-safety: control loop only (``write`` too: it schedules the flush on the running loop).
"""

from __future__ import annotations

import asyncio
import logging

from otrace_server.control.framing import MAX_LOGIN_MESSAGE, MAX_MESSAGE, FramingError, TooLarge, read_frame

__all__ = ["Client", "MAX_BUFFERED"]

log = logging.getLogger("otrace")

#: output waiting for a client that does not read, in bytes, above which the connection is dropped
MAX_BUFFERED = 32 * 1024 * 1024


class Client:
    """Base of one connected client of an endpoint: its stream pair, a ``closed`` flag,
    ``authenticated`` (the subclass sets it when the client proved the token), ``write``
    (buffered), an idempotent ``close()`` and the read loop ``serve()``."""

    #: what this client is called in log messages (subclasses and logins set their own)
    client_name = "?"
    #: the protocol, in log messages ("lsp", "dap")
    protocol_name = "control"

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed = False
        self.authenticated = False
        self._out: list[bytes] = []

    # ---- protocol hooks ----------------------------------------------------------------------
    async def handle_body(self, body: bytes) -> None:
        """Handle one message body (the protocol's parsing and dispatch). Control loop."""
        raise NotImplementedError

    def answer_too_large(self, error: TooLarge) -> None:
        """Tell the client its message was too large (the protocol's error answer)."""
        raise NotImplementedError

    # ---- the read loop -------------------------------------------------------------------------
    async def serve(self) -> None:
        """Read and handle messages until the client leaves, sends garbage or is closed."""
        try:
            while not self.closed:
                limit = MAX_MESSAGE if self.authenticated else MAX_LOGIN_MESSAGE
                try:
                    body = await read_frame(self.reader, skip_large=self.authenticated, limit=limit)
                except TooLarge as exc:
                    self.answer_too_large(exc)
                    if not self.authenticated:   # the body was left unread: nothing more is read
                        self.close()
                    continue
                if body is None:
                    break
                await self.handle_body(body)
        except FramingError as exc:
            log.warning("otrace %s: closing %s: %s", self.protocol_name, self.client_name, exc)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass   # ValueError: a header line longer than the stream's limit (garbage, not a client)
        finally:
            self.close()

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

    def flush(self) -> None:
        """Write what ``write`` buffered now (``close`` does it first). A client that lets more
        than MAX_BUFFERED bytes wait (it does not read) is dropped: its output must not grow the
        process's memory without bound."""
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            if not self.writer.is_closing():
                self.writer.write(data)
                if self.writer.transport.get_write_buffer_size() > MAX_BUFFERED:
                    log.warning("otrace: dropping %s: it does not read its messages (over %d bytes waiting)",
                                self.client_name, MAX_BUFFERED)
                    self.closed = True
                    self.writer.transport.abort()

    def close(self) -> None:
        """Close this connection only (the server and the app keep running); idempotent. What was
        written before is sent first."""
        if not self.closed:
            self.flush()
            self.closed = True
            self.writer.close()
