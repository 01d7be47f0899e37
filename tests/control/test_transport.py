"""control.transport over real loopback TCP: what a protocol sees of a connection (made, data in
order, EOF, lost), writes larger than the socket takes at once, pause/resume of reading, close
after the buffered output, abort; whether this interpreter reads keeping the GIL, and that a send
does keep it."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time

import pytest

from otrace_server.control import transport


@pytest.fixture(params=["libc", "socket methods"])
def calls(request, monkeypatch):
    """Each test twice: reads and sends through the C library (keeping the GIL), and through the
    socket's own methods (where ctypes cannot)."""
    if request.param == "socket methods":
        monkeypatch.setattr(transport, "_recv_call", None)
        monkeypatch.setattr(transport, "_send_call", None)
    return request.param


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.events: list = []
        self.data = bytearray()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, t):
        self.transport = t
        self.events.append("made")

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        self.events.append("eof")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)


async def _pair():
    """(server-side Recorder, client reader, client writer, listener)."""
    accepted: asyncio.Future = asyncio.get_running_loop().create_future()

    def make() -> Recorder:
        protocol = Recorder()
        asyncio.get_running_loop().call_soon(accepted.set_result, protocol)
        return protocol

    server = await transport.listen(asyncio.get_running_loop(), make, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    return await accepted, reader, writer, server


def test_libc_calls_keep_the_gil_on_this_platform():
    assert transport.KEEPS_GIL   # Linux/macOS with ctypes: the path the figures are about


@pytest.mark.skipif(not transport.KEEPS_GIL, reason="this interpreter cannot call send keeping the GIL")
def test_send_now_keeps_the_gil():
    """A thread spinning in Python never runs during ``send_now``: an answer leaves without handing
    the GIL to the application's threads, so the sender has no switch interval to wait for after
    it (as a thread writing with ``socket.send`` may have: ``bench/control_latency.py``). The
    check sees a release the spinning thread can take (a ``time.sleep``); ``socket.send``'s own is
    too short to be taken every time."""
    ours, theirs = socket.socketpair()
    spins, running, started = [0], [True], threading.Event()

    def spin() -> None:
        started.set()
        while running[0]:
            spins[0] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.5)   # this thread keeps the GIL up to 0.5 s unless it gives it up
    spinner = threading.Thread(target=spin, daemon=True)
    try:
        spinner.start()
        started.wait()   # back here: the spinner waits for the GIL
        before = spins[0]
        for _ in range(100):
            assert transport.send_now(ours, b"x") == 1
        assert spins[0] == before
        time.sleep(0.01)
        assert spins[0] != before
    finally:
        running[0] = False
        spinner.join()
        sys.setswitchinterval(interval)
        ours.close()
        theirs.close()


def test_data_in_order_then_eof_closes_and_loses_the_connection(calls):
    async def main():
        protocol, reader, writer, server = await _pair()
        assert isinstance(protocol.transport, transport.Connection)
        assert protocol.transport.get_extra_info("peername") == writer.get_extra_info("sockname")
        for i in range(100):
            writer.write(b"%d," % i)
        await writer.drain()
        writer.write_eof()
        assert await asyncio.wait_for(protocol.lost, 5) is None
        assert bytes(protocol.data) == b"".join(b"%d," % i for i in range(100))
        assert protocol.events == ["made", "eof", "lost"]   # eof_received returned None: closed
        assert await reader.read() == b""
        server.close()

    asyncio.run(main())


def test_a_large_write_is_sent_whole_and_close_waits_for_it(calls):
    async def main():
        protocol, reader, writer, server = await _pair()
        small = b"x" * 1000                # sent at once (through the C library)
        protocol.transport.write(small)
        assert protocol.transport.get_write_buffer_size() == 0
        big = bytes(range(256)) * 40_000   # ~10 MB: more than the socket takes at once
        protocol.transport.write(big)
        assert protocol.transport.get_write_buffer_size() > 0
        protocol.transport.write(b"end")
        protocol.transport.close()
        assert protocol.transport.is_closing()
        protocol.transport.write(b"after close")   # ignored
        got = await asyncio.wait_for(reader.read(), 20)
        assert got == small + big + b"end"
        assert await protocol.lost is None
        server.close()

    asyncio.run(main())


def test_paused_reading_keeps_the_data_for_after_resume_and_abort_drops_the_output(calls):
    async def main():
        protocol, reader, writer, server = await _pair()
        protocol.transport.pause_reading()
        writer.write(b"while paused")
        await writer.drain()
        await asyncio.sleep(0.1)
        assert protocol.data == b""
        protocol.transport.resume_reading()
        while protocol.data != b"while paused":
            await asyncio.sleep(0.01)
        protocol.transport.write(bytes(10_000_000))
        protocol.transport.abort()
        assert await protocol.lost is None
        got = b""
        try:
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 5):
                got += chunk
        except ConnectionResetError:
            pass
        assert len(got) < 10_000_000
        server.close()

    asyncio.run(main())


def test_a_peer_that_resets_loses_the_connection_with_the_error(calls):
    async def main():
        protocol, reader, writer, server = await _pair()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()   # RST
        exc = await asyncio.wait_for(protocol.lost, 5)
        assert exc is None or isinstance(exc, OSError)
        server.close()

    asyncio.run(main())
