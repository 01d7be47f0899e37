"""otrace_server.loopwatch: a ``ServingWatch`` tells from the program's own loops whether it serves
(runs with a listening socket) or only runs a loop (a job), and ``running_loops`` which loop each
thread runs. The ServingWatch loops run on the main thread, as a script's do under ``otrace --batch``."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
import tornado.ioloop
import tornado.web

from otrace_server.loopwatch import ServingWatch, running_loops
from tests.support.loops import on_a_thread

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


def test_a_loop_made_without_the_policy_is_seen_running_and_serving():
    """uvicorn runs ``asyncio.Runner(loop_factory=asyncio.SelectorEventLoop)``: no policy involved."""
    seen = []

    async def main():
        seen.append((watch.in_loop(), watch.serving.is_set()))
        server = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
        await asyncio.to_thread(watch.serving.wait, 5)
        seen.append(watch.serving.is_set())
        server.close()

    listen = socket.socket.listen
    with ServingWatch() as watch:
        with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
            runner.run(main())
    assert seen == [(True, False), True]
    assert socket.socket.listen is listen       # put back


def test_running_loops_tell_each_threads_loop_follow_the_next_and_forget_a_closed_one():
    running_loops.install()

    def program():
        me = threading.current_thread()
        seen = []

        async def main():
            seen.append(running_loops.loop_of(me) is asyncio.get_running_loop())
            return asyncio.get_running_loop()

        first = asyncio.run(main())
        seen.append(running_loops.loop_of(me))              # closed by asyncio.run: forgotten
        loop = asyncio.new_event_loop()
        second = loop.run_until_complete(main())
        seen.append(running_loops.loop_of(me) is second)    # stopped, not closed: still its loop
        loop.close()
        seen.append(running_loops.loop_of(me))
        return seen, first is not second

    seen, two_loops = on_a_thread(program)
    assert seen == [True, None, True, True, None] and two_loops


def test_running_loops_listeners_hear_loops_start_and_stop_on_their_thread():
    running_loops.install()
    heard = []
    unsubscribe = running_loops.subscribe(
        lambda thread, loop: heard.append((thread.name, loop is not None)) if thread.name == "program" else None)
    try:
        on_a_thread(_run_once)
    finally:
        unsubscribe()
    assert heard == [("program", True), ("program", False)]
    on_a_thread(_run_once)
    assert len(heard) == 2                                  # unsubscribed


def _run_once() -> None:
    """One run of a new loop (``asyncio.run`` runs its loop three times: main, then its cleanup)."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()


def test_running_loops_never_record_an_excluded_thread():
    running_loops.install()
    seen = []

    def run() -> None:
        async def main():
            seen.append(running_loops.loop_of(threading.current_thread()))
        loop = asyncio.new_event_loop()
        loop.run_until_complete(main())
        seen.append(running_loops.loop_of(threading.current_thread()))
        loop.close()

    thread = threading.Thread(target=run, name="otrace-control")
    running_loops.exclude(thread)
    thread.start()
    thread.join(10)
    assert seen == [None, None]


def test_install_notes_the_loop_already_running_on_the_calling_thread():
    async def main():
        running_loops.install()
        return running_loops.loop_of(threading.current_thread()) is asyncio.get_running_loop()

    assert on_a_thread(lambda: asyncio.run(main()))
