"""Shutdown answers every hold first: at SIGINT (Ctrl-C) or SIGTERM the waiting holds are resumed
(outcome ``shutdown``) before the program's own handling of the signal begins, whatever installed
it (Tornado's KeyboardInterrupt, ``asyncio.run``'s Ctrl-C handler, uvicorn's ``signal.signal``
handlers, aiohttp's ``loop.add_signal_handler`` and ``GracefulExit``), before or after otrace
started; the held clients get their answers and the process ends as it would have.

    remove = guard(engine, before_default=app.stop)    # app.start does this; App.stop calls remove()

How: while a guard is installed, the ``signal`` module's ``signal`` and ``getsignal`` are wrapped.
For SIGINT and SIGTERM, the handler a program installs (directly, or through an asyncio loop's
``add_signal_handler``, which installs a no-op handler with ``signal.signal`` and runs its callback
from the loop) is kept as the *program's handler*, and the process-level handler is otrace's;
``getsignal`` answers the program's handler, so code that checks it (``asyncio.Runner``) sees what
it set. A handler already installed when the guard starts is taken over the same way. ``SIG_IGN``
stays ignored for real.

When the signal comes and holds wait:

1. a thread ``otrace-shutdown`` resumes them all (``Engine.resume``: audited; a signal handler runs
   between any two bytecodes of the main thread, which may hold a lock the resume needs, so it
   does not resume there itself), and every hold that starts from then on is resumed at once
   (a request already running when the framework drains must not hold it up);
2. the program's handler runs ``ANSWER_GRACE`` seconds later: as a callback of the main thread's
   loop when one runs there (so the loop answers the resumed requests meanwhile, and a
   KeyboardInterrupt leaves the loop as it would have), else after a sleep. A loop callback of
   ``add_signal_handler`` runs when the loop reads the signal, not later: the frameworks that use
   it (aiohttp) drain their running requests, which the resumed ones now are.

With no hold waiting, or at a second signal while the first waits for its grace, the program's
handler runs at once (a second Ctrl-C forces). The default action (``SIG_DFL``: SIGTERM's, or
SIGINT's when a program set it) is carried out as the kernel would (the process ends by the
signal), after ``before_default()`` (otrace stopped: the discovery file removed, the terminal
console's streams put back), which the kernel's action would have skipped.

Thread-safety: ``guard`` and its remover may be called from any thread; the process-level handlers
are set (and put back) only from the main thread, where Python allows it: a guard started on
another thread takes over the signals when the program (or its framework) installs a handler on
the main thread. The signal handler runs on the main thread; it starts the resume thread, which
crosses to the held requests' loops through the engine's crossing (``runtime.crossing``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from typing import Any, Callable

from otrace_server.core.errors import OTraceError
from otrace_server.core.holds import Outcome

__all__ = ["guard", "ANSWER_GRACE", "SIGNALS"]

log = logging.getLogger("otrace")

#: the signals that end a server: answered holds first
SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: seconds the resumed requests have to answer before the program's handler of the signal runs
ANSWER_GRACE = 0.5

_real_signal = signal.signal
_real_getsignal = signal.getsignal
_lock = threading.Lock()
_active: "_Guard | None" = None


def guard(engine, *, before_default: Callable[[], None] | None = None) -> Callable[[], None]:
    """Answer ``engine``'s holds first at SIGINT/SIGTERM (see the module doc) until the returned
    function is called. ``before_default()`` runs before the process ends by a signal's default
    action. One guard at a time: a new one replaces the previous. Any thread."""
    global _active
    new = _Guard(engine, before_default)
    with _lock:
        previous, _active = _active, new
        if previous is not None:
            previous.engine = None
        signal.signal, signal.getsignal = _signal, _getsignal
    new.take_over()

    def remove() -> None:
        global _active
        with _lock:
            if _active is not new:
                return
            _active = None
            new.engine = None
            if signal.signal is _signal:
                signal.signal, signal.getsignal = _real_signal, _real_getsignal
        new.give_back()

    return remove


class _Guard:
    """One installed guard: the program's handlers of SIGNALS it manages (``handlers``) and the
    state of a shutdown under way. ``engine`` is None once removed (its handler then only passes
    the signal on)."""

    def __init__(self, engine, before_default: Callable[[], None] | None) -> None:
        self.engine = engine
        self.before_default = before_default
        self.handlers: dict[int, Any] = {}
        self.waiting = False           # a signal's program handler waits for its grace
        self.late_holds: Callable[[], None] | None = None   # unsubscribes the resume of later holds

    def take_over(self) -> None:
        """Become the process-level handler of SIGINT/SIGTERM (main thread only: elsewhere the
        program's next ``signal.signal`` on the main thread does it)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in SIGNALS:
            current = _real_getsignal(signum)
            if current is None or current == signal.SIG_IGN:   # not set from Python / ignored: left alone
                continue
            if isinstance(current, _Handler):               # an earlier guard's, left on another thread
                current = current.guard.handlers.get(signum, signal.default_int_handler)
            self.handlers[signum] = current
            _real_signal(signum, _Handler(self))

    def give_back(self) -> None:
        """Put the program's handlers back (main thread only; elsewhere ours stays, passing the
        signal on) and stop resuming later holds."""
        if self.late_holds is not None:
            self.late_holds()
            self.late_holds = None
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self.handlers.items():
            current = _real_getsignal(signum)
            if isinstance(current, _Handler) and current.guard is self:
                _real_signal(signum, handler)

    # ---- the signal ------------------------------------------------------------------------
    def on_signal(self, signum: int, frame) -> None:
        """The process-level handler (main thread, between two bytecodes)."""
        engine = self.engine
        if engine is None or self.waiting or not len(engine.holds):
            if engine is not None and self.late_holds is None:
                self.late_holds = engine.events.subscribe(self._resume_late_hold)
            self.run_program_handler(signum, frame)
            return
        self.waiting = True
        self.late_holds = self.late_holds or engine.events.subscribe(self._resume_late_hold)
        threading.Thread(target=self._resume_all, args=(engine,), name="otrace-shutdown", daemon=True).start()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            loop.call_later(ANSWER_GRACE, self._after_grace, signum, frame)
        else:
            time.sleep(ANSWER_GRACE)
            self._after_grace(signum, frame)

    def _after_grace(self, signum: int, frame) -> None:
        self.waiting = False
        self.run_program_handler(signum, frame)

    def run_program_handler(self, signum: int, frame) -> None:
        """What the signal would have done without otrace."""
        handler = self.handlers.get(signum, signal.SIG_DFL)
        if callable(handler):
            handler(signum, frame)
        elif handler == signal.SIG_DFL:
            if self.before_default is not None:
                try:
                    self.before_default()
                except Exception:
                    log.exception("otrace: stopping before the default action of signal %s failed", signum)
            _real_signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    @staticmethod
    def _resume_all(engine) -> None:
        resumed = engine.resume(None, Outcome("shutdown"))
        if resumed:
            log.info("otrace: %d hold(s) resumed at shutdown", len(resumed))

    def _resume_late_hold(self, event) -> None:
        """An engine event after a shutdown signal: a hold that starts is resumed at once."""
        engine = self.engine
        if event.kind != "hold_started" or engine is None:
            return
        try:
            engine.resume([event.data["hold"].id], Outcome("shutdown"))
        except OTraceError:   # resumed meanwhile
            pass


class _Handler:
    """The process-level handler of a guard (a callable object, so that a later guard can tell an
    earlier one's from the program's)."""

    __slots__ = ("guard",)

    def __init__(self, owner: _Guard) -> None:
        self.guard = owner

    def __call__(self, signum: int, frame) -> None:
        self.guard.on_signal(signum, frame)


def _signal(signalnum, handler):
    """``signal.signal`` while a guard is installed: for SIGINT/SIGTERM on the main thread, keep
    ``handler`` as the program's and stay the process-level handler (``SIG_IGN`` is set for
    real); returns the program's previous handler. Otherwise ``signal.signal`` itself."""
    active = _active
    if active is None or signalnum not in SIGNALS or threading.current_thread() is not threading.main_thread():
        return _real_signal(signalnum, handler)
    if handler not in (signal.SIG_DFL, signal.SIG_IGN) and not callable(handler):
        raise TypeError("signal handler must be signal.SIG_IGN, signal.SIG_DFL, or a callable object")
    previous = active.handlers.get(signalnum)
    if previous is None:
        previous = _real_getsignal(signalnum)
    _real_signal(signalnum, signal.SIG_IGN if handler == signal.SIG_IGN else _Handler(active))
    active.handlers[signalnum] = handler
    return previous


def _getsignal(signalnum):
    """``signal.getsignal`` while a guard is installed: the program's handler of a signal the
    guard manages."""
    active = _active
    if active is not None and signalnum in active.handlers:
        return active.handlers[signalnum]
    return _real_getsignal(signalnum)
