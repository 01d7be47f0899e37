"""The demos' page in real headless Chromium: it includes otrace-web.js, so the browser appears under
/osh/web and evaluates JavaScript typed in the shell; a user entering 77 in the page is held, the
hold names that browser, and resuming it shows the answer in the page."""

from __future__ import annotations

import pytest

from tests.demos.test_hold_story import ANSWER_77, command
from tests.support.waiting import wait_for
from tests.web.conftest import browser  # noqa: F401  (the fixture: one headless Chromium per module)
from tests.web.frameworks import uvicorn_serves_websockets

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def page(demo, editor, browser):  # noqa: F811
    """The demo's page in a fresh Chromium context, once its browser is listed under /osh/web (as
    ``browser``: the demos give no identity). Closed after the test, safe_mode restored."""
    if demo.framework != "aiohttp" and not uvicorn_serves_websockets():
        pytest.skip("uvicorn has no websocket implementation here (pip install otrace-server[starlette])")
    context = browser.new_context()
    page = context.new_page()
    page.goto(demo.url + "/")
    wait_for(lambda: command(editor, "ls /osh/web") == "browser", what="the page under /osh/web")
    yield page
    context.close()
    command(editor, "cd /osh/globals")
    command(editor, "set safe_mode True")
    wait_for(lambda: command(editor, "ls /osh/web") == "", what="the browser to disconnect")


def test_the_page_evaluates_javascript_typed_in_osh_web(demo, editor, page):
    command(editor, "set safe_mode False")
    command(editor, "cd /osh/web/browser")
    assert command(editor, "document.title") == f'"Reciprocal trace ({demo.framework})"'
    assert command(editor, 'document.body.style.background = "red"') == '"red"'
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 0, 0)"


def test_77_entered_in_the_page_is_held_naming_that_browser(demo, editor, page):
    page.fill("#number", "77")
    page.click("input[type=submit]", no_wait_after=True)              # the page now waits for its answer
    started = editor.wait_notification("otrace/holdStarted")
    [hold] = editor.request("otrace/holds")["holds"]
    assert hold["id"] == started["id"] and hold["webClient"] == "browser", hold
    assert hold["summary"]["uri"] == "/?number=77"
    assert editor.request("otrace/resume", {"all": True}) == {"resumed": [hold["id"]]}
    page.wait_for_selector(f"#answer:has-text('{ANSWER_77}')", timeout=10_000)
