"""core.store under soak: a steady workload of bursts of concurrent holds that end (resumed,
or by hold_timeout) while nobody lists the store must keep a bounded number of contexts. Each
held context keeps its request (handler, connection, futures: ~12 KB in the Tornado demo), and
before the fix the resumed ones stayed pinned for ever once the pinned set outgrew a burst."""

from __future__ import annotations

import gc
import time

from otrace_server.core.context import TraceContext
from otrace_server.core.store import ContextStore


class _Hold:
    """Stands for a core.holds.Hold: the store reads only ``done``."""

    def __init__(self) -> None:
        self.done = False


def _held(i: int) -> TraceContext:
    ctx = TraceContext(ctype="holds", label="hold_check", funcname="Soak.burst", event="hold",
                       argvalues={}, locals={}, stack=[], frame_index=-1, timestamp=time.time() + i / 1000)
    ctx.hold = _Hold()
    return ctx


def _stored() -> int:
    """Contexts of this test alive in the process (TraceContext takes no weak reference)."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is TraceContext and o.funcname == "Soak.burst")


def test_bursts_of_holds_that_end_unlisted_are_not_kept_for_ever():
    store = ContextStore(max_recent=lambda: 10)
    burst, n = 300, 0
    for _ in range(20):
        held = []
        for _ in range(burst):        # the burst arrives: every one held when added
            ctx = _held(n)
            n += 1
            store.add(ctx)
            held.append(ctx)
        for ctx in held:              # then they all end (resume, hold_timeout)
            ctx.hold.done = True
        del held, ctx
    kept = _stored()
    # the last burst may still be pinned (nobody added or listed since), with the one before it
    assert kept <= 2 * burst + 10 + 8, f"{kept} of {n} contexts still stored"
    assert len(store.recent("holds")) == 10      # a listing unpins and evicts down to max_recent
    assert _stored() == 10


def test_a_hold_that_stays_held_is_still_never_evicted_by_the_bursts():
    store = ContextStore(max_recent=lambda: 3)
    first = _held(-1)
    store.add(first)
    for i in range(1000):
        ctx = _held(i)
        store.add(ctx)
        ctx.hold.done = True
    assert first in store.recent("holds")
    assert len(store.recent("holds")) == 3
