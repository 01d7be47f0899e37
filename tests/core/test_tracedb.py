"""The trace database: round trip, reprs for what is not plain data, refusal of foreign files,
concurrent writers, and ``pickle_file`` wiring (a bad path changes nothing)."""

from __future__ import annotations

import os
import pickle
import sqlite3
import threading
import time

import pytest

from otrace_server.core.context import MISSING, TraceContext
from otrace_server.core.frames import FrameSnapshot
from otrace_server.core.engine import Engine
from otrace_server.core.errors import OTraceError
from otrace_server.core.request_summary import RequestSummary
from otrace_server.core.tracedb import Repr, TraceDB, load


class Opaque:
    def __repr__(self):
        return "<Opaque thing>"


def make_ctx(n=0, **values):
    ctx = TraceContext(
        ctype="exceptions", label="ZeroDivisionError", funcname="Receive.respond", event="exception",
        argvalues={"self": Opaque(), "number": n}, locals={"number": n, "values": values},
        stack=[FrameSnapshot("app.py", 10, "handle", {"lock": threading.Lock()}),
               FrameSnapshot("app.py", 20, "respond", None)],
        frame_index=1, file="app.py", line=20, thread="MainThread", timestamp=time.time(),
        exc_type="ZeroDivisionError", exc_message="division by zero", traceback="Traceback ...",
        related=["a:tr-x:01-02-03"], extra={"request": {"uri": "/x", "status": 200}},
        globals={"module": os})
    ctx.id = f"Receive.respond:ex-ZeroDivisionError:05-08-{n:02d}"
    return ctx


def test_a_request_summary_loads_back_as_itself(tmp_path):
    original = make_ctx(3)
    original.extra["request"] = RequestSummary("GET", "/?number=77", "127.0.0.1")
    db = TraceDB(str(tmp_path / "trace.sqlite"))
    db.write(original)
    db.close()
    (loaded,) = load(str(tmp_path / "trace.sqlite"))
    assert type(loaded.extra["request"]) is RequestSummary and loaded.extra["request"] == original.extra["request"]


def test_round_trip_keeps_plain_values(tmp_path):
    path = tmp_path / "trace.sqlite"
    db = TraceDB(str(path))
    plain = {"i": 1, "f": 2.5, "c": 1 + 2j, "s": "text", "b": b"\x00\xff", "none": None, "t": True,
             "nested": {"list": [1, (2, 3)], "set": {4, 5}, "frozen": frozenset({"a"})}}
    original = make_ctx(7, **plain)
    original.return_value = [1, 2]
    db.write(original)
    db.write(make_ctx(8))
    db.close()
    first, second = load(str(path))
    assert first.id == original.id and second.id.endswith(":05-08-08")
    for field in ("ctype", "label", "funcname", "event", "file", "line", "thread", "timestamp", "exc_type",
                  "exc_message", "traceback", "frame_index", "related", "extra"):
        assert getattr(first, field) == getattr(original, field), field
    assert first.locals["values"] == plain and first.argvalues["number"] == 7
    assert first.return_value == [1, 2] and second.return_value is MISSING
    assert first.stack[1] == FrameSnapshot("app.py", 20, "respond", None)
    assert first.globals is None and first.hold is None and not first.is_held


def test_values_that_are_not_plain_data_become_reprs(tmp_path):
    path = str(tmp_path / "t.db")
    db = TraceDB(path)
    cyclic: list = [1]
    cyclic.append(cyclic)
    db.write(make_ctx(1, cyclic=cyclic, deep=[[[[[[[["bottom"]]]]]]]], huge=list(range(5000))))
    db.close()
    (ctx,) = load(path)
    opaque = ctx.argvalues["self"]
    assert isinstance(opaque, Repr) and repr(opaque) == "<Opaque thing>"
    assert ctx.stack[0].locals["lock"].startswith("<unlocked _thread.lock")
    node, depth = ctx.locals["values"]["cyclic"], 0
    while not isinstance(node, Repr):           # a cycle is cut off, a few levels down, as a repr
        assert node[0] == 1
        node, depth = node[1], depth + 1
    assert depth < 8 and node == "[1, [...]]"
    assert isinstance(ctx.locals["values"]["huge"], Repr)
    assert "bottom" in repr(ctx.locals["values"]["deep"])


def test_appends_to_an_existing_trace_database(tmp_path):
    path = str(tmp_path / "t.db")
    for n in (1, 2):
        db = TraceDB(path)
        db.write(make_ctx(n))
        db.close()
    assert [c.id[-2:] for c in load(path)] == ["01", "02"]


def test_wal_mode_and_reading_while_open(tmp_path):
    path = str(tmp_path / "t.db")
    db = TraceDB(path)
    db.write(make_ctx(1))
    assert [c.id for c in load(path)] == [make_ctx(1).id]   # readable while the writer is open
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    with pytest.raises(OTraceError, match="closed"):
        db.write(make_ctx(2))
    db.close()                                                   # twice is harmless


def test_foreign_sqlite_files_are_refused(tmp_path):
    path = str(tmp_path / "other.db")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE contexts (id TEXT, data BLOB)")
        conn.execute("INSERT INTO contexts VALUES ('x', ?)", (pickle.dumps(Opaque),))
    with pytest.raises(OTraceError, match="not an otrace trace database"):
        load(path)
    with pytest.raises(OTraceError, match="not an otrace trace database"):
        TraceDB(path)                                            # and never written into
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert tables == {"contexts"}


def test_wrong_magic_and_non_sqlite_files_are_refused(tmp_path):
    fake = str(tmp_path / "fake.db")
    with sqlite3.connect(fake) as conn:
        conn.execute("CREATE TABLE otrace_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO otrace_meta VALUES ('magic', 'something else')")
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database at all " * 100)
    for path in (fake, str(text)):
        with pytest.raises(OTraceError) as info:
            load(path)
        assert "\n" not in str(info.value)


def test_a_tampered_record_cannot_run_code(tmp_path):
    path = str(tmp_path / "t.db")
    db = TraceDB(path)
    db.write(make_ctx(1))
    db.close()
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE contexts SET data = ?", (pickle.dumps({"x": Evil()}),))
    with pytest.raises(OTraceError, match="refused class"):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize("bad", ["", "   ", "{tmp}", "{tmp}/no/such/dir/t.db"])
def test_bad_paths(tmp_path, bad):
    path = bad.format(tmp=tmp_path)
    with pytest.raises(OTraceError):
        TraceDB(path)
    with pytest.raises(OTraceError):
        load(path)


def test_concurrent_writes_from_threads(tmp_path):
    path = str(tmp_path / "t.db")
    db = TraceDB(path)
    n_threads, per_thread = 6, 50
    barrier = threading.Barrier(n_threads)
    errors = []

    def work(k):
        barrier.wait()
        for i in range(per_thread):
            ctx = make_ctx(i)
            ctx.id = f"t{k}:{i}"
            try:
                db.write(ctx)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    db.close()
    assert errors == []
    ids = [c.id for c in load(path)]
    assert sorted(ids) == sorted(f"t{k}:{i}" for k in range(n_threads) for i in range(per_thread))
    for k in range(n_threads):            # each thread's writes keep their order
        mine = [int(i.split(":")[1]) for i in ids if i.startswith(f"t{k}:")]
        assert mine == sorted(mine)


def test_pickle_file_setting_records_every_context(tmp_path):
    engine = Engine()
    path = str(tmp_path / "engine.db")
    engine.settings.set("pickle_file", path)
    assert engine.tracedb is not None and engine.tracedb.path == path
    ctx = make_ctx(3)
    engine.record(ctx)
    assert [c.id for c in load(path)] == [ctx.id]
    engine.settings.set("pickle_file", "")
    assert engine.tracedb is None


def test_bad_pickle_file_changes_nothing(tmp_path):
    engine = Engine()
    good = str(tmp_path / "good.db")
    engine.settings.set("pickle_file", good)
    db = engine.tracedb
    with pytest.raises(OTraceError):
        engine.settings.set("pickle_file", str(tmp_path / "missing" / "x.db"))
    assert engine.settings.pickle_file == good and engine.tracedb is db and not db.closed
    engine.record(make_ctx(4))
    assert len(load(good)) == 1
