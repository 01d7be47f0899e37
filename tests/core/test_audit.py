"""core.audit: the one record, its actor, its line format."""

from __future__ import annotations

import logging
import threading

import pytest

from otrace_server.core import audit


@pytest.fixture
def lines(caplog):
    with caplog.at_level(logging.INFO, logger="otrace.audit"):
        yield lambda: [r.getMessage() for r in caplog.records if r.name == "otrace.audit"]


def test_a_record_names_the_actor_and_reads_back(lines):
    with audit.acting("lsp", "Visual Studio Code"):
        audit.record("resume", ids=["GetHandler.get:hd-hold_check:12-00-00"], outcome="continue", count=2)
    [line] = lines()
    assert line == ('front=lsp client="Visual Studio Code" action=resume '
                    'ids=["GetHandler.get:hd-hold_check:12-00-00"] outcome=continue count=2')
    assert audit.parse("2026-12-04T18:00:00 " + line) == {
        "front": "lsp", "client": "Visual Studio Code", "action": "resume",
        "ids": ["GetHandler.get:hd-hold_check:12-00-00"], "outcome": "continue", "count": 2}


def test_without_a_front_end_the_actor_is_the_app_and_has_no_client(lines):
    audit.record("set", name="trace_active", value=True)
    assert lines() == ["front=app action=set name=trace_active value=true"]
    assert audit.actor() == audit.APP


@pytest.mark.parametrize("value", ["true", "12", "a b", "", "x\x1b[31m\n", "é", None, 1.5, {"k": [1]}, "a=b c=d"])
def test_values_are_written_so_they_read_back_as_themselves_and_nothing_raw(lines, value):
    audit.record("exec", code=value, after="end")
    [line] = lines()
    assert line.isascii() and "\x1b" not in line and "\n" not in line
    assert audit.parse(line) == {"front": "app", "action": "exec", "code": value, "after": "end"}


def test_acting_is_per_thread_and_nests(lines):
    seen = []
    with audit.acting("console"):
        with audit.acting(audit.Actor.named("lsp:emacs")):
            audit.record("trace", name="f")
        thread = threading.Thread(target=lambda: seen.append(audit.actor()))
        thread.start()
        thread.join()
        audit.record("untrace", names=["f"])
    assert seen == [audit.APP]                        # a new thread starts with no actor
    assert [audit.parse(x)["front"] for x in lines()] == ["lsp", "console"]
    assert audit.parse(lines()[0])["client"] == "emacs" and "client" not in audit.parse(lines()[1])


def test_the_actor_fields_cannot_be_overwritten_by_details(lines):
    audit.record("trace", front="forged", client="forged", name="f")
    assert audit.parse(lines()[0]) == {"front": "app", "action": "trace", "name": "f"}


def test_parse_refuses_what_is_not_a_record():
    for text in ("hello", "front=", "x=1"):
        with pytest.raises(ValueError):
            audit.parse(text)
