"""The torna_trace demo as users run it: entering 77 holds the request, the editor sees it and resumes it."""

import threading
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(60)


def test_number_77_holds_and_resumes_through_the_language_server(demo):
    c = demo.client("demo-test")
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("body", urllib.request.urlopen(
        f"http://127.0.0.1:{demo.http}/?number=77", timeout=30).read().decode()), daemon=True)
    t.start()
    started = c.wait_notification("otrace/holdStarted")
    assert started["id"].startswith("GetHandler.get:hd-hold_check:")
    assert started["file"].endswith("torna_trace.py") and started["label"] == "hold_check"
    other = urllib.request.urlopen(f"http://127.0.0.1:{demo.http}/?number=4", timeout=5).read().decode()
    assert "The reciprocal of 4.0 is 0.25" in other          # other requests are served meanwhile
    out = c.request("otrace/command", {"line": "cd /osh/recent/holds/GetHandler.get/hd-hold_check"})
    assert not out["error"], out
    assert c.request("otrace/resume", {"all": True}) == {"resumed": [started["id"]]}
    t.join(10)
    assert "The reciprocal of 77.0 is" in box["body"]
