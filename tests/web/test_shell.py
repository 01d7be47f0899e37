"""/osh/web through the object shell, with real headless Chromium on the chat demo: listing the
connected browsers, JavaScript input in /osh/web/<name>, safe_mode, /osh/web/*, repeat."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def session(chat):
    return chat[1].shell.session(name="test")


def test_ls_lists_the_connected_browsers(users, session):
    users.login("alice")
    users.login("bob")
    assert not session.execute("cd /osh/web").error
    result = session.execute("ls")
    assert not result.error
    assert result.output.split() == ["alice", "bob"]


def test_ls_l_shows_url_and_user_agent(users, session):
    users.login("alice")
    session.execute("cd /osh/web")
    result = session.execute("ls -l")
    assert not result.error
    assert users.server.url + "/" in result.output and "Chrome" in result.output


def test_javascript_input_in_a_browser_directory_changes_that_page(users, session):
    alice_page, alice = users.login("alice")
    bob_page, _ = users.login("bob")
    assert not session.execute("set safe_mode False").error
    assert not session.execute(f"cd /osh/web/{alice}").error
    assert session.execute("pwd").output.strip() == f"/osh/web/{alice}"
    result = session.execute('document.body.style.background = "red"')
    assert (result.error, result.output) == (False, '"red"')
    background = "getComputedStyle(document.body).backgroundColor"
    assert alice_page.evaluate(background) == "rgb(255, 0, 0)"
    assert bob_page.evaluate(background) != "rgb(255, 0, 0)"
    alice_page.fill("#message", "typing...")
    assert session.execute('document.querySelector("#message").value').output == '"typing..."'


def test_a_throwing_expression_is_an_error_line(users, session):
    _, alice = users.login("alice")
    session.execute("set safe_mode False")
    session.execute(f"cd /osh/web/{alice}")
    result = session.execute("undefinedName + 1")
    assert result.error
    assert "ReferenceError: undefinedName is not defined" in result.output


def test_safe_mode_refuses_with_how_to_enable(users, session):
    _, alice = users.login("alice")
    session.execute("set safe_mode True")
    session.execute(f"cd /osh/web/{alice}")
    result = session.execute("1+1")
    assert result.error and "set safe_mode False" in result.output


def test_star_evaluates_in_every_browser_one_line_each(users, session):
    _, alice = users.login("alice")
    _, bob = users.login("bob")
    session.execute("set safe_mode False")
    session.execute("cd /osh/web/*")
    result = session.execute("document.querySelector('#user').textContent")
    assert sorted(result.output.splitlines()) == [f'{alice}: "alice"', f'{bob}: "bob"']


def test_repeat_re_evaluates_what_the_user_types(users, session):
    page, alice = users.login("alice")
    session.execute("set safe_mode False")
    session.execute(f"cd /osh/web/{alice}")
    page.fill("#message", "a")
    line = 'repeat "User is typing: " + document.querySelector("#message").value'
    first = session.execute(line)
    assert first.repeat and first.output.endswith('"User is typing: a"')
    page.fill("#message", "ab")
    assert session.execute(first.repeat).output.endswith('"User is typing: ab"')
