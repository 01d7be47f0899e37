"""An asyncio loop running on a thread of its own, as an application's loop runs beside the test
thread: what the runtime, holds, crossing, shell and app-server tests share.

    with LoopThread("app-thread") as app:        # started; app.loop runs forever on "app-thread"
        app.run(coro_or_function, *args)         # run it on the loop, wait for its result
        future = app.submit(coro)                # a concurrent.futures.Future, not waited for
    # stopped: tasks left waiting cancelled, loop stopped, thread joined, loop closed
    value = on_a_thread(fn)                      # fn() run by a new thread (one that runs its own loops)

As a fixture: ``with LoopThread("app-loop") as app: yield app.loop``.

Thread-safety: construct, ``run``, ``submit`` and ``stop`` from any thread but the loop's own;
the loop itself runs only on the named thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

__all__ = ["LoopThread", "on_a_thread"]


class LoopThread:
    """A new asyncio loop, ``loop``, running forever on the daemon thread ``thread`` named ``name``
    (that thread's current event loop). Started by the constructor; ``stop`` (or leaving the
    ``with`` block) ends it. AssertionError when it does not start within ``timeout`` seconds."""

    def __init__(self, name: str = "app-thread", timeout: float = 5.0) -> None:
        self.loop = asyncio.new_event_loop()
        self.timeout = timeout
        running = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(running.set)
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name=name, daemon=True)
        self.thread.start()
        assert running.wait(timeout), f"loop thread {name} did not start"

    def __enter__(self) -> "LoopThread":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def submit(self, coro) -> concurrent.futures.Future:
        """Schedule the coroutine ``coro`` on the loop; its future (not waited for)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, work: Any, *args: Any, timeout: float | None = None) -> Any:
        """Run ``work`` on the loop and return its result (or raise its exception): a coroutine,
        or a function called with ``args`` there. TimeoutError after ``timeout`` seconds (default:
        the constructor's)."""
        if asyncio.iscoroutine(work):
            coro = work
        else:
            async def call() -> Any:
                return work(*args)
            coro = call()
        return self.submit(coro).result(self.timeout if timeout is None else timeout)

    def stop(self, cancel_pending: bool = True) -> None:
        """Cancel the tasks a test left waiting (unless ``cancel_pending`` is false) and wait for
        them to end, stop the loop, join the thread, close the loop. Idempotent; a loop that a test
        already stopped is only joined and closed."""
        if self.loop.is_closed():
            return
        if self.thread.is_alive() and self.loop.is_running():
            if cancel_pending:
                self.run(_cancel_the_rest())
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(self.timeout)
        self.loop.close()


def on_a_thread(fn: Any, name: str = "program", timeout: float = 10.0) -> Any:
    """``fn()`` run on a new thread named ``name`` (as a program's main runs its loops: the app
    thread of a runtime it makes); its result. AssertionError when it raised or did not end in
    ``timeout`` seconds."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(value=fn()), name=name)
    thread.start()
    thread.join(timeout)
    assert "value" in box, f"{fn!r} on the thread {name} failed"
    return box["value"]


async def _cancel_the_rest() -> None:
    """Cancel every task of the running loop but this one and wait until they have ended (a hold
    left waiting ends cleanly instead of being destroyed pending when the loop closes)."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

