"""control.orders: a fleet's order log is appended once per order (under a file lock, across
processes), read as it grows, and a line that is not an order is skipped with a log message."""

from __future__ import annotations

import logging
import multiprocessing
import os
import stat

from otrace_server.control.orders import OrderLog, log_path


def _order(order_id: str, name: str = "f", kind: str = "otrace/trace") -> dict:
    return {"id": order_id, "kind": kind, "params": {"name": name}, "summary": f"trace {name}", "by": "test"}


def test_an_order_is_recorded_once_with_its_seq(tmp_path):
    log = OrderLog(log_path("shop", tmp_path))
    assert log.path == tmp_path / "fleet-shop.orders.jsonl"
    assert log.append(_order("a")) and log.append(_order("b", "g"))
    assert not log.append(_order("a", "other"))             # the same id again: not written
    assert [(o["id"], o["seq"], o["pid"]) for o in log.read_all()] == [("a", 1, os.getpid()), ("b", 2, os.getpid())]
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600


def test_read_new_gives_what_was_appended_since_and_changed_is_a_stat(tmp_path):
    writer, reader = OrderLog(log_path("f", tmp_path)), OrderLog(log_path("f", tmp_path))
    assert reader.read_new() == [] and not reader.changed()
    writer.append(_order("a"))
    assert reader.changed()
    assert [o["id"] for o in reader.read_new()] == ["a"]
    assert not reader.changed() and reader.read_new() == []
    writer.append(_order("b"))
    assert [o["id"] for o in reader.read_new()] == ["b"]
    writer.remove()
    writer.append(_order("c"))                               # a new log: read from its start
    assert [o["id"] for o in reader.read_new()] == ["c"]


def test_an_order_replacing_the_same_params_is_not_written_again(tmp_path):
    log = OrderLog(log_path("f", tmp_path))
    key = "breakpoints:/app.py"
    assert log.append(_order("1", "x", "breakpoints"), replaces=key)
    assert not log.append(_order("2", "x", "breakpoints"), replaces=key)     # same file, same breakpoints
    assert log.append(_order("3", "y", "breakpoints"), replaces=key)
    assert log.append(_order("4", "x", "breakpoints"), replaces=key)         # back to x: it replaces y
    assert [o["id"] for o in log.read_all()] == ["1", "3", "4"]


def test_a_line_that_is_not_an_order_is_skipped_with_a_log_message(tmp_path, caplog):
    log = OrderLog(log_path("f", tmp_path))
    log.append(_order("a"))
    with open(log.path, "a") as f:
        f.write('{not json\n["a list"]\n{"id": "x"}\n')
    log.append(_order("b"))
    with caplog.at_level(logging.WARNING, logger="otrace.fleet"):
        assert [o["id"] for o in log.read_new()] == ["a", "b"]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert [m.split(" line ")[1].split(" ")[0] for m in skipped] == ["2", "3", "4"]
    assert [o["seq"] for o in log.read_all()] == [1, 2]


def _append_many(directory: str, worker: int) -> None:
    log = OrderLog(log_path("f", __import__("pathlib").Path(directory)))
    for i in range(40):
        log.append(_order(f"{worker}-{i}"))
        log.append(_order(f"shared-{i}"))          # every process sends it: recorded once


def test_processes_appending_at_once_record_each_order_once(tmp_path):
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_append_many, args=(str(tmp_path), n)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    orders = OrderLog(log_path("f", tmp_path)).read_all()
    assert len(orders) == 4 * 40 + 40 and len({o["id"] for o in orders}) == len(orders)
    assert [o["seq"] for o in orders] == list(range(1, len(orders) + 1))
