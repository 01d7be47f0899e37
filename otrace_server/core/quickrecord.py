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

Why: the Python path is about seven Python frames per recorded call. At real call rates they run
cold, and where they cross one of CPython's 16 KiB data-stack chunks every call pays an
mmap/munmap pair (bench/handler_record.py: some stack depths cost 4-7x their neighbours). The
Recorder pushes no frame, and on CPython 3.11 reads the stack from the interpreter's frames
without making frame objects (bench/handler_record.py: 3.8x the pass-through at 10 frames, 6.9x
at 64, no depth dearer than its neighbours; the Python path: 14x and 19x).

Thread-safety: the Recorder runs on the traced thread with the GIL held; it appends to the store's
queue (a deque) like ``add_later``.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from otrace_server.core.context import TraceContext
from otrace_server.core.frames import MAX_FRAMES, PackedStack, is_own_code, own_files

try:
    from otrace_server.core._stackwalk import recorder as _recorder   # the C accelerator, when built
except ImportError:   # pragma: no cover - built by pip install; the Python on_call does the same
    _recorder = None

__all__ = ["call_recorder"]

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
                     is_own_code, PackedStack, threading.current_thread, MAX_FRAMES)
