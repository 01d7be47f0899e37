"""control.client.Client over a real loopback TCP connection: what is written in one pass of the
loop leaves in one write, in order; close() sends what was written before it; messages are handled
in the callback that read them, in order, the next waiting for a handler's awaitable (reading
paused above READ_AHEAD meanwhile); a body over the limit is skipped and answered; EOF closes
after what came whole."""

from __future__ import annotations

import asyncio

from otrace_server.control import transport
from otrace_server.control.client import Client
from otrace_server.control.framing import MAX_MESSAGE, frame, read_frame


async def _pair():
    """(server-side Client, client reader, client writer, server) over 127.0.0.1."""
    accepted: asyncio.Future = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()

    def make() -> Client:
        client = Client()
        loop.call_soon(accepted.set_result, client)   # once connection_made gave it its transport
        return client

    server = await loop.create_server(make, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    return await accepted, reader, writer, server


def test_a_burst_of_writes_is_one_write_of_the_transport_in_order():
    async def main():
        client, reader, writer, server = await _pair()
        writes = []
        real_write = client.transport.write
        client.transport.write = lambda data: (writes.append(len(data)), real_write(data))   # counts, then writes
        for i in range(1000):
            client.write(frame(b'{"n": %d}' % i))
        assert writes == []                        # nothing sent until the loop's pass ends
        got = [await read_frame(reader) for _ in range(1000)]
        assert got == [b'{"n": %d}' % i for i in range(1000)]
        assert len(writes) == 1
        client.write(frame(b"last"))
        client.close()                             # sends what was written first
        assert await read_frame(reader) == b"last"
        assert await read_frame(reader) is None    # then EOF
        client.write(frame(b"after close"))        # dropped, no error
        assert len(writes) == 2
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())


class Recording(Client):
    """Handles each body by recording it; a body b"wait" makes the next ones wait for ``gate``."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []
        self.gate = asyncio.get_running_loop().create_future()

    def handle_body(self, body):
        self.bodies.append(body)
        return self.gate if body == b"wait" else None

    def answer_too_large(self, error):
        self.bodies.append(b"too large")


def test_messages_are_handled_in_the_callback_in_order_and_wait_for_a_pending_handler():
    async def main():
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future = loop.create_future()

        def make() -> Recording:
            client = Recording()
            loop.call_soon(accepted.set_result, client)
            return client

        server = await transport.listen(loop, make, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        client = await accepted
        client.authenticated = True
        writer.write(frame(b"one") + frame(b"wait") + frame(b"three"))
        while len(client.bodies) < 2:
            await asyncio.sleep(0.01)
        big = frame(b"x" * 100_000)
        for _ in range(5):            # more than READ_AHEAD while the handler waits: reading pauses
            writer.write(big)
        await asyncio.sleep(0.2)
        assert client.bodies == [b"one", b"wait"]
        assert not client.transport.is_reading()
        client.gate.set_result(None)
        while len(client.bodies) < 8:
            await asyncio.sleep(0.01)
        assert client.bodies[2] == b"three" and client.bodies[3:] == [b"x" * 100_000] * 5
        assert client.transport.is_reading()
        writer.write(b"Content-Length: %d\r\n\r\n" % (MAX_MESSAGE + 1) + b" " * (MAX_MESSAGE + 1) + frame(b"after"))
        writer.write_eof()            # what came whole is handled, then the connection closes
        await asyncio.wait_for(client.serve(), 20)
        assert client.bodies[8:] == [b"too large", b"after"] and client.closed
        writer.close()
        server.close()

    asyncio.run(main())
