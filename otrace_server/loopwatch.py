"""Telling, from another thread, whether a program's main thread runs an asyncio event loop and
whether that loop serves (runs with a listening socket), without touching the loop's internals.

    with ServingWatch() as watch:          # on the main thread, before the program makes its loop
        ...                                # another thread: watch.serving.wait(), watch.in_loop()

While installed, the loops the program makes (``asyncio.run``, ``asyncio.new_event_loop``,
Tornado's ``IOLoop.current()``) come from an event loop policy whose loops report through public
loop methods only: ``run_forever`` (a loop runs on the main thread), ``create_server`` /
``create_unix_server`` (asyncio's ``start_server``) and ``add_reader`` of a listening socket
(Tornado's ``listen``/``add_sockets``). A loop that listens on nothing (a long job) never serves.
The ``otrace`` command installs one for ``--batch FILE script.py``.

Thread-safety: a ``ServingWatch`` is installed and removed on the main thread; ``serving`` and
``in_loop()`` are read from any thread; the loops report on their own thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading

__all__ = ["ServingWatch"]


class ServingWatch:
    """While installed (``with ServingWatch() as watch:``, on the main thread, before the program
    creates its event loop), the asyncio loops created through the event loop policy (``asyncio.run``,
    ``asyncio.new_event_loop``, Tornado's ``IOLoop.current()``) report to it:

    - ``in_loop()``: whether one of them runs on the main thread now;
    - ``serving`` (a ``threading.Event``): set while one of them runs on the main thread with a
      listening socket registered (set on the loop's first iteration after the socket was
      registered, i.e. after what the program does right after listening; cleared when that loop
      stops running).

    Loops are ``asyncio.SelectorEventLoop``s (POSIX: the default already); on exit the policy that
    was installed before is put back (loops already made keep reporting). Any thread may read."""

    def __init__(self) -> None:
        self.serving = threading.Event()
        self._running = threading.Event()
        self._previous: asyncio.AbstractEventLoopPolicy | None = None

    def in_loop(self) -> bool:
        """Whether an event loop made under this watch runs on the main thread now."""
        return self._running.is_set()

    def __enter__(self) -> "ServingWatch":
        self._previous = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(_WatchedPolicy(self))
        return self

    def __exit__(self, *exc_info) -> None:
        asyncio.set_event_loop_policy(self._previous)

    def loop_runs(self, running: bool) -> None:
        """Called by a watched loop on the main thread as it starts (True) and stops (False) running."""
        if running:
            self._running.set()
        else:
            self._running.clear()
            self.serving.clear()

    def loop_serves(self) -> None:
        """Called by a watched loop, on its thread as it runs, after a listening socket was registered."""
        if threading.current_thread() is threading.main_thread() and self._running.is_set():
            self.serving.set()


class _WatchedPolicy(asyncio.DefaultEventLoopPolicy):
    """The default policy, whose new loops report to a ServingWatch."""

    def __init__(self, watch: ServingWatch) -> None:
        super().__init__()
        self._watch = watch

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return _WatchedLoop(self._watch)


class _WatchedLoop(asyncio.SelectorEventLoop):
    """A selector event loop that tells its ServingWatch when it runs on the main thread and, once it
    runs with a listening socket registered, that it serves (public methods only: what asyncio's and
    Tornado's servers call). Reported on the loop's next iteration, so whatever the program does
    right after listening (before it awaits) is done first; again at each later run."""

    def __init__(self, watch: ServingWatch) -> None:
        super().__init__()
        self._watch = watch
        self._listener = False

    def run_forever(self) -> None:
        on_main = threading.current_thread() is threading.main_thread()
        if on_main:
            self._watch.loop_runs(True)
            if self._listener:     # listening since an earlier run (run_until_complete(start_server))
                self.call_soon(self._watch.loop_serves)
        try:
            super().run_forever()
        finally:
            if on_main:
                self._watch.loop_runs(False)

    async def create_server(self, *args, **kwargs) -> asyncio.AbstractServer:
        server = await super().create_server(*args, **kwargs)
        self._registered(server.is_serving())     # False with start_serving=False: not listening yet
        return server

    async def create_unix_server(self, *args, **kwargs) -> asyncio.AbstractServer:
        server = await super().create_unix_server(*args, **kwargs)
        self._registered(server.is_serving())
        return server

    def add_reader(self, fd, callback, *args) -> None:
        super().add_reader(fd, callback, *args)
        self._registered(_listening(fd))

    def _registered(self, listening: bool) -> None:
        if listening:
            self._listener = True
            self.call_soon(self._watch.loop_serves)


def _listening(fd) -> bool:
    """Whether ``fd`` (a file descriptor or an object with ``fileno()``) is a listening socket."""
    try:
        sock = socket.socket(fileno=fd if isinstance(fd, int) else fd.fileno())
    except (OSError, ValueError, AttributeError, TypeError):   # not a socket, or closed meanwhile
        return False
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        return False
    finally:
        sock.detach()                              # the descriptor stays the program's
