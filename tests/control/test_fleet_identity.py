"""control.fleet: a fleet's identity (a NAME given, else the parent running the same program) and
how readers group discovery records."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from otrace_server import start
from otrace_server.control import fleet
from otrace_server.core.errors import OTraceError


def test_a_name_given_is_the_fleet(monkeypatch):
    monkeypatch.delenv(fleet.ENV, raising=False)
    assert fleet.identity("shop-api_2.eu") == {"id": "shop-api_2.eu", "name": "shop-api_2.eu"}
    monkeypatch.setenv(fleet.ENV, "from-env")
    assert fleet.identity() == {"id": "from-env", "name": "from-env"}
    assert fleet.identity("given")["id"] == "given"          # start(fleet=...) wins over the environment


@pytest.mark.parametrize("bad", ["", "a b", "../x", "..", "x/y", "é", "a" * 65, "x\n"])
def test_anything_else_is_refused_with_a_clear_error(monkeypatch, bad):
    monkeypatch.delenv(fleet.ENV, raising=False)
    with pytest.raises(OTraceError, match="not a fleet name: use letters, digits and . _ -"):
        fleet.identity(bad)
    if bad:
        monkeypatch.setenv(fleet.ENV, bad)
        with pytest.raises(OTraceError, match=f"^{fleet.ENV}: "):
            fleet.identity()


def test_start_refuses_a_bad_fleet_name_before_starting_anything():
    with pytest.raises(OTraceError, match="not a fleet name"):
        start({}, fleet="no spaces", console=False)
    from otrace_server.app import current

    assert current() is None


def test_a_process_alone_has_no_fleet(monkeypatch):
    monkeypatch.delenv(fleet.ENV, raising=False)
    assert fleet.identity() is None     # pytest's parent runs another program


def _child_identity(queue):
    os.environ.pop(fleet.ENV, None)
    queue.put(fleet.identity())


def test_a_forked_worker_of_the_same_program_is_in_its_parents_fleet():
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_identity, args=(queue,))
    child.start()
    found = queue.get(timeout=20)
    child.join(20)
    assert found["id"] == f"ppid-{os.getpid()}"


def test_group_orders_fleets_and_processes_alone_by_start():
    shop = {"id": "shop", "name": "shop"}
    records = [
        {"pid": 10, "started": 1.0, "fleet": None},
        {"pid": 22, "started": 3.0, "fleet": shop},
        {"pid": 21, "started": 2.0, "fleet": shop},
        {"pid": 30, "started": 2.5},                          # an older server's record: alone
        {"pid": 20, "started": 2.0, "fleet": shop},
    ]
    grouped = fleet.group(records)
    assert [(f and f["id"], [r["pid"] for r in w]) for f, w in grouped] == \
        [(None, [10]), ("shop", [20, 21, 22]), (None, [30])]
    assert fleet.worker_label(records[1]) == "worker 22"
