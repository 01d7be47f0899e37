"""Each test app (tests/web/apps: aiohttp, Starlette, FastAPI) run unmodified by the ``otrace`` command
as a process of its own, driven as an editor drives it (a real language-server connection) with a
real Chromium page: ``otrace`` starts before the program builds its routes, and still serves
/osh/web with the registry the routes made; the page is listed, evaluates JavaScript, and a held
request of its user names it; Ctrl-C then ends the program with status 0."""

from __future__ import annotations

import pytest

from tests.support.waiting import wait_for
from tests.web.frameworks import AppProcess, uvicorn_serves_websockets

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize("app", ["aiohttp_app", "starlette_app", "fastapi_app"])
def test_otrace_app_py_serves_osh_web_to_an_editor(tmp_path, browser, app):
    if app != "aiohttp_app" and not uvicorn_serves_websockets():
        pytest.skip("uvicorn has no websocket implementation here (pip install otrace-server[starlette])")
    running = AppProcess(app, tmp_path, otrace=["-s", "trace_active=True", "-s", "safe_mode=False"])
    context = browser.new_context()
    try:
        editor = running.lsp()
        context.add_cookies([{"name": "who", "value": "ann", "url": running.url}])
        page = context.new_page()
        page.goto(running.url + "/")
        [client] = wait_for(lambda: [c for c in editor.request("otrace/webClients")["clients"] if c["url"]],
                            what="the page in /osh/web, with its hello")
        assert (client["name"], client["url"]) == ("ann", running.url + "/")
        assert editor.request("otrace/webEval", {"client": "ann", "expression": "document.title"}) == {"value": '"t"'}
        page.evaluate("() => { window.__r = fetch('/hold').then(r => r.text()); }")
        [hold] = wait_for(lambda: editor.request("otrace/holds")["holds"], what="the hold")
        assert (hold["label"], hold["webClient"]) == ("web_hold", "ann")
        editor.request("otrace/resume", {"ids": [hold["id"]]})
        assert page.evaluate("() => window.__r") == "resumed"
        editor.close()
        running.interrupt()
        assert running.proc.wait(15) == 0
    finally:
        context.close()
        running.close()
