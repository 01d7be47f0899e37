"""The demos' own pages (demos/): user input is never reflected unescaped (an XSS in a demo
is a bad example for users). The demo's real ThreadingHTTPServer on 127.0.0.1, real HTTP."""

import importlib.util
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "demos" / "hello_trace.py"
PAYLOAD = "<script>alert(1)</script>"


@pytest.fixture
def hello():
    spec = importlib.util.spec_from_file_location("hello_trace_xss", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = module.make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{module.Http_port}/"
    server.shutdown()
    server.server_close()
    thread.join(5)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.headers.get("Content-Type"), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.headers.get("Content-Type"), exc.read().decode()


def test_hello_error_page_escapes_the_input(hello):
    content_type, body = get(hello + "?number=" + urllib.parse.quote(PAYLOAD))
    assert content_type == "text/html"
    assert "Server error" in body and "ValueError" in body        # float('<script>...') failed
    assert PAYLOAD not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_hello_answer_still_shown(hello):
    _, body = get(hello + "?number=4")
    assert "The reciprocal of 4.0 is 0.25" in body
