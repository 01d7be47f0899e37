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

``ServingWatch``: the main thread's loop (told by ``running_loops``, whatever made it: a policy,
``asyncio.Runner(loop_factory=...)`` as uvicorn does) serves once a socket listens on the main
thread: while installed, ``socket.socket.listen`` tells it (asyncio's ``create_server`` and
``start_server``, so aiohttp and uvicorn, and Tornado's ``listen`` / ``bind_sockets`` all call it).
A loop that listens on nothing (a long job) never serves; a server whose sockets listen in C
(uvloop's ``create_server``) is seen running, not serving. The ``otrace`` command installs one for
``--batch FILE script.py``.

Thread-safety: ``running_loops`` may be read and installed from any thread; the loops report on
their own thread. A ``ServingWatch`` is installed and removed on the main thread; ``serving`` and
``in_loop()`` are read from any thread.
"""

from __future__ import annotations

import asyncio
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
    """The loop one thread runs or ran last (weakly)."""

    __slots__ = ("thread", "loop")

    def __init__(self, thread: threading.Thread, loop: asyncio.AbstractEventLoop) -> None:
        self.thread = thread
        self.loop = weakref.ref(loop)

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
                if loop is not None and (seen is None or seen.thread is not thread or seen.loop() is not loop):
                    self._seen[thread.ident] = _Seen(thread, loop)     # a stopped loop stays its last
                listeners = self._listeners if notify else ()
            for listener in listeners:
                listener(thread, loop)
        except Exception:   # the application's loop must start and stop whatever happens here
            log.exception("otrace: observing an event loop failed")


#: THE process-wide record of running loops (``RunningLoops``)
running_loops = RunningLoops()


class ServingWatch:
    """While installed (``with ServingWatch() as watch:``, on the main thread, before the program
    listens), tells:

    - ``in_loop()``: whether an asyncio loop runs on the main thread now (``running_loops``);
    - ``serving`` (a ``threading.Event``): set while a loop runs on the main thread after a socket
      listened there (``socket.socket.listen``, before the loop ran or while it runs): set two
      iterations of the loop later, i.e. after what the program does right after listening;
      cleared when that loop stops running, set again when a loop runs there again.

    On exit ``socket.socket.listen`` is put back. Any thread may read."""

    def __init__(self) -> None:
        self.serving = threading.Event()
        self._running = threading.Event()
        self._listened = False        # a socket listened on the main thread
        self._unsubscribe: Callable[[], None] | None = None
        self._previous_listen = None

    def in_loop(self) -> bool:
        """Whether an event loop runs on the main thread now."""
        return self._running.is_set()

    def __enter__(self) -> "ServingWatch":
        running_loops.install()
        self._unsubscribe = running_loops.subscribe(self._loop_changed)
        self._previous_listen = socket.socket.__dict__.get("listen")
        inherited = socket.socket.listen
        watch = self

        def listen(sock: socket.socket, *args) -> None:
            inherited(sock, *args)
            if threading.current_thread() is threading.main_thread():
                watch._socket_listens()

        socket.socket.listen = listen
        return self

    def __exit__(self, *exc_info) -> None:
        if self._previous_listen is None:
            del socket.socket.listen            # socket.socket inherits its own again
        else:
            socket.socket.listen = self._previous_listen
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _socket_listens(self) -> None:
        """On the main thread: a socket listens; the loop running there (if any) serves soon."""
        self._listened = True
        loop = asyncio._get_running_loop()
        if loop is not None:
            self._serves_soon(loop)

    def _loop_changed(self, thread: threading.Thread, loop: asyncio.AbstractEventLoop | None) -> None:
        """``running_loops``' listener (on the loop's thread): a main thread loop starts or stops."""
        if thread is not threading.main_thread():
            return
        if loop is None:
            self._running.clear()
            self.serving.clear()
            return
        self._running.set()
        if self._listened:                       # listening since before this run
            self._serves_soon(loop)

    def _serves_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop``'s (the main) thread: set ``serving`` two iterations later, if it still runs
        (the second hop lets what the program does right after listening, e.g. the rest of
        ``create_server``, run first)."""
        loop.call_soon(loop.call_soon, self._loop_serves)

    def _loop_serves(self) -> None:
        if self._running.is_set():
            self.serving.set()
