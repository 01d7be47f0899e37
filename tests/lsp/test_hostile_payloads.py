"""lsp.payloads and the language server against a real app holding a request whose locals are
hostile objects (tests/support/hostile_app.py): otrace/holds, otrace/context, hovers,
otrace/command and otrace/complete inside the held context all answer, none fails the request."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.lsp.conftest import ROOT, AppProcess, _sample_ready, fetch_async
from tests.shell.test_hostile_objects import INSIDE, NAMED

pytestmark = pytest.mark.timeout(120)

APP = ROOT / "tests" / "support" / "hostile_app.py"
SOURCE = APP.read_text()
LOCALS = ("answers_everything", "getattribute_raises", "class_raises", "repr_huge", "hostile_keys", "hostile_set",
          "huge_int", "nested", "recursive_list", "raising_class", "module_like", "hostile_key", "zoo")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    app = AppProcess([str(APP)], tmp_path_factory.mktemp("xdg"), _sample_ready)
    yield app
    app.stop()


def _hover(client, uri: str, name: str):
    """The hover of ``name`` where the handler's ``get`` first names it."""
    lines = SOURCE.splitlines()
    start = next(i for i, text in enumerate(lines) if "async def get(self):" in text)
    number = next(i for i in range(start, len(lines)) if re.search(rf"\b{name}\b", lines[i]))
    column = re.search(rf"\b{name}\b", lines[number]).start() + 1
    return client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                 "position": {"line": number, "character": column}})


def test_hostile_locals_in_payloads_hovers_and_commands(hostile):
    c = hostile.client()
    box = fetch_async(hostile, "/hostile")
    try:
        started = c.wait_notification("otrace/holdStarted", timeout=30)
        assert started["function"] == "HostileHandler.get"
        assert [h["traceId"] for h in c.request("otrace/holds", {})["holds"]] == [started["traceId"]]

        context = c.request("otrace/context", {"traceId": started["traceId"]})
        json.dumps(context)
        shown = {v["name"]: v for v in context["variables"]}
        assert set(LOCALS) <= set(shown)
        assert shown["getattribute_raises"]["type"] == "GetattributeRaises"
        assert shown["class_raises"]["type"] == "ClassRaises"
        assert len(shown["repr_huge"]["repr"]) <= 1000
        assert shown["huge_int"]["repr"].startswith("<unrepresentable int: ")
        assert shown["zoo"]["repr"].startswith("<unrepresentable dict: ")

        uri = APP.as_uri()
        c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                           "text": SOURCE}})
        for name in ("answers_everything", "getattribute_raises", "class_raises", "repr_huge", "huge_int", "zoo"):
            hover = _hover(c, uri, name)
            assert hover is not None and hover["contents"]["value"].startswith(f"**{name}** = `"), (name, hover)
            assert len(hover["contents"]["value"]) < 1000

        assert not c.request("otrace/command", {"line": "cd ~~"})["error"]
        for template in NAMED + INSIDE:
            line = template.format(n="getattribute_raises")
            out = c.request("otrace/command", {"line": line})
            assert "internal error" not in out["output"] and (not out["error"] or "\n" not in out["output"]), line
        for line in ("ls repr_", "cd getattribute_raises/", "pr hostile_keys.", "ls module_like/"):
            assert isinstance(c.request("otrace/complete", {"line": line})["items"], list)
    finally:
        c.request("otrace/command", {"line": "cd /osh/globals"})
        c.request("otrace/resume", {"all": True})
    box["thread"].join(30)
    assert box["body"].startswith("resumed with ")
