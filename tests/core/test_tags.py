"""core.tags and the tracer's tag features: tagged conditions, the tag action, related/saved contexts."""

from __future__ import annotations

import gc

import pytest

from otrace_server.core import tags
from otrace_server.core.errors import OTraceError


class Plain:
    def __init__(self, value=1):
        self.value = value


class Slotted:
    __slots__ = ("x", "__weakref__")


class Account:
    def __init__(self, value):
        self.value = value

    def update(self, amount):
        self.value += amount
        return self.value

    def audit(self, other=None):
        return self.value


def process(item, note=""):
    return item




def test_tag_untag_get_tag():
    obj = Plain()
    assert tags.get_tag(obj) is None
    assert tags.tag(obj) == tags.DEFAULT_TAG == "tag"
    assert obj._otrace_tag == "tag"
    assert tags.tag(obj, "vip") == "vip" and tags.get_tag(obj) == "vip"
    assert tags.untag(obj) == "vip"
    assert tags.get_tag(obj) is None and not hasattr(obj, "_otrace_tag")
    assert tags.untag(obj) is None


class Guarded:
    """An application object whose attribute hooks record that they ran."""

    def __init__(self):
        object.__setattr__(self, "calls", [])

    def __setattr__(self, name, value):
        self.calls.append("setattr")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self.calls.append("delattr")
        object.__delattr__(self, name)

    def __getattribute__(self, name):
        if name != "calls":
            object.__getattribute__(self, "calls").append("getattribute")
        return object.__getattribute__(self, name)

    def __getattr__(self, name):
        self.calls.append("getattr")
        return "anything"

    @property
    def __class__(self):
        self.calls.append("__class__")
        return Guarded


def test_tag_untag_get_tag_run_no_application_code():
    obj = Guarded()
    assert tags.get_tag(obj) is None
    assert tags.tag(obj, "t") == "t" and tags.get_tag(obj) == "t"
    assert object.__getattribute__(obj, "__dict__")["_otrace_tag"] == "t"
    assert tags.untag(obj) == "t" and tags.get_tag(obj) is None
    assert object.__getattribute__(obj, "calls") == []


def test_objects_refusing_attributes_use_a_side_table_cleared_at_death():
    obj = Slotted()
    tags.tag(obj, "s")
    assert tags.get_tag(obj) == "s" and not hasattr(obj, "_otrace_tag")
    tags.add_related(obj, "ctx-1")
    assert tags.related(obj) == ["ctx-1"]
    key = id(obj)
    del obj
    gc.collect()
    assert key not in tags._side and key not in tags._history


def test_tagging_a_class_does_not_tag_its_instances():
    class Local:
        pass
    tags.tag(Local, "cls")
    assert tags.get_tag(Local) == "cls" and tags.get_tag(Local()) is None
    tags.untag(Local)
    assert tags.get_tag(Local) is None


@pytest.mark.parametrize("obj", [3, "text", (1, 2), None])
def test_untaggable_objects_raise(obj):
    with pytest.raises(OTraceError, match="cannot tag"):
        tags.tag(obj)


@pytest.mark.parametrize("bad", ["", 5, b"x"])
def test_bad_tag_values_raise(bad):
    obj = Plain()
    with pytest.raises(OTraceError):
        tags.tag(obj, bad)
    assert tags.get_tag(obj) is None


def test_tagged_self_condition_records_only_tagged_instances(engine):
    ns = {"Account": Account}
    engine.tracer.trace("Account.update", ns, condition="taggedself")
    plain, marked = Account(1), Account(2)
    tags.tag(marked, "watch")
    plain.update(1), marked.update(1), marked.update(2)
    ctxs = engine.store.recent("traces")
    assert [c.argvalues["self"] for c in ctxs] == [marked, marked]
    assert ctxs[0].label == f"taggedself;tg-watch;{id(marked):#x}"
    assert ctxs[0].id.startswith(f"Account.update:tr-taggedself;tg-watch;{id(marked):#x}:")


def test_tagged_any_argument(engine):
    ns = {"process": process}
    engine.tracer.trace("process", ns, condition="tagged")
    item = Plain()
    ns["process"](Plain()), ns["process"](Plain(), note=item)
    assert engine.store.recent("traces") == []
    tags.tag(item)
    ns["process"](Plain(), note=item)
    [ctx] = engine.store.recent("traces")
    assert ctx.argvalues["note"] is item


def test_tag_action_tags_self_on_matching_return_then_tagged_trace_follows_it(engine):
    ns = {"Account": Account}
    engine.tracer.trace("Account.update", ns, condition="self.value==3", action="tag")
    engine.tracer.trace("Account.audit", ns, condition="taggedself")
    a, b = Account(1), Account(1)
    a.update(2)            # value becomes 3 -> tagged on return
    b.update(1)            # value 2: not tagged
    assert tags.get_tag(a) == "self.value==3" and tags.get_tag(b) is None
    [tag_ctx] = engine.store.recent("tags")
    assert (tag_ctx.event, tag_ctx.return_value, tag_ctx.argvalues["self"]) == ("tag", 3, a)
    assert tag_ctx.id.startswith("Account.update:tg-self.value==3:")
    a.audit(), b.audit()
    [trace_ctx] = engine.store.recent("traces")
    assert trace_ctx.argvalues["self"] is a
    assert trace_ctx.label == f"taggedself;tg-self.value==3;{id(a):#x}"


def test_trace_related_lists_earlier_contexts_of_the_tagged_object(engine):
    ns = {"Account": Account}
    engine.settings.set("trace_related", True)
    engine.tracer.trace("Account.update", ns, condition="call")
    a, other = Account(1), Account(1)
    tags.tag(a)
    first = a.update(1) and engine.store.latest()
    other.update(1)
    second = a.update(1) and engine.store.latest()
    third = a.update(1) and engine.store.latest()
    assert first.related == [] and second.related == [first.id]
    assert third.related == [first.id, second.id]
    assert engine.store.recent("traces")[1].related == []     # the untagged object's call


def test_trace_related_off_keeps_related_empty(engine):
    ns = {"Account": Account}
    engine.tracer.trace("Account.update", ns, condition="call")
    a = Account(1)
    tags.tag(a)
    a.update(1), a.update(1)
    assert all(c.related == [] for c in engine.store.recent("traces"))


def test_save_tags_saves_contexts_of_tagged_objects(engine):
    ns = {"Account": Account}
    engine.settings.set("save_tags", True)
    engine.tracer.trace("Account.update", ns, condition="self.value>=2", action="tag")
    engine.tracer.trace("Account.audit", ns, condition="call")
    a, b = Account(1), Account(0)
    a.update(1)                 # tags a: the tags context is saved (engine.record)
    a.audit(), b.audit()        # a's call is saved too, b's stays recent
    saved = engine.store.saved()
    assert [c.ctype for c in saved] == ["tags", "traces"]
    assert saved[1].argvalues["self"] is a
    assert [c.argvalues["self"] for c in engine.store.recent("traces")] == [b]


def test_a_history_entry_forgotten_while_the_lock_is_held_does_not_deadlock():
    """Weak-reference callbacks run where the garbage collector runs: inside add_related's own
    allocations, on the thread that holds the tags lock (it hung the suite on Python 3.12)."""
    import gc
    import threading

    from otrace_server.core import tags as tags_module

    class Obj:
        pass

    def run():
        obj = Obj()
        obj.cycle = obj               # only the cycle collector frees it: a callback in gc.collect()
        tags_module.add_related(obj, "ctx-1")
        del obj
        with tags_module._lock:       # what add_related holds while it allocates
            gc.collect()
        done.set()

    done = threading.Event()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    assert done.wait(5), "the weak-reference callback deadlocked on the tags lock"
    assert all(entry[0]() is not None for entry in tags_module._history.values())
