"""otrace_server.loopwatch: a ``ServingWatch`` tells from the program's own loops whether it serves
(runs with a listening socket) or only runs a loop (a job). The loops run on the main thread, as a
script's do under ``otrace --batch``."""

from __future__ import annotations

import asyncio
import threading

import pytest
import tornado.ioloop
import tornado.web

from otrace_server.loopwatch import ServingWatch

pytestmark = pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                                reason="the watch looks at the main thread's loops")


def test_a_loop_that_listens_on_nothing_runs_but_does_not_serve():
    seen = []

    async def job():
        await asyncio.sleep(0.05)                 # a few iterations of the loop, in which it must not serve
        seen.append((watch.in_loop(), watch.serving.is_set()))

    with ServingWatch() as watch:
        asyncio.run(job())
    assert seen == [(True, False)]
    assert not watch.in_loop()


def test_an_asyncio_server_serves_once_its_loop_runs_on_after_listening():
    seen = []

    async def main():
        server = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
        seen.append(watch.serving.is_set())       # what the program does right after listening: not yet
        await asyncio.to_thread(watch.serving.wait, 5)   # the loop runs on meanwhile
        seen.append(watch.serving.is_set())
        server.close()

    with ServingWatch() as watch:
        asyncio.run(main())
    assert seen == [False, True]
    assert not watch.serving.is_set()             # its loop stopped: no longer serving


def test_a_server_set_up_before_run_forever_serves_when_the_loop_runs():
    """loop.run_until_complete(asyncio.start_server(...)), then loop.run_forever()."""
    seen = []
    with ServingWatch() as watch:
        loop = asyncio.new_event_loop()
        try:
            server = loop.run_until_complete(asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0))
            assert not watch.serving.is_set()
            loop.call_later(0.05, lambda: (seen.append(watch.serving.is_set()), loop.stop()))
            loop.run_forever()
            server.close()
        finally:
            loop.close()
    assert seen == [True]


def test_a_tornado_app_listening_before_ioloop_start_serves():
    seen = []
    with ServingWatch() as watch:
        io_loop = tornado.ioloop.IOLoop.current()
        try:
            server = tornado.web.Application([]).listen(0, "127.0.0.1")
            io_loop.call_later(0.05, lambda: (seen.append(watch.serving.is_set()), io_loop.stop()))
            io_loop.start()
            server.stop()
        finally:
            io_loop.close(all_fds=True)
            io_loop.asyncio_loop.close()
    assert seen == [True]
