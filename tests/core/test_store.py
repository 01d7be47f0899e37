"""ContextStore: otrace's ids, max_recent eviction per type, saved and held contexts, threads."""

from __future__ import annotations

import threading
import time

import pytest

from otrace_server.core.context import TraceContext
from otrace_server.core.errors import OTraceError
from otrace_server.core.store import ContextStore

# 05:08:45 local time today, whatever the time zone
T0 = time.mktime(time.localtime()[:3] + (5, 8, 45, 0, 0, -1))


class _Held:
    """Stands for a core.holds.Hold: the store only reads ``done``."""

    done = False


def ctx(ctype="exceptions", label="ZeroDivisionError", funcname="Receive.respond", ts=T0):
    return TraceContext(ctype=ctype, label=label, funcname=funcname, event="exception", argvalues={},
                        locals={}, stack=[], frame_index=-1, timestamp=ts)


def test_id_has_otraces_form():
    store = ContextStore()
    c = store.add(ctx())
    assert c.id == "Receive.respond:ex-ZeroDivisionError:05-08-45"
    assert c.path == ["recent", "exceptions", "Receive.respond", "ex-ZeroDivisionError", "05-08-45"]
    assert store.get(c.id) is c


def test_same_second_ids_get_counters():
    store = ContextStore()
    ids = [store.add(ctx(ts=T0 + 0.1 * i)).id for i in range(3)]
    assert ids == ["Receive.respond:ex-ZeroDivisionError:05-08-45",
                   "Receive.respond:ex-ZeroDivisionError:05-08-45.1",
                   "Receive.respond:ex-ZeroDivisionError:05-08-45.2"]
    # a new second starts again without a counter; other labels/types count separately
    assert store.add(ctx(ts=T0 + 1)).id.endswith(":05-08-46")
    assert store.add(ctx(label="num_check", ctype="asserts")).id == "Receive.respond:as-num_check:05-08-45"


def test_out_of_order_contexts_never_reuse_an_id():
    store = ContextStore()
    first = store.add(ctx(ts=T0))
    store.add(ctx(ts=T0 + 1))                  # 05-08-46
    late = store.add(ctx(ts=T0 + 0.5))         # captured at :45 on another thread, stored later
    assert late.id != first.id and late.id.endswith(":05-08-45.1")
    assert store.get(first.id) is first


def test_labels_with_slashes_or_spaces_make_one_path_component():
    c = ContextStore().add(ctx(label="a/b c", ctype="asserts"))
    assert c.id == "Receive.respond:as-a_b_c:05-08-45"


def test_eviction_keeps_max_recent_per_type():
    limit = [3]
    store = ContextStore(lambda: limit[0])
    exc = [store.add(ctx(ts=T0 + i)) for i in range(5)]
    asserts = [store.add(ctx("asserts", "chk", ts=T0 + i)) for i in range(2)]
    assert store.recent("exceptions") == exc[2:]
    assert store.recent("asserts") == asserts
    assert store.get(exc[0].id) is None
    limit[0] = 1                                 # a settings change applies at the next add
    newest = store.add(ctx(ts=T0 + 10))
    assert store.recent("exceptions") == [newest]


def test_saved_contexts_are_never_evicted():
    store = ContextStore(lambda: 2)
    keep = store.add(ctx(ts=T0))
    assert store.save(keep.id) is keep and keep.saved
    for i in range(1, 6):
        store.add(ctx(ts=T0 + i))
    assert store.get(keep.id) is keep
    assert store.saved() == [keep]
    assert keep not in store.recent("exceptions")
    assert len(store.recent("exceptions")) == 2
    assert store.save(keep.id) is keep            # saving again is harmless


def test_held_contexts_are_not_evicted_until_resumed():
    store = ContextStore(lambda: 2)
    held = ctx("holds", "hold_check")
    held.hold = _Held()
    store.add(held)
    others = [store.add(ctx("holds", "hold_check", ts=T0 + i)) for i in range(1, 4)]
    assert store.get(held.id) is held             # kept although oldest
    assert store.recent("holds") == [held, others[-1]]
    assert store.clear() is None and store.get(held.id) is held   # clear keeps it too
    with pytest.raises(OTraceError, match="is held"):
        store.delete(held.id)
    held.hold.done = True
    store.add(ctx("holds", "hold_check", ts=T0 + 8))
    store.add(ctx("holds", "hold_check", ts=T0 + 9))
    assert store.get(held.id) is None


def test_unknown_ids_and_types_raise_one_line_errors():
    store = ContextStore()
    for call in (lambda: store.find("nope"), lambda: store.save("nope"), lambda: store.delete("nope"),
                 lambda: store.recent("bogus"), lambda: store.add(ctx(ctype="bogus"))):
        with pytest.raises(OTraceError) as info:
            call()
        assert "\n" not in str(info.value)


def test_delete_latest_and_recent_order():
    store = ContextStore()
    a = store.add(ctx(ts=T0))
    b = store.add(ctx("asserts", "x", ts=T0 + 2))
    c = store.add(ctx("traces", "call", ts=T0 + 1))
    assert store.latest() is c
    assert store.recent() == [a, c, b]            # all types, by time
    assert store.delete(c.id) is c and store.get(c.id) is None
    assert store.latest() is b                    # the newest one still stored
    store.save(a.id)
    assert store.delete(a.id) is a and store.saved() == []


def test_many_threads_adding_concurrently_get_unique_ids():
    store = ContextStore(lambda: 100_000)
    per_thread, n_threads = 300, 8
    barrier = threading.Barrier(n_threads)
    added: list[list[TraceContext]] = [[] for _ in range(n_threads)]

    def work(k):
        barrier.wait()
        for _ in range(per_thread):
            added[k].append(store.add(ctx(ts=T0 + 0.5)))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    ids = [c.id for batch in added for c in batch]
    assert len(ids) == per_thread * n_threads == len(set(ids))
    assert len(store.recent("exceptions")) == len(ids)


def test_concurrent_adds_respect_max_recent():
    store = ContextStore(lambda: 5)

    def work():
        for i in range(200):
            store.add(ctx(ts=T0 + i))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(store.recent("exceptions")) == 5


class _CountingHold:
    """A hold whose ``done`` counts how often the store reads it."""

    reads = 0

    def __init__(self) -> None:
        self._done = False

    @property
    def done(self):
        _CountingHold.reads += 1
        return self._done


def test_adding_many_held_contexts_is_linear_not_quadratic():
    store = ContextStore(lambda: 10)
    n = 5000
    _CountingHold.reads = 0
    held = []
    for i in range(n):
        c = ctx("holds", "hold_check", ts=T0 + i / 1000)
        c.hold = _CountingHold()
        held.append(store.add(c))
        store.add(ctx("holds", "hold_check", ts=T0 + i / 1000))       # not held: evictable
    # each add checks its own context, plus re-checks of the pinned ones amortized O(1) per add
    # (the old store scanned every held context on every add: ~n*n/2 = 12.5 million reads)
    assert _CountingHold.reads <= 6 * n
    assert all(store.get(c.id) is c for c in held)
    # held contexts count towards max_recent: the unheld ones are dropped, every hold stays
    assert store.recent("holds") == held


def test_resumed_holds_are_evicted_at_the_next_listing_or_adds():
    def held_contexts(store, n):
        out = []
        for i in range(n):
            c = ctx("holds", "hold_check", ts=T0 + i)
            c.hold = _Held()
            out.append(store.add(c))
        return out

    store = ContextStore(lambda: 3)
    held = held_contexts(store, 50)
    assert store.recent("holds") == held
    for c in held:
        c.hold.done = True
    assert store.recent("holds") == held[-3:]      # a listing re-checks them: max_recent remain

    store = ContextStore(lambda: 3)
    held = held_contexts(store, 50)
    for c in held[:40]:
        c.hold.done = True
    for i in range(60):                             # adds alone re-check them too
        store.add(ctx("holds", "hold_check", ts=T0 + 100 + i))
    assert not any(store.get(c.id) for c in held[:40]) and all(store.get(c.id) for c in held[40:])
    for c in held[40:]:
        c.hold.done = True
    assert store.recent("holds") == held[-3:]


# ---- add_later: queued contexts, stored at the next read ----------------------------------------

def test_queued_contexts_get_their_ids_in_order_at_the_next_read():
    store = ContextStore(lambda: 5)
    queued = [ctx(ts=T0 + 0.1 * i) for i in range(3)]
    for c in queued:
        store.add_later(c)
    assert [c.id for c in queued] == ["", "", ""]            # nothing done yet
    assert store.recent("exceptions") == queued                # the read stores them, in order
    assert [c.id for c in queued] == ["Receive.respond:ex-ZeroDivisionError:05-08-45",
                                      "Receive.respond:ex-ZeroDivisionError:05-08-45.1",
                                      "Receive.respond:ex-ZeroDivisionError:05-08-45.2"]
    assert store.latest() is queued[-1]


def test_queued_contexts_beyond_max_recent_are_dropped_unseen_and_ids_stay_unique():
    store = ContextStore(lambda: 3)
    first = store.add(ctx(ts=T0))
    queued = [ctx(ts=T0 + 0.01 * i) for i in range(1, 40)]
    for c in queued:
        store.add_later(c)
    later = store.add(ctx(ctype="asserts", label="check", ts=T0 + 1))   # an add stores the queue first
    shown = store.recent("exceptions")
    assert shown == queued[-3:]                                # the newest max_recent, in order
    assert store.get(first.id) is None and all(c.id == "" for c in queued[:-3])
    ids = [c.id for c in shown]
    assert len(set(ids) | {first.id}) == 4 and ids[0] != first.id
    assert store.latest() is later


def test_identify_gives_ids_in_the_order_recorded_and_stores_only_what_is_still_queued():
    prepared = []
    store = ContextStore(lambda: 3, prepare=prepared.append)
    queued = [ctx(ts=T0 + 0.01 * i) for i in range(8)]
    for c in queued:
        store.add_later(c)                     # the queue keeps the newest 3
    offered = queued[:3]                       # an editor's feed delivers the first three, and the last
    store.identify(offered + [queued[-1]])
    suffix = [c.id.rpartition(":")[2] for c in queued]
    assert suffix == ["05-08-45", "05-08-45.1", "05-08-45.2", "", "", "05-08-45.3", "05-08-45.4", "05-08-45.5"]
    assert prepared == queued[:3] + queued[5:]   # each prepared once, as it got its id
    assert store.recent("exceptions") == queued[5:]      # the dropped ones are not stored
    assert store.get(queued[0].id) is None
    store.identify(queued)                     # those with an id keep it; the others get theirs
    assert [c.id for c in queued[:3]] == [f"Receive.respond:ex-ZeroDivisionError:{s}" for s in suffix[:3]]
    assert len({c.id for c in queued}) == 8 and queued[4].id.endswith(".7")


def test_identify_orders_by_time_what_was_dropped_among_what_is_queued():
    """A context dropped from its queue is usually older than what the queue kept (then the two
    are simply one after the other); one recorded on another thread may be newer than some of
    them: ids still go in the order recorded."""
    store = ContextStore(lambda: 2)
    queued = [ctx(ts=T0 + 0.01 * i) for i in (0, 2, 3)]
    for c in queued:
        store.add_later(c)                     # the queue keeps the newest 2: ts 2 and 3
    other = ctx(ts=T0 + 0.025)                 # recorded (elsewhere) between them, never queued
    store.identify([queued[0], other, queued[2]])
    by_time = sorted(queued + [other], key=lambda c: c.timestamp)
    assert [c.id.rpartition(":")[2] for c in by_time] == ["05-08-45", "05-08-45.1", "05-08-45.2", "05-08-45.3"]
    assert store.recent("exceptions") == queued[1:]


def test_a_queue_keeps_max_recent_and_frees_what_it_pushes_out_at_once():
    import gc
    import weakref

    class Request:
        pass

    store = ContextStore(lambda: 2)
    alive = []
    gc.disable()                                  # what is freed is freed by reference counts alone
    try:
        for i in range(6):
            c = ctx(ts=T0 + 0.001 * i)
            c.argvalues = {"request": Request()}
            alive.append(weakref.ref(c.argvalues["request"]))
            store.add_later(c)
            del c
            # the queue holds the newest two: the request of the context pushed out is gone already
            assert [r() is not None for r in alive] == [False] * max(0, i - 1) + [True] * min(i + 1, 2)
    finally:
        gc.enable()
    assert sum(map(len, store.queues.values())) == 2            # memory stays bounded without reads
    assert [c.argvalues["request"] for c in store.recent("exceptions")] == [r() for r in alive[-2:]]


def test_queues_follow_max_recent():
    limit = [2]
    store = ContextStore(lambda: limit[0])
    limit[0] = 4
    store.limit_changed()
    queued = [ctx(ts=T0 + 0.001 * i) for i in range(6)]
    for c in queued:
        store.add_later(c)
    assert store.recent("exceptions") == queued[-4:]


def test_types_with_held_contexts_keep_their_held_ones_and_the_newest_queued():
    store = ContextStore(lambda: 2)
    held = ctx("breaks", "b")
    held.hold = _Held()
    store.add(held)
    queued = [ctx("breaks", "b", ts=T0 + 0.1 * i) for i in range(1, 5)]
    for c in queued:
        store.add_later(c)
    shown = store.recent("breaks")
    assert held in shown and queued[-1] in shown and len(shown) == 2
    assert all(c.id == "" for c in queued[:2])                 # dropped unseen: the queue keeps max_recent


def test_queued_contexts_of_several_types_are_stored_in_the_order_recorded():
    store = ContextStore(lambda: 5)
    a = ctx(ts=T0 + 0.1)
    b = ctx("traces", "call", ts=T0 + 0.2)
    c = ctx(ts=T0 + 0.3)
    for each in (a, b, c):
        store.add_later(each)
    assert store.latest() is c and store.recent() == [a, b, c]


def test_add_later_rejects_an_unknown_type_at_once():
    with pytest.raises(OTraceError, match="unknown context type"):
        ContextStore().add_later(ctx(ctype="nope"))


def test_many_threads_queue_while_others_read():
    store = ContextStore(lambda: 10)
    errors = []

    def writer(k):
        try:
            for i in range(500):
                store.add_later(ctx(funcname=f"f{k}", ts=T0 + 0.0001 * i))
        except Exception as exc:   # pragma: no cover - the assertion below reports it
            errors.append(exc)

    def reader():
        try:
            for _ in range(200):
                store.recent()
                store.latest()
        except Exception as exc:   # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)] + \
              [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    shown = store.recent("exceptions")
    assert len(shown) == 10 and len({c.id for c in shown}) == 10 and all(c.id for c in shown)


def test_an_error_repeating_a_huge_argument_is_cut():
    """``find`` echoes the id it did not find: a 4 MB id gives a message of about 2,000 characters
    that says how much was cut (an editor asking with such an id got a 4 MB error back)."""
    store = ContextStore()
    with pytest.raises(OTraceError) as info:
        store.find("x" * 4_000_000)
    message = str(info.value)
    assert message.startswith("no trace context 'xxx") and len(message) < 2100
    assert message.endswith("... (3,998,019 more characters)")
