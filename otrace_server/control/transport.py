"""The control plane's TCP connections: an ``asyncio.Transport`` on the control loop that reads and
writes its socket without giving the GIL up (issue 21, goal 3).

    server = await listen(loop, protocol_factory, "127.0.0.1", 0)   # OSError: cannot bind
    server.sockets[0].getsockname()[1]                              # the bound port
    server.close()                                                  # stop accepting

Why: every socket call of Python (``socket.recv``, ``send``, asyncio's own transports) gives the
GIL up around its system call, and while an application thread wants the GIL (a handler spinning
in Python) taking it back may wait a switch interval (``sys.getswitchinterval()``, 5 ms by
default): the control thread waits once anyway to run at all after ``epoll_wait`` returns; each
further release on the way of a request is one more chance to wait another interval (about one
request in twenty lost it at the ``recv`` alone on a busy machine). Here the socket is
non-blocking and ``recv``/``send`` are the C library's, called through ``ctypes.PyDLL`` (which
keeps the GIL during the call) with ``MSG_DONTWAIT``: they return at once, data or not, so the
request is read, answered and its answer written within the one wake-up of the control thread.
Where the C library cannot be called that way (no ``ctypes``), the socket's own methods are used;
where the loop cannot watch a file descriptor (``add_reader``: a proactor loop), ``listen`` is
``loop.create_server`` (asyncio's transports). Only the first attempt to send an answer keeps the
GIL; the rest of an answer the socket could not take at once is sent when the socket is writable
(by ``socket.send``, as is an answer over ``READ_SIZE`` bytes: large answers are not
latency-bound).

The transport does what ``control.client.Client`` uses of one: ``write`` (sent at once, the rest
buffered), ``get_write_buffer_size``, ``pause_reading``/``resume_reading``, ``close`` (after what
is buffered), ``abort``, ``is_closing``, ``get_extra_info`` (``socket``, ``peername``,
``sockname``); it calls the protocol's ``connection_made``, ``data_received``, ``eof_received``
(closed unless it returns True) and ``connection_lost``, never ``pause_writing``.
``send_now(sock, data)`` is its first send on its own, for a thread that answers on a socket of
its own the same way (``bench/control_latency.py``'s baseline thread).

Thread-safety: a listener and its connections belong to the loop that made them (the control
loop); nothing here may be called from another thread.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import threading
from typing import Any, Callable

try:
    import ctypes
except ImportError:   # an interpreter built without ctypes: the socket's own methods
    ctypes = None   # type: ignore[assignment]

__all__ = ["listen", "Listener", "Connection", "send_now", "READ_SIZE", "KEEPS_GIL"]

log = logging.getLogger("otrace")

#: the most bytes read by one ``recv``
READ_SIZE = 256 * 1024
#: connections accepted per wake-up of the listener, at most
_ACCEPTS = 100
_AGAIN = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)
_RECV_FLAGS = getattr(socket, "MSG_DONTWAIT", 0)
_SEND_FLAGS = _RECV_FLAGS | getattr(socket, "MSG_NOSIGNAL", 0)


def _libc_calls() -> tuple[Any, Any]:
    """The C library's ``recv`` and ``send``, called keeping the GIL, or (None, None)."""
    if ctypes is None or not _RECV_FLAGS:
        return None, None
    try:
        libc = ctypes.PyDLL(None, use_errno=True)
        recv, send = libc.recv, libc.send
    except (OSError, AttributeError):
        return None, None
    recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    recv.restype = ctypes.c_ssize_t
    send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    send.restype = ctypes.c_ssize_t
    return recv, send


_recv_call, _send_call = _libc_calls()
#: whether reads and first sends keep the GIL here (False: the socket's own methods are used)
KEEPS_GIL = _recv_call is not None
_buffers = threading.local()   # each loop thread's recv buffer (READ_SIZE bytes)


def _recv(sock: socket.socket) -> bytes | None:
    """What the socket has (b"" at EOF), None when nothing now. OSError for a broken connection."""
    if _recv_call is None:
        try:
            return sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
    buffer = getattr(_buffers, "recv", None)
    if buffer is None:
        buffer = _buffers.recv = ctypes.create_string_buffer(READ_SIZE)
    count = _recv_call(sock.fileno(), buffer, READ_SIZE, _RECV_FLAGS)
    if count < 0:
        code = ctypes.get_errno()
        if code in _AGAIN:
            return None
        raise OSError(code, os.strerror(code))
    return ctypes.string_at(buffer, count)


def send_now(sock: socket.socket, data: bytes) -> int:
    """Bytes of ``data`` the socket took now (0: none): the C library's ``send`` with
    ``MSG_DONTWAIT``, keeping the GIL (``KEEPS_GIL``). Else, and above ``READ_SIZE`` bytes,
    ``sock.send``, which gives the GIL up (for a large answer, the copy into the kernel: it is
    not latency-bound and the application's threads should not wait for it), and waits on a
    blocking socket. OSError for a broken connection. Any thread, on a socket it alone writes."""
    if _send_call is None or len(data) > READ_SIZE:
        try:
            return sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
    count = _send_call(sock.fileno(), data, len(data), _SEND_FLAGS)
    if count < 0:
        code = ctypes.get_errno()
        if code in _AGAIN:
            return 0
        raise OSError(code, os.strerror(code))
    return count


class Connection(asyncio.Transport):
    """One accepted TCP connection (see the module doc); ``protocol`` gets ``connection_made``
    and the first read in the loop's next pass."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: asyncio.Protocol) -> None:
        extra: dict[str, Any] = {"socket": sock}
        try:
            extra["peername"], extra["sockname"] = sock.getpeername(), sock.getsockname()
        except OSError:
            pass
        super().__init__(extra)
        self._loop = loop
        self._sock: socket.socket | None = sock
        self._fd = sock.fileno()
        self._protocol: asyncio.Protocol | None = protocol
        self._out = bytearray()    # what the socket did not take yet
        self._closing = False
        self._reading = True
        self._lost = False
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._watch_reads)

    # ---- reading -------------------------------------------------------------------------------
    def _watch_reads(self) -> None:
        if self._reading and not self._closing:
            self._loop.add_reader(self._fd, self._read_ready)

    def _read_ready(self) -> None:
        try:
            data = _recv(self._sock)
        except OSError as exc:
            self._force_close(exc)
            return
        if data is None:
            return
        if data:
            self._protocol.data_received(data)
            return
        self._loop.remove_reader(self._fd)
        self._reading = False
        if not self._protocol.eof_received():
            self.close()

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        if self._reading and not self._closing:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._reading and not self._closing:
            self._reading = True
            self._loop.add_reader(self._fd, self._read_ready)

    # ---- writing -------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send ``data`` now, as much as the socket takes; the rest when it can take more.
        Ignored once closing."""
        if self._closing or not data:
            return
        if not self._out:
            if type(data) is not bytes:
                data = bytes(data)
            try:
                sent = send_now(self._sock, data)
            except OSError as exc:
                self._force_close(exc)
                return
            if sent == len(data):
                return
            data = data[sent:]
            self._loop.add_writer(self._fd, self._write_ready)
        self._out += data

    def _write_ready(self) -> None:
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._force_close(exc)
            return
        del self._out[:sent]
        if not self._out:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._loop.call_soon(self._finish, None)

    def get_write_buffer_size(self) -> int:
        return len(self._out)

    def can_write_eof(self) -> bool:
        return False

    # ---- closing -------------------------------------------------------------------------------
    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Stop reading; close once what is buffered was sent (``connection_lost(None)``)."""
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        if not self._out:
            self._loop.call_soon(self._finish, None)

    def abort(self) -> None:
        """Close now, dropping what is buffered."""
        self._force_close(None)

    def _force_close(self, exc: Exception | None) -> None:
        if exc is not None:
            log.debug("otrace: a control-plane connection broke: %s", exc)
        self._out.clear()
        self._closing = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._loop.call_soon(self._finish, exc)

    def _finish(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._loop.remove_writer(self._fd)
        protocol, sock = self._protocol, self._sock
        self._protocol = self._sock = None   # no cycle with the protocol once closed
        try:
            protocol.connection_lost(exc)
        finally:
            sock.close()


class Listener:
    """A listening TCP socket on ``loop`` whose connections get ``factory()`` as their protocol
    (``Connection``s); ``sockets`` (one), ``close()`` (stops accepting; connections stay)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol],
                 sock: socket.socket) -> None:
        self._loop = loop
        self._factory = factory
        self.sockets = [sock]
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept)   # NotImplementedError: not a selector loop

    def _accept(self) -> None:
        sock = self.sockets[0]
        for _ in range(_ACCEPTS):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:   # out of file descriptors...: the next wake-up tries again
                log.warning("otrace: accepting a control-plane connection failed: %s", exc)
                return
            try:
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                Connection(self._loop, conn, self._factory())
            except Exception:
                log.exception("otrace: setting up a control-plane connection failed")
                conn.close()

    def close(self) -> None:
        """Stop accepting (idempotent)."""
        sock = self.sockets[0]
        if sock.fileno() >= 0:
            self._loop.remove_reader(sock.fileno())
            sock.close()


async def listen(loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol], host: str,
                 port: int) -> "Listener | asyncio.AbstractServer":
    """Listen on (``host``, ``port``) (its first address; port 0: a free one): a ``Listener``, or
    asyncio's server where the loop cannot watch a socket (both have ``sockets`` and
    ``close()``). OSError when the address cannot be bound."""
    try:   # an address (127.0.0.1): no lookup, so no hop to the loop's resolver thread
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE | socket.AI_NUMERICHOST)
    except socket.gaierror:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    if not infos:
        raise OSError(f"getaddrinfo({host!r}) returned nothing")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(100)
        return Listener(loop, factory, sock)
    except NotImplementedError:
        sock.close()
        return await loop.create_server(factory, host, port)
    except BaseException:
        sock.close()
        raise
