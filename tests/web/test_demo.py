"""demos/chat_websock.py as a real process: --port 0 prints where it listens, serves the login page
and the browser script, and --exit-on-stdin-eof ends it when stdin closes."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.web.servers import DEMO_PATH

pytestmark = pytest.mark.timeout(60)


def test_demo_serves_and_exits_on_stdin_eof():
    proc = subprocess.Popen([sys.executable, str(DEMO_PATH), "--port", "0", "--no-lsp", "--exit-on-stdin-eof"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Listening on http://127.0.0.1:")
        url = line.split()[-1]
        with urllib.request.urlopen(url + "/login", timeout=10) as response:
            assert response.status == 200 and b'id="name"' in response.read()
        with urllib.request.urlopen(url + "/otrace/otrace-web.js", timeout=10) as response:
            assert b"OTraceWeb" in response.read()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        try:   # the login cookie is not sent with cross-site POSTs, nor readable by scripts
            urllib.request.build_opener(NoRedirect).open(url + "/login", data=b"name=alice", timeout=10)
        except urllib.error.HTTPError as redirect:
            cookie = redirect.headers["Set-Cookie"]
        assert "SameSite=Lax" in cookie and "HttpOnly" in cookie, cookie
        proc.stdin.close()
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
