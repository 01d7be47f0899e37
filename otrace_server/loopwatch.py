"""Which asyncio loop runs on which thread, and whether the main thread's loop serves, told from
any thread without touching the loops' internals.

    running_loops.install()                # once, any thread: from now on every loop is seen
    running_loops.loop_of(thread)          # the loop that thread runs (or last ran, not closed)

    with ServingWatch() as watch:          # on the main thread, before the program makes its loop
        ...                                # another thread: watch.serving.wait(), watch.in_loop()

``running_loops`` (a ``RunningLoops``) learns each loop as it starts and stops running: asyncio
marks the loop running on its thread with ``asyncio.events._set_running_loop(loop)`` at the start of
every ``run_forever`` (so ``asyncio.run``, ``run_until_complete``, Tornado's ``IOLoop.start``,
aiohttp's ``web.run_app`` and uvicorn's asyncio loop) and with ``None`` at its end; ``install``
wraps that function (in ``asyncio.events`` and ``asyncio``). uvloop's loops set it from C through
the function it read when it was imported: a uvloop imported after ``install`` is seen, one imported
before is not (its loop is then known only when ``install`` runs inside it, e.g. ``start()`` called
in a coroutine, or when passed explicitly). A closed loop is forgotten. The runtime's "app loop"
and ``ServingWatch.in_loop`` both read it.

``ServingWatch``: while installed, the loops the program makes (``asyncio.run``,
``asyncio.new_event_loop``, Tornado's ``IOLoop.current()``) come from an event loop policy whose
loops report ``create_server`` / ``create_unix_server`` (asyncio's ``start_server``) and
``add_reader`` of a listening socket (Tornado's ``listen``/``add_sockets``). A loop that listens on
nothing (a long job) never serves. The ``otrace`` command installs one for ``--batch FILE
script.py``. A program that makes its loops elsewhere (uvloop's policy or ``uvloop.run``) is seen
running (``in_loop``), never serving.

Thread-safety: ``running_loops`` may be read and installed from any thread; the loops report on
their own thread. A ``ServingWatch`` is installed and removed on the main thread; ``serving`` and
``in_loop()`` are read from any thread.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import threading
import weakref
from typing import Callable

__all__ = ["RunningLoops", "running_loops", "ServingWatch"]

log = logging.getLogger("otrace")

#: ``listener(thread, loop)``: ``loop`` started running on ``thread`` (None: the loop it ran stopped)
LoopListener = Callable[[threading.Thread, "asyncio.AbstractEventLoop | None"], None]


class _Seen:
    """What one thread runs: its loop (weakly), whether it runs now, and when it started (order)."""

    __slots__ = ("thread", "loop", "running", "order")

    def __init__(self, thread: threading.Thread, loop: asyncio.AbstractEventLoop, order: int) -> None:
        self.thread = thread
        self.loop = weakref.ref(loop)
        self.running = True
        self.order = order

    def alive(self) -> asyncio.AbstractEventLoop | None:
        loop = self.loop()
        return None if loop is None or loop.is_closed() else loop


class RunningLoops:
    """The asyncio loop each thread runs now, or ran last and has not closed: learned from the loops
    themselves once ``install``ed (see the module doc). Holds loops weakly; a closed loop is
    forgotten. Threads ``exclude``d (otrace's control thread) are never recorded. Any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[int, _Seen] = {}          # thread ident -> what it runs / last ran
        self._excluded: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()
        self._listeners: tuple[LoopListener, ...] = ()
        self._order = itertools.count()
        self._installed = False

    def install(self) -> None:
        """Start observing every loop that starts or stops running (idempotent; asyncio's
        ``_set_running_loop`` is wrapped for the life of the process), and note the loop running
        on the calling thread now, if any (it started before). Threads: any."""
        with self._lock:
            if not self._installed:
                original = asyncio.events._set_running_loop

                def _set_running_loop(loop: asyncio.AbstractEventLoop | None) -> None:
                    original(loop)
                    self._changed(loop)

                asyncio.events._set_running_loop = _set_running_loop   # base_events' run_forever
                asyncio._set_running_loop = _set_running_loop          # what uvloop reads at import
                self._installed = True
        running = asyncio._get_running_loop()
        if running is not None:
            self._changed(running, notify=False)

    def exclude(self, thread: threading.Thread) -> None:
        """Never record the loops of ``thread`` (otrace's own control thread). Threads: any."""
        with self._lock:
            self._excluded.add(thread)
            self._seen.pop(thread.ident, None)

    def subscribe(self, listener: LoopListener) -> Callable[[], None]:
        """Call ``listener(thread, loop)`` on the loop's thread as each loop starts running there
        (``loop``) and stops (None), until the returned function is called. Threads: any."""
        with self._lock:
            self._listeners += (listener,)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(f for f in self._listeners if f is not listener)

        return unsubscribe

    def loop_of(self, thread: threading.Thread) -> asyncio.AbstractEventLoop | None:
        """The loop ``thread`` runs now, else the last one it ran if not closed, else None."""
        with self._lock:
            seen = self._seen.get(thread.ident)
            if seen is None or seen.thread is not thread:
                return None
            loop = seen.alive()
            if loop is None:
                del self._seen[thread.ident]
            return loop

    def _changed(self, loop: asyncio.AbstractEventLoop | None, notify: bool = True) -> None:
        """On a loop's thread: it starts running (``loop``) or stops (None). Never raises."""
        try:
            thread = threading.current_thread()
            with self._lock:
                if thread in self._excluded:
                    return
                seen = self._seen.get(thread.ident)
                if loop is None:
                    if seen is not None:
                        seen.running = False
                elif seen is None or seen.loop() is not loop or not seen.running:
                    self._seen[thread.ident] = _Seen(thread, loop, next(self._order))
                listeners = self._listeners if notify else ()
            for listener in listeners:
                listener(thread, loop)
        except Exception:   # the application's loop must start and stop whatever happens here
            log.exception("otrace: observing an event loop failed")


#: THE process-wide record of running loops (``RunningLoops``)
running_loops = RunningLoops()


class ServingWatch:
    """While installed (``with ServingWatch() as watch:``, on the main thread, before the program
    creates its event loop), tells:

    - ``in_loop()``: whether an asyncio loop runs on the main thread now (any loop: told by
      ``running_loops``);
    - ``serving`` (a ``threading.Event``): set while a loop made through the event loop policy
      (``asyncio.run``, ``asyncio.new_event_loop``, Tornado's ``IOLoop.current()``) runs on the main
      thread with a listening socket registered (set on the loop's first iteration after the
      socket was registered, i.e. after what the program does right after listening; cleared when
      that loop stops running).

    Those loops are ``asyncio.SelectorEventLoop``s (POSIX: the default already); on exit the policy
    that was installed before is put back (loops already made keep reporting). Any thread may read."""

    def __init__(self) -> None:
        self.serving = threading.Event()
        self._running = threading.Event()
        self._previous: asyncio.AbstractEventLoopPolicy | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def in_loop(self) -> bool:
        """Whether an event loop runs on the main thread now."""
        return self._running.is_set()

    def __enter__(self) -> "ServingWatch":
        running_loops.install()
        self._unsubscribe = running_loops.subscribe(self._loop_changed)
        self._previous = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(_WatchedPolicy(self))
        return self

    def __exit__(self, *exc_info) -> None:
        asyncio.set_event_loop_policy(self._previous)
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _loop_changed(self, thread: threading.Thread, loop: asyncio.AbstractEventLoop | None) -> None:
        """``running_loops``' listener (on the loop's thread): a main thread loop starts or stops."""
        if thread is not threading.main_thread():
            return
        if loop is None:
            self._running.clear()
            self.serving.clear()
            return
        self._running.set()
        if isinstance(loop, _WatchedLoop) and loop.listener:   # listening since an earlier run
            loop.call_soon(self.loop_serves)

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
    """A selector event loop that tells its ServingWatch, once it runs with a listening socket
    registered, that it serves (public methods only: what asyncio's and Tornado's servers call).
    Reported on the loop's next iteration, so whatever the program does right after listening
    (before it awaits) is done first; again at each later run (``listener``: the watch's
    ``running_loops`` listener reads it when the loop starts running)."""

    def __init__(self, watch: ServingWatch) -> None:
        super().__init__()
        self._watch = watch
        self.listener = False

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
            self.listener = True
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
