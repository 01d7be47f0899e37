"""The thread-crossing runtime: THE one module of otrace that crosses threads and event loops.

Three kinds of threads matter to otrace:

* the **app thread** runs the application's asyncio loop (``app_loop``, e.g. Tornado's IOLoop): the
  loop that actually runs there, followed as the program makes new ones (see ``Runtime.app_loop``);
* the **control thread** ``otrace-control`` (a daemon started by ``Runtime.start``) runs otrace's own
  asyncio loop (``control_loop``): the language server, DAP endpoint and event fan-out live there,
  so the control plane keeps answering while the application's loop is blocked;
* **front-end threads**: the terminal console's thread and the control plane's worker threads
  (``Endpoint.in_worker``), one request or command line at a time.

THE RULE (docs/ARCHITECTURE.md, "runtime", says the same):

1. Application objects (the program's globals and locals, held frames, request handlers: anything
   whose ``__repr__``, attribute or code may run application code) are read and evaluated on the
   front-end thread that asked, never on the control thread: application code may block, and the
   control loop must keep answering every client (it answers by itself only what reads otrace's
   own state with bounded work: ``lsp.inline``'s rule). otrace runs code on the app thread only
   through this module (a hold's resume, ``post_to_app_loop`` callbacks) and in the code it traces
   or patches into the application.
2. Waits: the control thread never blocks (its loop is the control plane). The app thread never
   waits for an answer that only its own loop can give. Front-end threads may wait for either loop,
   always with a timeout. Waiting for the control loop from the app thread (starting and stopping
   otrace) is allowed, with a timeout.
3. Each function here that blocks checks the calling thread itself and raises ``RuntimeError`` at
   once from a thread where it would deadlock or stall a loop (as trio does), so callers need no
   check of their own; each public function says in one "Threads:" sentence who may call it.
   Only this module calls ``call_soon_threadsafe``, ``run_coroutine_threadsafe`` or blocks on
   another thread's loop.

    rt = Runtime(engine)                         # or Runtime(engine, loop): that loop while it is open
    rt.start()                                   # control thread + engine.install_crossing(...)
    rt.post_to_app_loop(print, "hi")             # any thread, fire and forget
    fut = rt.run_in_control(some_coroutine())    # any thread -> concurrent.futures.Future
    rt.call_in_control(some_coroutine())         # not the control thread; blocks, with a timeout
    rt.wait_for_answers(send, timeout)           # front-end threads: send() starts work the app loop answers
    rt.stop()                                    # resumes every hold ("shutdown"), stops the thread
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import inspect
import logging
import threading
import weakref
from typing import Any, Callable

from otrace_server.core.errors import OTraceError
from otrace_server.core.events import Event
from otrace_server.core.holds import Outcome
from otrace_server.loopwatch import running_loops

__all__ = ["Runtime", "crossing"]

log = logging.getLogger("otrace")

CONTROL_THREAD_NAME = "otrace-control"


def crossing(loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
    """Run ``callback()`` soon on ``loop``'s thread. Any thread may call it (it is what
    ``Runtime.start`` installs with ``engine.install_crossing``).

    On the loop's own thread it is ``loop.call_soon(callback)``. From any other thread the callback
    joins the loop's queue of pending crossings and only the first of a batch wakes the loop
    (one ``call_soon_threadsafe``, i.e. one self-pipe write, however many callbacks follow before
    the loop gets to them): resuming 1,000 holds is one wake-up, not 1,000. The loop then runs
    every queued callback in the order queued (per calling thread), in one loop callback.

    Failures: a callback that raises is reported through the loop's exception handler (as
    ``call_soon_threadsafe`` would) and the others still run. A closed loop is logged, never
    raised: resuming a hold of a loop that has gone away must not break the caller of ``resume``.
    """
    if asyncio._get_running_loop() is loop:
        loop.call_soon(callback)
        return
    batch = _batches.get(loop)
    if batch is None:
        with _batches_lock:
            batch = _batches.setdefault(loop, _Batch())
    batch.add(loop, callback)


class _Batch:
    """The crossings queued for one loop by other threads. ``add`` (any thread) appends and wakes
    the loop only when no drain is scheduled yet; ``drain`` (the loop's thread) takes the whole
    queue under the lock and runs it. A callback added while a drain runs lands in the next queue
    and schedules the next drain, so none is lost. Holds no reference to its loop (the registry of
    batches is keyed weakly by loop)."""

    __slots__ = ("lock", "queue", "scheduled", "__weakref__")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: list[Callable[[], Any]] = []
        self.scheduled = False     # a drain is queued on the loop (or its scheduling is under way)

    def add(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
        with self.lock:
            self.queue.append(callback)
            if self.scheduled:
                if not loop.is_closed():
                    return
                dropped, self.queue, self.scheduled = self.queue, [], False   # its drain died with it
                _unreachable(loop, f"loop closed, {len(dropped)} callback(s) dropped")
                return
            self.scheduled = True
        try:
            loop.call_soon_threadsafe(self.drain, loop)
        except RuntimeError as exc:  # "Event loop is closed"
            with self.lock:
                self.queue, self.scheduled = [], False
            _unreachable(loop, exc)

    def drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop: run every queued callback, in order."""
        with self.lock:
            callbacks, self.queue, self.scheduled = self.queue, [], False
        for i, callback in enumerate(callbacks):
            try:
                callback()
            except (SystemExit, KeyboardInterrupt):   # as asyncio does; the rest run next time
                with self.lock:
                    self.queue[:0] = callbacks[i + 1:]
                    if self.queue and not self.scheduled:
                        self.scheduled = True
                        loop.call_soon(self.drain, loop)
                raise
            except BaseException as exc:
                loop.call_exception_handler({"message": f"Exception in otrace crossing callback {callback!r}",
                                             "exception": exc})


_batches: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batch]" = weakref.WeakKeyDictionary()
_batches_lock = threading.Lock()


def _unreachable(loop: asyncio.AbstractEventLoop, why: Any) -> None:
    log.warning("otrace: cannot reach event loop %r: %s", loop, why)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Runtime:
    """The crossing between the application's loop and otrace's control thread.

    ``engine`` is the otrace Engine whose holds are completed through this runtime. ``app_loop``:
    None (the default) follows the loop the application runs (see ``app_loop``); an asyncio loop
    is the app loop while it is not closed. ``app_thread`` (default: the thread creating the
    runtime, i.e. the one calling ``otrace_server.start``) is the thread whose loop is the app's.
    Creating a runtime installs ``loopwatch.running_loops`` (idempotent).
    """

    def __init__(self, engine, app_loop: asyncio.AbstractEventLoop | None = None, *,
                 app_thread: threading.Thread | None = None) -> None:
        if app_loop is not None and not isinstance(app_loop, asyncio.AbstractEventLoop):
            raise OTraceError(f"app_loop must be an asyncio event loop, got {type(app_loop).__name__}")
        running_loops.install()
        self.engine = engine
        self.explicit_loop = app_loop
        self.app_thread = app_thread or threading.current_thread()
        self.control_loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pump: _EventPump | None = None

    # ---- thread checks -----------------------------------------------------------------------
    def in_control_thread(self) -> bool:
        """True when called on the control thread. Threads: any."""
        return self._thread is not None and threading.current_thread() is self._thread

    def _require_started(self) -> asyncio.AbstractEventLoop:
        loop = self.control_loop
        if loop is None or self._thread is None:
            raise RuntimeError("otrace runtime is not started (call Runtime.start() first)")
        return loop

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``. Threads: any."""
        return self._thread is not None

    def start(self) -> None:
        """Start the control thread (daemon, named ``otrace-control``) with its own asyncio loop and
        install the hold crossing in the engine. Threads: any (a running runtime has no control
        thread to call it from); RuntimeError when already started."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("otrace runtime is already started")
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                try:
                    loop.run_forever()
                finally:
                    _cancel_all(loop)
                    loop.close()

            thread = threading.Thread(target=run, name=CONTROL_THREAD_NAME, daemon=True)
            running_loops.exclude(thread)      # never "the app's loop"
            self.control_loop = loop
            self._thread = thread
            thread.start()
            ready.wait()
        self.engine.install_crossing(crossing)

    def stop(self, timeout: float = 5.0) -> None:
        """Resume every hold (outcome ``shutdown``) so no request hangs, remove the crossing, stop the
        control loop and join its thread (up to ``timeout`` s). Idempotent. Threads: any but the
        control thread (it cannot join itself: RuntimeError at once)."""
        if self.in_control_thread():
            raise RuntimeError("Runtime.stop() cannot be called from the otrace control thread")
        with self._lock:
            thread, loop = self._thread, self.control_loop
            if thread is None:
                return
            self.engine.install_crossing(None)   # first: a hold made from now on resumes itself
            self.engine.holds.resume_all(Outcome("shutdown"))
            self._thread = None
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:
                pass
        thread.join(timeout)
        if thread.is_alive():
            log.warning("otrace: control thread did not stop within %gs", timeout)

    # ---- the application's loop --------------------------------------------------------------
    @property
    def app_loop(self) -> asyncio.AbstractEventLoop | None:
        """The application's loop, looked up at each read (``loopwatch.running_loops`` learns
        loops as they start running): the explicit ``app_loop`` while it is not closed; else the
        loop the app thread runs now (or ran last, not closed); else the main thread's (otrace's
        control thread never counts). None when none has run yet (e.g. ``start()`` called before
        ``asyncio.run``) or the last one closed. Threads: any."""
        loop = self.explicit_loop
        if loop is not None and not loop.is_closed():
            return loop
        return running_loops.loop_of(self.app_thread) or running_loops.loop_of(threading.main_thread())

    def post_to_app_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule ``fn(*args)`` on the application's loop (``app_loop`` now) and return at once
        (fire and forget; exceptions are reported by the loop's exception handler). Threads: any.
        A closed app loop, or none yet, is logged, not raised."""
        loop = self.app_loop
        if loop is None:
            log.warning("otrace: no application loop runs (none yet, or it closed); %r dropped", fn)
            return
        crossing(loop, lambda: fn(*args))

    # ---- the control thread ------------------------------------------------------------------
    def run_in_control(self, coro_or_fn: Any, *args: Any) -> concurrent.futures.Future:
        """Run a coroutine object (or call ``fn(*args)``) on the control loop; returns a
        ``concurrent.futures.Future`` of its result. Threads: any (on the control thread itself, do
        not block on the returned future). RuntimeError when the runtime is not started."""
        loop = self._require_started()
        if asyncio.iscoroutine(coro_or_fn):
            return asyncio.run_coroutine_threadsafe(coro_or_fn, loop)
        if not callable(coro_or_fn):
            raise TypeError(f"run_in_control needs a coroutine or a callable, got {type(coro_or_fn).__name__}")
        result: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            if not result.set_running_or_notify_cancel():
                return
            try:
                value = coro_or_fn(*args)
                if inspect.isawaitable(value):
                    asyncio.ensure_future(value).add_done_callback(lambda t: _copy_outcome(t, result))
                    return
            except BaseException as exc:
                result.set_exception(exc)
            else:
                result.set_result(value)

        loop.call_soon_threadsafe(run)
        return result

    def call_in_control(self, coro_or_fn: Any, *args: Any, timeout: float = 5.0) -> Any:
        """``run_in_control`` and wait for its result (or exception). Threads: any but the control
        thread (it would wait for itself: RuntimeError at once). OTraceError when the control loop
        does not finish within ``timeout`` seconds."""
        if self.in_control_thread():
            raise RuntimeError("call_in_control() called on the control thread (it would wait for itself)")
        future = self.run_in_control(coro_or_fn, *args)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise OTraceError(f"otrace control loop did not respond within {timeout:g}s") from None

    def wait_for_answers(self, send: Callable[[], list[concurrent.futures.Future]],
                         timeout: float) -> list[concurrent.futures.Future]:
        """Call ``send()``, which starts work the app loop answers (e.g. evaluations sent to
        browsers) and returns its futures, then block until every one is done or ``timeout``
        seconds have passed; returns the futures (the late ones still pending). Threads: front-end
        threads only: on the app thread (the answers could never arrive) and on the control thread
        (it would stall the control plane) RuntimeError at once, before ``send`` runs."""
        running = _running_loop()
        if running is not None and running is self.app_loop:
            raise RuntimeError("waiting for the app loop's answers on the app loop thread would never end")
        if self.in_control_thread():
            raise RuntimeError("blocking wait on the control thread; run it in a worker thread")
        futures = send()
        concurrent.futures.wait(futures, timeout)
        return futures

    def subscribe_in_control(self, callback: Callable[[Event], None], contexts: bool = True) -> Callable[[], None]:
        """Deliver every engine event to ``callback(event)`` ON THE CONTROL THREAD (the engine
        publishes on whatever thread the event happened), in the order published, within a few
        ms (see ``_EventPump``). Returns the unsubscribe function. Threads: any. Events published
        while the runtime is stopped are dropped.

        With ``contexts`` False the callback gets no ``context`` event, and while no subscriber
        wants them the pump neither queues them nor wakes the control loop for them (the
        control plane throttles them on the recording thread: ``control.throttle``)."""
        with self._lock:
            if self._pump is None:
                self._pump = _EventPump(self)
            return self._pump.add(callback, contexts)


class _EventPump:
    """Engine events -> the control loop's subscribers, for one Runtime: ONE engine subscription
    whatever the number of subscribers, and for ``context`` events (one per recorded context:
    they come in bursts) at most one wake-up of the control loop per ``DELAY`` while they keep
    coming: the traced thread only appends the event to a deque (waking the loop is a self-pipe
    write, which cost more than recording the context itself when it was made per event). Other
    events (holds, patches, output) wake the loop at once, so a client that sees a hold resumed
    never reaches a session that has not heard of it yet. Events are delivered in the order
    published.

    ``armed`` (a DELAYed pump) and ``urgent`` (an immediate one) are True from the wake-up until
    a pump starts draining, which clears both first thing: an event published after that wakes
    the loop again, one published before is drained. Two threads both arming is harmless (the
    second pump finds less or nothing to do). Resuming 1,000 holds is one wake-up, not 1,000."""

    DELAY = 0.002   # seconds: the most an event waits for the pump (UI notifications only)

    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        self.callbacks: tuple[Callable[[Event], None], ...] = ()
        self.context_callbacks: tuple[Callable[[Event], None], ...] = ()   # those that want contexts
        self.queue: collections.deque[Event] = collections.deque()
        self.armed = False       # a DELAYed pump is on its way (context events)
        self.urgent = False      # an immediate pump is on its way (other events)
        self.lock = threading.Lock()
        self.failed: set[int] = set()   # ids of subscribers whose failure was logged
        self._unsubscribe: Callable[[], None] | None = None
        self._unsubscribe_contexts: Callable[[], None] | None = None

    def add(self, callback: Callable[[Event], None], contexts: bool = True) -> Callable[[], None]:
        """Subscribe ``callback`` (the engine subscription is made by the first one); ``context``
        events too unless ``contexts`` is False (the engine is told whether some callback wants
        them: while none does, it need not record every context at once)."""
        with self.lock:
            self.callbacks += (callback,)
            if contexts:
                self.context_callbacks += (callback,)
            self._subscribe()

        def unsubscribe() -> None:
            with self.lock:
                self.callbacks = tuple(c for c in self.callbacks if c is not callback)
                self.context_callbacks = tuple(c for c in self.context_callbacks if c is not callback)
                self._subscribe()

        return unsubscribe

    def _subscribe(self) -> None:
        """(Lock held) The engine subscriptions the callbacks need: one for the other events while
        there are callbacks, one for ``context`` events while some callback wants them."""
        events = self.runtime.engine.events
        if self.callbacks and self._unsubscribe is None:
            self._unsubscribe = events.subscribe(self.publish, contexts=False)
        elif not self.callbacks and self._unsubscribe is not None:
            self._unsubscribe, unsubscribe = None, self._unsubscribe
            unsubscribe()
        if self.context_callbacks and self._unsubscribe_contexts is None:
            self._unsubscribe_contexts = events.subscribe(self._publish_context)
        elif not self.context_callbacks and self._unsubscribe_contexts is not None:
            self._unsubscribe_contexts, unsubscribe = None, self._unsubscribe_contexts
            unsubscribe()

    def _publish_context(self, event: Event) -> None:
        """The engine subscriber that wants contexts: ``publish`` them (the other events come
        through ``publish``'s own subscription)."""
        if event.kind == "context":
            self.publish(event)

    def publish(self, event: Event) -> None:
        """The engine subscriber (any thread): queue ``event``, wake the control loop if needed."""
        loop = self.runtime.control_loop
        if not self.runtime.running or loop is None or (event.kind == "context" and not self.context_callbacks):
            return
        self.queue.append(event)
        if event.kind != "context":   # holds, patches, output: now, in order with clients' requests
            if not self.urgent:
                self.urgent = True
                crossing(loop, self._pump)
        elif not self.armed:          # recorded contexts come in bursts: pump them in DELAY
            self.armed = True
            crossing(loop, self._arm)

    def _arm(self) -> None:
        """On the control loop: pump in DELAY (events of the same burst join this pump)."""
        self.runtime.control_loop.call_later(self.DELAY, self._pump)

    def _pump(self) -> None:
        """On the control loop: deliver every queued event to every callback, in order."""
        self.armed = self.urgent = False
        queue = self.queue
        while queue:
            event = queue.popleft()
            for callback in self.context_callbacks if event.kind == "context" else self.callbacks:
                try:
                    callback(event)
                except Exception:   # logged once per subscriber (as EventBus does): no log flood
                    if id(callback) not in self.failed:
                        self.failed.add(id(callback))
                        log.exception("otrace: control-thread event subscriber %r failed (logged once)", callback)


def _copy_outcome(source: asyncio.Future, target: concurrent.futures.Future) -> None:
    if source.cancelled():   # target is RUNNING: cancel() would do nothing and leave it pending
        target.set_exception(concurrent.futures.CancelledError())
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks left on a stopped control loop and let them finish their cleanup."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
