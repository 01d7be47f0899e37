#!/usr/bin/env python3
"""bench/web_eval.py: round trip of a /osh/web JavaScript evaluation in real headless Chromium.

    .venv/bin/python bench/web_eval.py [-n 1000] [--expr 1+1]

Serves a page that includes otrace-web.js from a Tornado app (its loop on its own thread, otrace's
runtime beside it), opens it in Debian's /usr/bin/chromium through Playwright, then evaluates
``--expr`` ``-n`` times in a row from the main thread through ``WebRegistry.evaluate`` (the path
the shell uses: runtime.crossing to the socket's loop -> websocket -> browser -> reply -> Future). Prints p50,
p90, p99, max and mean in milliseconds. Goal: p50 < 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import tornado.httpserver  # noqa: E402
import tornado.netutil  # noqa: E402
import tornado.web  # noqa: E402

from bench.goals import Goal, add_json_argument, report  # noqa: E402
from otrace_server.core.engine import get_engine  # noqa: E402
from otrace_server.runtime import Runtime  # noqa: E402
from otrace_server.shell import Shell  # noqa: E402
from otrace_server.web import WebRegistry, handlers  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]
PAGE = '<!DOCTYPE html><html><body><script src="/otrace/otrace-web.js"></script></body></html>'


class Page(tornado.web.RequestHandler):
    def get(self):
        self.write(PAGE)


def serve(registry):
    """Start the app on its own thread; returns (loop, port)."""
    loop = asyncio.new_event_loop()
    box = {}
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        server = tornado.httpserver.HTTPServer(tornado.web.Application([("/", Page)] + handlers("/otrace", registry)))
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        box["port"] = sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, name="app-thread", daemon=True).start()
    ready.wait(10)
    return loop, box["port"]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="number of evaluations")
    parser.add_argument("--expr", default="1+1", help="JavaScript expression")
    parser.add_argument("--quick", action="store_true", help="200 evaluations (smoke run)")
    add_json_argument(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.n = min(args.n, 200)
    from playwright.sync_api import sync_playwright

    engine = get_engine()
    engine.settings.set("safe_mode", False)
    registry = WebRegistry(identity=lambda handler: "bench")
    loop, port = serve(registry)
    runtime = Runtime(engine, loop)
    runtime.start()
    registry.attach(Shell(engine, {}), runtime)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        deadline = time.monotonic() + 10
        while not registry.clients() and time.monotonic() < deadline:
            time.sleep(0.01)
        for _ in range(20):  # warm up
            registry.evaluate("bench", args.expr)
        times = []
        for _ in range(args.n):
            start = time.perf_counter()
            value, error = registry.evaluate("bench", args.expr, who="bench")
            times.append((time.perf_counter() - start) * 1000)
            assert error is None, error
        browser.close()
    runtime.stop()
    print(f"web eval round trip of {args.expr!r} in headless Chromium, n={args.n} (value {value}):")
    print(f"  p50 {percentile(times, 50):.2f} ms  p90 {percentile(times, 90):.2f} ms  "
          f"p99 {percentile(times, 99):.2f} ms  max {max(times):.2f} ms  mean {statistics.mean(times):.2f} ms")
    return report([Goal("web_eval.p50_ms", f"/osh/web evaluation round trip in headless Chromium, p50 of {args.n}",
                        percentile(times, 50), "<", 10, unit="ms",
                        note=f"p99 {percentile(times, 99):.2f} ms")], args.json)


if __name__ == "__main__":
    sys.exit(main())
