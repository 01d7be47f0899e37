"""What the control-plane TCP endpoints (the language server, the DAP endpoint) share: their
``Content-Length`` framing on asyncio streams and the parsing of its JSON bodies, a client's
buffered output (one write per pass of the loop, bounded), the throttle of per-context
notifications, and an accept loop on otrace's control loop with its client bookkeeping (a client
that has not authenticated within ``AUTH_TIMEOUT`` is closed), worker pool, engine-event
subscription (while a client is connected) and start/stop from another thread.

    body = await read_frame(reader)         # bytes, None at EOF; FramingError, TooLarge
    data = loads(body)                      # ValueError: not JSON (or nested too deeply)
    writer.write(frame(body))

    class MyServer(Endpoint):               # _make_client, _on_event; optional hooks below
        ...
    start_endpoint(server)                  # from any thread but the control thread
    stop_endpoint(server)

A client object (``lsp.connection.Connection``, ``dap.session.Session``, both ``Client``s) has
``serve()`` (a coroutine reading until the client leaves), ``close()`` (idempotent) and
``authenticated`` (set once it proved the token).

Thread-safety: ``start_endpoint``/``stop_endpoint`` may be called from any thread except the
control thread (they wait for it); everything else runs on the control loop, except what is run
through ``Endpoint.in_worker`` (worker threads). A reader/writer pair belongs to one task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
from typing import Any, Callable

__all__ = ["MAX_MESSAGE", "MAX_BUFFERED", "AUTH_TIMEOUT", "CONTEXTS_PER_SECOND", "FramingError", "TooLarge",
           "read_frame", "loads", "frame", "encode", "Client", "Throttle", "context_line", "Endpoint",
           "start_endpoint", "stop_endpoint"]

log = logging.getLogger("otrace")

#: the largest accepted message body, in bytes
MAX_MESSAGE = 8 * 1024 * 1024
#: output waiting for a client that does not read, in bytes, above which the connection is dropped
MAX_BUFFERED = 32 * 1024 * 1024
#: seconds a new connection has to prove the token (LSP ``initialize``, DAP ``attach``)
AUTH_TIMEOUT = 10.0
#: header lines in one header block, at most (LSP and DAP use one or two)
MAX_HEADERS = 16
#: how long starting or stopping an endpoint may take on the control loop, in seconds
TIMEOUT = 5.0
#: recorded contexts told to clients one by one per second, at most; the rest are summed up
CONTEXTS_PER_SECOND = 50

_HEADER = re.compile(rb"^([A-Za-z-]+):\s*(.*?)\s*$")


class FramingError(Exception):
    """The input is not Content-Length framing; the connection cannot continue."""


class TooLarge(Exception):
    """A message body larger than MAX_MESSAGE was skipped (the stream stays usable); ``length``
    is its size in bytes."""

    def __init__(self, length: int) -> None:
        super().__init__(f"message too large ({length} bytes; the limit is {MAX_MESSAGE})")
        self.length = length


async def read_frame(reader: asyncio.StreamReader, skip_large: bool = True) -> bytes | None:
    """The body of the next message, or None at EOF. FramingError for a header block that is not
    framing (a bad header line, more than MAX_HEADERS lines, no or a bad ``Content-Length``);
    TooLarge for a body above MAX_MESSAGE (skipped when ``skip_large``, else left unread: the
    caller closes the connection). Stream errors (``IncompleteReadError``...) propagate."""
    length = None
    for _ in range(MAX_HEADERS + 1):
        line = await reader.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is None:
                raise FramingError("header block without Content-Length")
            break
        m = _HEADER.match(line)
        if m is None:
            raise FramingError(f"bad header {line[:60]!r}")
        if m.group(1).lower() == b"content-length":
            if not m.group(2).isdigit():
                raise FramingError(f"bad Content-Length {m.group(2)[:20]!r}")
            length = int(m.group(2))
    else:
        raise FramingError(f"more than {MAX_HEADERS} header lines")
    if length > MAX_MESSAGE and not skip_large:
        raise TooLarge(length)
    if length > MAX_MESSAGE:
        left = length
        while left > 0:
            chunk = await reader.read(min(left, 1 << 16))
            if not chunk:
                return None
            left -= len(chunk)
        raise TooLarge(length)
    return await reader.readexactly(length)


def loads(body: bytes) -> Any:
    """The JSON value of a message body. ValueError with a one-line message when it is not JSON
    (``the message is not valid JSON``) or is nested too deeply for the parser (which would
    otherwise raise RecursionError: ``the message is nested too deeply``)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("the message is nested too deeply") from None
    except ValueError:   # UnicodeDecodeError included
        raise ValueError("the message is not valid JSON") from None


def frame(body: bytes) -> bytes:
    """The framed bytes of a message body."""
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def encode(message: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """The framed bytes of ``message`` as UTF-8 JSON (``default``: ``json.dumps``' hook for the
    values JSON has no form for)."""
    return frame(json.dumps(message, default=default).encode("utf-8"))


class Client:
    """Base of one connected client of an endpoint: its stream pair, a ``closed`` flag,
    ``authenticated`` (the subclass sets it when the client proved the token), ``write``
    (buffered) and an idempotent ``close()``. Subclasses add ``serve()`` (control loop only)."""

    #: what this client is called in log messages (subclasses set their own)
    client_name = "?"

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed = False
        self.authenticated = False
        self._out: list[bytes] = []

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


def context_line(ctx: Any, more: int = 0) -> str:
    """What a client is told of a recorded context: its id (and exception), and ``more``: how many
    others the ``Throttle`` held back in the last window."""
    text = ctx.id + (f"  {ctx.exc_type}: {ctx.exc_message}" if ctx.exc_type else "")
    if more:
        text += f"  (and {more:,} more in the last second, not sent one by one: ls /osh/recent)"
    return text


class Throttle:
    """At most ``limit`` items per ``window`` seconds pass ``admit``; the others are counted, and
    when the window ends ``overflow(count, last)`` is called once with how many were held back and
    the last of them. A window starts with the first item after a quiet one. Control loop only.

    What keeps a chatty trace (thousands of recorded contexts per second) from costing the control
    thread, the clients and, through the GIL, the application one notification per context."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int, window: float,
                 overflow: Callable[[int, Any], None]) -> None:
        self.loop = loop
        self.limit = limit
        self.window = window
        self.overflow = overflow
        self._admitted = 0
        self._held = 0
        self._last: Any = None
        self._timer: asyncio.TimerHandle | None = None

    def admit(self, item: Any) -> bool:
        """True when ``item`` may be sent now; False when it is counted for the window's summary."""
        if self._timer is None:
            self._timer = self.loop.call_later(self.window, self._end)
        if self._admitted < self.limit:
            self._admitted += 1
            return True
        self._held += 1
        self._last = item
        return False

    def cancel(self) -> None:
        """Forget the current window (no summary); the next item starts a new one."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._admitted, self._held, self._last = None, 0, 0, None

    def _end(self) -> None:
        held, last = self._held, self._last
        self._timer, self._admitted, self._held, self._last = None, 0, 0, None
        if held:
            try:
                self.overflow(held, last)
            except Exception:
                log.exception("otrace: summing up %d held-back notifications failed", held)


class Endpoint:
    """A TCP server on ``app.runtime.control_loop`` with one client object per connection.

    Attributes: ``app``, ``engine``, ``shell``, ``runtime``, ``token``, ``host``, ``requested_port``,
    ``port`` (once started), ``loop`` (the control loop), ``executor`` (the worker pool),
    ``clients`` (the connected client objects). Subclasses provide ``_make_client(reader, writer)``
    and ``_on_event(event)`` (engine events, on the control loop), and may extend ``start``/``stop``
    or override ``_close_client`` (at stop) and ``_client_gone`` (after a client left, not at stop).
    ``contexts`` is a ``Throttle`` for per-context notifications (``CONTEXTS_PER_SECOND``); the
    hook ``_contexts_held(count, last)`` sums up those it held back.

    Engine events are subscribed to only while at least one client is connected (from its
    accept, before it can send anything, to its leaving): with no editor connected, a hold, a
    resume or a traced call costs the control thread nothing, and the engine can queue traced
    calls' contexts (``Engine.record_later``). What a client needs from before it connected it
    asks for (holds, contexts); what outlives events is kept by the engine (``site_counts``).
    """

    #: what a client is called in log messages, e.g. "lsp connection"
    client_kind = "client"

    def __init__(self, app, host: str, port: int, *, workers: int, thread_name_prefix: str) -> None:
        self.app = app
        self.engine = app.engine
        self.shell = app.shell
        self.runtime = app.runtime
        self.token: str = app.token
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.loop: asyncio.AbstractEventLoop = app.runtime.control_loop
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                              thread_name_prefix=thread_name_prefix)
        self.clients: set[Any] = set()
        self.stopping = False
        self._server: asyncio.base_events.Server | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.contexts = Throttle(self.loop, CONTEXTS_PER_SECOND, 1.0, self._contexts_held)

    # ---- hooks -----------------------------------------------------------------------------
    def _make_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Any:
        raise NotImplementedError

    def _on_event(self, event) -> None:
        raise NotImplementedError

    def _contexts_held(self, count: int, last: Any) -> None:
        pass

    async def _close_client(self, client: Any) -> None:
        client.close()

    async def _client_gone(self, client: Any) -> None:
        pass

    # ---- lifecycle (control loop) ----------------------------------------------------------
    async def start(self) -> None:
        """Listen (OSError when the port cannot be bound)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.requested_port, limit=1 << 16)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Unsubscribe, stop listening, close every client, drop the worker pool. Safe after a
        failed or partial ``start``."""
        self.stopping = True
        self._listen(False)
        self.contexts.cancel()
        if self._server is not None:
            self._server.close()
        for client in list(self.clients):
            try:
                await self._close_client(client)
            except Exception:   # one client must not keep the others (or the pool) from closing
                log.exception("otrace: closing a %s client failed", type(self).__name__)
                client.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = self._make_client(reader, writer)
        self.clients.add(client)
        self._listen(not self.stopping)
        deadline = self.loop.call_later(AUTH_TIMEOUT, self._auth_expired, client)
        try:
            await client.serve()
        except Exception:
            log.exception("otrace: %s failed", self.client_kind)
        finally:
            deadline.cancel()
            self.clients.discard(client)
            self._listen(bool(self.clients) and not self.stopping)
            client.close()
            if not self.stopping:
                try:
                    await self._client_gone(client)
                except Exception:
                    log.exception("otrace: cleaning up after a %s failed", self.client_kind)

    def _auth_expired(self, client: Any) -> None:
        """AUTH_TIMEOUT after a connection was accepted: close it if it has not proved the token
        (a connection that never authenticates must not hold a client slot forever)."""
        if not client.authenticated and not client.closed:
            log.warning("otrace: closing a %s that did not authenticate within %g s", self.client_kind, AUTH_TIMEOUT)
            client.close()

    def _listen(self, on: bool) -> None:
        """Subscribe to (``on``) or unsubscribe from the engine's events, if not already so."""
        if on and self._unsubscribe is None:
            self._unsubscribe = self.runtime.subscribe_in_control(self._on_event)
        elif not on and self._unsubscribe is not None:
            self._unsubscribe, unsubscribe = None, self._unsubscribe
            unsubscribe()

    # ---- helpers for clients ---------------------------------------------------------------
    def in_worker(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future:
        """Run ``fn(*args, **kwargs)`` in the worker pool; await the result on the control loop."""
        if kwargs:
            return self.loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))
        return self.loop.run_in_executor(self.executor, fn, *args)


def start_endpoint(endpoint: Endpoint, timeout: float = TIMEOUT) -> None:
    """Run ``endpoint.start()`` on the control loop and wait for it. On any failure the endpoint
    is stopped (nothing is left running) and the failure re-raised (OSError: the port cannot be
    bound). RuntimeError when called on the control thread."""
    runtime = endpoint.runtime
    if runtime.in_control_thread():
        raise RuntimeError("start_server() waits for the control loop: call it from another thread")
    try:
        runtime.call_in_control(endpoint.start(), timeout=timeout)
    except BaseException:
        try:
            runtime.call_in_control(endpoint.stop(), timeout=timeout)
        except Exception:
            pass
        raise


def stop_endpoint(endpoint: Endpoint, timeout: float = TIMEOUT) -> bool:
    """Run ``endpoint.stop()`` on the control loop and wait for it; whether it completed (False:
    the runtime is not running, or the stop failed, which is logged). Any thread but the control
    thread."""
    if not endpoint.runtime.running:
        return False
    try:
        endpoint.runtime.call_in_control(endpoint.stop(), timeout=timeout)
        return True
    except Exception:
        log.exception("otrace: stopping %s failed", type(endpoint).__name__)
        return False
