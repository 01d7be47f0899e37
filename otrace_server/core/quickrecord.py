"""The hottest recording path without a Python frame: a traced call recorded from C.

A trace that records the calls its condition matches (``trace -c call``, or an argument
condition evaluated on call; no action, no count, no tagged condition) has its wrapper call
``call_recorder(...)`` as its ``on_call``: the C accelerator's ``Recorder`` (core/_stackwalk.c)
when it was built, else the Python ``on_call`` itself. The
Recorder does what the Python path does in the common case -- count the match, snapshot the
call (``context.snapshot`` of a ``call`` event: the stack walked, the arguments bound on first
read), queue the context in the store (``Engine.record_later`` -> ``ContextStore.add_later``) --
while its gate is open, and calls the Python ``on_call`` otherwise. The gate is the conditions of
that common case, read from the objects' own ``__dict__`` at each call (on CPython 3.11 a value
is read again only when its dict's version changed; every change of a setting, an enricher
added, an editor subscribing takes effect at the next call):

- the settings: ``trace_active`` set, no ``trace_related``/``save_tags`` (tagged arguments),
  no ``deep_copy``, ``stack_locals`` 0 or 1 (a call keeps no frame's locals: its own are the
  arguments);
- the engine's ``queue_gate()``: nothing needs the context at once (``record_later`` queues).

A queued context is then offered to the event bus's feeds (``Engine.feed_lookup``), as
``record_later`` does: a ``Tally`` (a throttled feed's, ``control.throttle``) takes it without
a Python call while a delivery is due, so an editor connected costs a recorded call nothing
more in the common case; the first context after a quiet spell goes to the feed's own path
(``wake``), which schedules the delivery.

Why: the Python path is about seven Python frames per recorded call. At real call rates they run
cold, and where they cross one of CPython's 16 KiB data-stack chunks every call pays an
mmap/munmap pair (bench/handler_record.py: some stack depths cost 4-7x their neighbours). The
Recorder pushes no frame, and on CPython 3.11 reads the stack from the interpreter's frames
without making frame objects (bench/handler_record.py: 3.8x the pass-through at 10 frames, 6.9x
at 64, no depth dearer than its neighbours; the Python path: 14x and 19x).

Thread-safety: the Recorder runs on the traced thread with the GIL held; it appends to the store's
queue (a deque) like ``add_later``. ``Tally``: see there.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from otrace_server.core.context import TraceContext
from otrace_server.core.frames import MAX_FRAMES, PackedStack, is_own_code, own_files

__all__ = ["call_recorder", "Tally"]


class _Tally:
    """What a throttled feed keeps of the items offered in its window (``control.throttle``):
    the first ``room`` one by one, in order, then only how many more (``held``) and the newest.

    ``offer(item)`` (the ``core.events.Feed`` protocol; any thread): ``wake(item)``, the feed's
    own path, which admits it under its lock. ``admit(item)`` -> True when kept one by one,
    False when only counted; ``open(room)``: a new window (what is pending stays); ``take()``
    -> (pending, held): the items kept since the last take, disarming the tally when there were
    none and nothing is held; ``close()`` -> (pending, held, newest held): everything, disarmed.
    ``armed``: a delivery is due.

    This is the pure-Python tally, used when the C accelerator is not built: then every offer
    takes ``wake``'s lock. The C ``Tally`` (core/_stackwalk.c) does the same, each method
    atomic under the GIL, and its ``offer`` admits without ``wake`` while armed (the C
    recorder offers that way too)."""

    def __init__(self, wake: Callable[[Any], Any]) -> None:
        self.wake = wake
        self.armed = False
        self.held = 0
        self._room = 0
        self._pending: list[Any] = []
        self._last: Any = None

    def offer(self, item: Any) -> None:
        self.wake(item)

    def admit(self, item: Any) -> bool:
        if self._room > 0:
            self._room -= 1
            self._pending.append(item)
            return True
        self.held += 1
        self._last = item
        return False

    def open(self, room: int) -> None:
        self._room, self.held, self._last = room, 0, None

    def take(self) -> tuple[list[Any], int]:
        pending, self._pending = self._pending, []
        if not pending and not self.held:
            self.armed = False
        return pending, self.held

    def close(self) -> tuple[list[Any], int, Any]:
        out = (self._pending, self.held, self._last)
        self._pending, self.held, self._last, self._room, self.armed = [], 0, None, 0, False
        return out


try:    # the C accelerator, when built
    from otrace_server.core._stackwalk import Tally, recorder as _recorder
except ImportError:   # pragma: no cover - built by pip install; the Python on_call does the same
    _recorder = None
    Tally = _Tally

#: the context type of a recorded call
_CTYPE = "traces"


def call_recorder(fallback: Callable[[tuple, dict], Any], trace: Any, matches: Any) -> Callable[[tuple, dict], Any]:
    """What the wrapper of ``trace`` (a ``core.tracer`` trace: ``engine``, ``label``, ``funcname``,
    ``bind``, ``globals``, ``action``, ``count``, ``tagged``) calls on a matching call: a C
    Recorder counting in ``matches`` (the trace's ``itertools.count``) and calling ``fallback``
    (the Python ``on_call``) whenever its gate is closed; ``fallback`` itself when the trace does
    more than record (an action, a count, a tagged condition) or the accelerator is not built."""
    if _recorder is None or trace.action is not None or trace.count is not None or trace.tagged:
        return fallback
    engine = trace.engine
    settings = vars(engine.settings)
    gate = ((settings, "trace_active", True), (settings, "trace_related", False), (settings, "save_tags", False),
            (settings, "deep_copy", False), (settings, "stack_locals", (0, 1))) + engine.queue_gate()
    template = TraceContext(_CTYPE, trace.label, trace.funcname, "call", None, None, (), -1,
                            globals=trace.globals)
    return _recorder(fallback, template, matches, gate, engine.store.queues, _CTYPE, trace.bind, own_files,
                     is_own_code, PackedStack, threading.current_thread, MAX_FRAMES, engine.feed_lookup())
