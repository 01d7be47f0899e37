"""endpoint.Client's buffered output over a real loopback TCP connection: what is written in one
pass of the loop leaves in one write, in order; close() sends what was written before it."""

from __future__ import annotations

import asyncio

from otrace_server.control.client import Client
from otrace_server.control.framing import frame, read_frame


async def _pair():
    """(server-side Client, client reader, client writer, server) over 127.0.0.1."""
    accepted: asyncio.Future = asyncio.get_running_loop().create_future()
    server = await asyncio.start_server(lambda r, w: accepted.set_result(Client(r, w)), "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    return await accepted, reader, writer, server


def test_a_burst_of_writes_is_one_write_of_the_transport_in_order():
    async def main():
        client, reader, writer, server = await _pair()
        writes = []
        real_write = client.writer.write
        client.writer.write = lambda data: (writes.append(len(data)), real_write(data))   # counts, then writes
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
