"""Log lines caused by browsers are rate-limited (``web.ratelimit.LogLimiter``): per browser and in
all, the rest summed up in one line at the window's end; a real flood over a real websocket writes
a handful of lines, not one per message."""

from __future__ import annotations

import logging
import re

import pytest
import tornado.web

from otrace_server.web import WebRegistry, handlers
from otrace_server.web.ratelimit import LogLimiter

from tests.support.waiting import wait_for
from tests.web.servers import connect, on_loop, served

pytestmark = pytest.mark.timeout(60)

log = logging.getLogger("otrace.web")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "otrace.web"]


def test_per_source_and_total_limits_then_one_summary(caplog):
    clock = Clock()
    limiter = LogLimiter(log, per_source=2, total=5, window=60, clock=clock)
    with caplog.at_level(logging.INFO, logger="otrace.web"):
        logged = [limiter.log(source, logging.WARNING, "bad from %s", source)
                  for source in ["a"] * 10 + ["b", "b", "b", "c", "c", "d"]]
        assert logged == [True, True] + [False] * 8 + [True, True, False, True, False, False]
        assert messages(caplog) == ["bad from a", "bad from a", "bad from b", "bad from b", "bad from c"]
        clock.now = 60.0                                   # the next window: the summary, then logged again
        assert limiter.log("a", logging.WARNING, "bad from %s", "a")
    assert messages(caplog)[5:] == [
        "otrace: 11 more log lines caused by browsers in the last 60 s were not logged (a: 8, b: 1, c: 1, d: 1)",
        "bad from a"]


def test_the_summary_names_five_sources_at_most(caplog):
    limiter = LogLimiter(log, per_source=0, total=100, window=60, clock=Clock())
    with caplog.at_level(logging.INFO, logger="otrace.web"):
        for n in range(8):
            limiter.log(f"s{n}", logging.WARNING, "x")
        limiter.flush()
    assert messages(caplog) == ["otrace: 8 more log lines caused by browsers in the last 60 s were not logged "
                                "(s0: 1, s1: 1, s2: 1, s3: 1, s4: 1 ...)"]


REGISTRY = WebRegistry(identity=lambda handler: handler.request.headers.get("X-Who"))


@pytest.fixture(scope="module")
def app():
    with served(REGISTRY, lambda: tornado.web.Application(handlers("/otrace", REGISTRY))) as running:
        yield running


def test_a_flooding_browser_writes_a_few_lines_and_one_summary(app, caplog):
    server = app[0]
    REGISTRY.warnings = LogLimiter(log, per_source=5, total=20, window=1.0)
    flood = connect(server, {"X-Who": "flood"})
    calm = connect(server, {"X-Who": "calm"})
    wait_for(lambda: {"flood", "calm"} <= {c.name for c in REGISTRY.clients()})
    sent = 300
    summary = re.compile(r"otrace: \d+ more log lines .* not logged \(.*flood: (\d+)")
    with caplog.at_level(logging.INFO, logger="otrace.web"):
        for n in range(sent):
            on_loop(server, lambda: flood.write_message(f"not json {n}"))
        on_loop(server, lambda: calm.write_message("calm's one bad message"))

        def accounted() -> bool:
            lines = messages(caplog)
            logged = sum("non-otrace message" in line and "from flood" in line for line in lines)
            dropped = sum(int(m.group(1)) for m in map(summary.search, lines) if m)
            return logged + dropped == sent
        wait_for(accounted, what="every flood message logged or counted in a summary")
    lines = messages(caplog)
    summaries = [line for line in lines if summary.search(line)]
    assert 1 <= len(summaries) and len(lines) <= 7 * len(summaries) + 7, lines
    assert any("from calm" in line for line in lines)          # another browser's line is still written
    on_loop(server, flood.close)
    on_loop(server, calm.close)


def test_a_browser_reconnecting_in_a_loop_writes_a_few_lines(app, caplog):
    server = app[0]
    REGISTRY.warnings = LogLimiter(log, per_source=4, total=20, window=30.0)
    with caplog.at_level(logging.INFO, logger="otrace.web"):
        for _ in range(25):
            ws = connect(server, {"X-Who": "flapper"})
            wait_for(lambda: "flapper" in {c.name for c in REGISTRY.clients()})
            on_loop(server, ws.close)
            wait_for(lambda: "flapper" not in {c.name for c in REGISTRY.clients()})
    assert [line for line in messages(caplog) if "flapper" in line] == [
        "otrace: browser flapper connected", "otrace: browser flapper disconnected"] * 2
    on_loop(server, REGISTRY.warnings.flush)
    assert "(flapper: 46)" in messages(caplog)[-1]
