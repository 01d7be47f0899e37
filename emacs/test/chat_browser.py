#!/usr/bin/env python3
"""Test helper for the Emacs ERT tests: open the chat demo at URL in headless Chromium, log in as NAME,
print "READY NAME" once the page is connected, and stay connected until stdin reaches EOF.

    python emacs/test/chat_browser.py http://127.0.0.1:PORT NAME
"""

import sys

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]


def main() -> None:
    url, name = sys.argv[1], sys.argv[2]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        page.goto(url + "/login")
        page.fill("#name", name)
        page.click("#login")
        page.wait_for_selector("#message")
        print("READY", name, flush=True)
        sys.stdin.read()               # until the test (Emacs) closes our stdin
        browser.close()


if __name__ == "__main__":
    main()
