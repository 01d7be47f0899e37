#!/usr/bin/env python3
"""Test helper for the Emacs ERT tests: headless Chromium tabs of one page, opened on demand.

    python emacs/test/web_tabs.py URL

Prints "READY" once Chromium runs; each line "open" on stdin opens one more tab at URL and prints
"OPENED N" (N tabs now) once the page loaded; stdin's EOF closes Chromium and exits. (A fleet's
workers share one port: which worker a tab's websocket reaches is the kernel's choice, so a test
opens tabs until several workers have one.)
"""

import sys

from playwright.sync_api import sync_playwright

from chat_browser import ARGS, CHROMIUM


def main() -> None:
    url = sys.argv[1]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context()
        print("READY", flush=True)
        tabs = 0
        for line in sys.stdin:
            if line.strip() == "open":
                context.new_page().goto(url)
                tabs += 1
                print("OPENED", tabs, flush=True)
        browser.close()


if __name__ == "__main__":
    main()
