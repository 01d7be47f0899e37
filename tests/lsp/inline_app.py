"""A Tornado app for the tests of answers on the control thread (tests/lsp/test_inline.py), run as
a subprocess; exits at stdin EOF. Prints ``READY <http_port> <lsp_port>`` once serving.

Handlers:
    /spin?s=N    prints SPINNING, then runs pure Python for N seconds (the app thread wants the GIL)
    /block?s=N   prints BLOCKING, then blocks the app's loop in time.sleep for N seconds

Shell commands it registers (the test hook: which thread answered):
    thread       bounded: the name of the thread running it (``otrace-control`` when inline)
    thread_w     the same, not bounded (always a worker)
    nap [S]      not bounded: sleeps S seconds (default 1), then says where it ran
    heavy        bounded, but spends ~20 ms of CPU (more than lsp.inline.BUDGET)
    tick         bounded: how many times ``tick`` ran in this process (the order clients were served)
    hop          bounded: what runs it: ``callback`` (a plain callback of the control loop, e.g. the
                 connection's data_received), ``task`` (a coroutine) or ``thread`` (no loop)
    hop_w        the same, not bounded (always a worker: ``thread``)
    passes       bounded: how many times a client's inline answers gave the control loop a pass
                 (``Client.next_pass``, counted here) in this process
"""

import asyncio
import itertools
import os
import sys
import threading
import time

import tornado.web

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from otrace_server.control.client import Client  # noqa: E402
from otrace_server.shell.registry import command  # noqa: E402


def _where(session, call):
    return threading.current_thread().name


command("thread", "thread                    # (test) the thread running this command", bounded=True)(_where)
command("thread_w", "thread_w                  # (test) the same, never bounded")(_where)


@command("nap", "nap [seconds]             # (test) sleep, then say where it ran")
def nap(session, call):
    time.sleep(float(call.args[0]) if call.args else 1.0)
    return threading.current_thread().name


@command("heavy", "heavy                     # (test) bounded, yet ~20 ms of CPU", bounded=True)
def heavy(session, call):
    end = time.thread_time() + 0.02
    while time.thread_time() < end:
        pass
    return threading.current_thread().name


_ticks = itertools.count(1)


@command("tick", "tick                      # (test) how many times tick ran", bounded=True)
def tick(session, call):
    return str(next(_ticks))


def _hop(session, call):
    try:
        return "callback" if asyncio.current_task() is None else "task"
    except RuntimeError:   # no running loop: a worker thread
        return "thread"


_passes = [0]
_next_pass = Client.next_pass


def _counted_next_pass():
    _passes[0] += 1
    return _next_pass()


Client.next_pass = staticmethod(_counted_next_pass)
command("passes", "passes                    # (test) passes given by inline answers",
        bounded=True)(lambda session, call: str(_passes[0]))
command("hop", "hop                       # (test) a callback, a task or a thread runs it", bounded=True)(_hop)
command("hop_w", "hop_w                     # (test) the same, never bounded")(_hop)


def compute(n):
    return n


class SpinHandler(tornado.web.RequestHandler):
    def get(self):
        print("SPINNING", flush=True)
        end = time.perf_counter() + float(self.get_argument("s", "3"))
        n = 0
        while time.perf_counter() < end:
            for i in range(1000):
                n += i
        self.write(str(n))


class BlockHandler(tornado.web.RequestHandler):
    def get(self):
        print("BLOCKING", flush=True)
        time.sleep(float(self.get_argument("s", "3")))
        self.write("unblocked")


def main():
    from tests.support.testapp import serve_until_stdin_eof

    serve_until_stdin_eof([(r"/spin", SpinHandler), (r"/block", BlockHandler)], globals(), "compute")


if __name__ == "__main__":
    main()
