"""JavaScript evaluation in real headless Chromium through the web provider (``WebRegistry``), on
the chat demo: values, errors, isolation between users, timeouts, disconnection, multiplexing."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time

import pytest

from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def unsafe(chat):
    """safe_mode False (the ``users`` fixture restores True)."""
    chat[1].engine.settings.set("safe_mode", False)


def test_two_users_get_their_names_with_url_and_user_agent(users, chat):
    registry = chat[2]
    _, alice = users.login("alice")
    _, bob = users.login("bob")
    _, alice2 = users.login("alice")                     # a second tab of alice
    assert (alice, bob, alice2) == ("alice", "bob", "alice#2")
    infos = {c.name: c for c in registry.clients()}
    assert sorted(infos) == ["alice", "alice#2", "bob"]
    assert infos["bob"].url == users.server.url + "/"
    assert "Chrome" in infos["bob"].user_agent
    assert abs(infos["bob"].since - time.time()) < 60


def test_assignment_changes_only_that_users_page(users, chat, unsafe):
    registry = chat[2]
    alice_page, alice = users.login("alice")
    bob_page, bob = users.login("bob")
    assert registry.evaluate(alice, 'document.body.style.background = "red"') == ('"red"', None)
    background = "getComputedStyle(document.body).backgroundColor"
    assert alice_page.evaluate(background) == "rgb(255, 0, 0)"
    assert bob_page.evaluate(background) != "rgb(255, 0, 0)"


def test_reads_what_the_user_typed(users, chat, unsafe):
    page, name = users.login("alice")
    page.fill("#message", "hello from alice")
    value, error = chat[2].evaluate(name, 'document.querySelector("#message").value')
    assert error is None
    assert json.loads(value) == "hello from alice"


VALUE_CASES = [
    ("1+1", "2"),
    ("({a: [1, 'x', null]})", '{"a":[1,"x",null]}'),                    # plain data: JSON
    ("'it' + 's'", '"its"'),
    ("document.body", "[object HTMLBodyElement]"),                       # others: String(x)
    ("undefined", "undefined"),
    ("NaN", "NaN"),
    ("let n = 20; n + 1", "21"),                                           # statements: completion value
    ("await new Promise(r => setTimeout(() => r(7), 10))", "7"),           # await in an expression
    ("const v = await Promise.resolve(3); window.__v = v;", "undefined"),  # await in statements
    ("window.__v", "3"),
]


def test_values_come_back_as_text(users, chat, unsafe):
    _, name = users.login("carol")
    got = [(expression, chat[2].evaluate(name, expression)) for expression, _ in VALUE_CASES]
    assert got == [(expression, (expected, None)) for expression, expected in VALUE_CASES]


def test_a_throwing_expression_returns_its_error(users, chat, unsafe):
    _, name = users.login("alice")
    assert chat[2].evaluate(name, 'null.foo') == (None, "TypeError: Cannot read properties of null (reading 'foo')")
    assert chat[2].evaluate(name, 'throw new Error("boom")') == (None, "Error: boom")
    value, error = chat[2].evaluate(name, "1 +* 2")
    assert value is None and error.startswith("SyntaxError")


def test_safe_mode_refuses_and_says_how_to_enable(users, chat):
    _, name = users.login("alice")
    value, error = chat[2].evaluate(name, "1+1")
    assert value is None and error == "JavaScript evaluation: refused in safe mode; set safe_mode False to allow it"


def test_unknown_browser_is_one_clear_error(users, chat, unsafe):
    assert chat[2].evaluate("nobody", "1") == (None, "no browser named 'nobody'; 'ls /osh/web' lists them")


def test_no_answer_within_the_timeout_is_an_error(users, chat, unsafe):
    _, name = users.login("alice")
    start = time.monotonic()
    value, error = chat[2].evaluate(name, "new Promise(() => {})", timeout=0.5)
    assert (value, error) == (None, f"browser {name} did not answer within 0.5 s")
    assert 0.5 <= time.monotonic() - start < 2.0


def test_closing_the_tab_fails_the_pending_evaluation_at_once(users, chat, unsafe):
    page, name = users.login("alice")
    box = {}
    worker = threading.Thread(target=lambda: box.update(r=chat[2].evaluate(
        name, "new Promise(r => { window.inFlight = true; setTimeout(r, 30000); })", timeout=10)))
    start = time.monotonic()
    worker.start()
    wait_for(lambda: page.evaluate("window.inFlight === true"), what="the evaluation in flight")
    page.close()
    worker.join(10)
    assert box["r"] == (None, f"browser {name} disconnected")
    assert time.monotonic() - start < 5.0                   # well before the 10 s timeout


def test_100_concurrent_evaluations_come_back_to_the_right_callers(users, chat, unsafe):
    registry = chat[2]
    _, alice = users.login("alice")
    _, bob = users.login("bob")

    def ask(i):
        name = (alice, bob)[i % 2]
        # replies arrive out of order: later requests answer sooner
        expr = f"new Promise(r => setTimeout(() => r([{i}, document.querySelector('#user').textContent]), {100 - i}))"
        return i, registry.evaluate(name, expr, timeout=10, who=f"caller{i}")

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(ask, range(100)))
    for i, (value, error) in results:
        assert error is None
        assert json.loads(value) == [i, ("alice", "bob")[i % 2]]


def test_evaluate_all_answers_one_line_per_browser(users, chat, unsafe):
    _, alice = users.login("alice")
    _, bob = users.login("bob")
    results = chat[2].evaluate_all("document.querySelector('#user').textContent")
    assert results == [(alice, '"alice"', None), (bob, '"bob"', None)]


def test_every_evaluation_is_audited(users, chat, unsafe, caplog):
    _, name = users.login("alice")
    with caplog.at_level(logging.INFO, logger="otrace.audit"):
        chat[2].evaluate(name, "6*7", who="console")
    lines = [r.getMessage() for r in caplog.records if r.name == "otrace.audit"]
    assert lines == [f'front=console action=javascript browser={name} expression="6*7"']   # who: no front end acting


def test_evaluate_refuses_the_app_loop_thread(users, chat, unsafe):
    server, otrace, registry = chat
    _, name = users.login("alice")
    refused: concurrent.futures.Future = concurrent.futures.Future()

    def on_app_loop():
        try:
            registry.evaluate(name, "1")
        except RuntimeError as exc:
            refused.set_result(str(exc))
        else:
            refused.set_result(None)

    otrace.runtime.post_to_app_loop(on_app_loop)
    assert "app loop thread" in refused.result(5)
