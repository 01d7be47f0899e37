"""Fixtures for the shell tests: a small fake application namespace, a real Engine, a Shell and a
session, and a real asyncio loop running on a thread (for holds and /osh/tasks)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from otrace_server.core.context import capture
from otrace_server.core.engine import Engine
from otrace_server.shell import Shell
from tests.support.loops import LoopThread
from tests.support.waiting import wait_for


class Base:
    """A base class."""

    base_attr = "base"

    def inherited(self):
        return "inherited"


class Receive(Base):
    """Receives numbers."""

    limit = 10

    def __init__(self, value=1):
        self.value = value

    def respond(self, number):
        """Return the reciprocal."""
        return 1 / number


class GetHandler:
    """Stands in for a Tornado handler: ``get`` holds like ``await traceassert(..., "hold")``."""

    engine: Engine | None = None

    async def get(self, number):
        if number == "77":
            ctx = capture(sys._getframe(), ctype="holds", label="hold_check", funcname="GetHandler.get",
                          event="hold", stack_locals=self.engine.settings.stack_locals)
            value = await self.engine.start_hold(ctx)
            return f"resumed:{value}"
        return f"reciprocal:{1 / int(number)}"


def helper(a, b=2):
    """Add two numbers."""
    return a + b


def make_app() -> dict:
    """A fresh application namespace (globals-like dict)."""
    return {
        "__name__": "fake_app",
        "Base": Base,
        "Receive": Receive,
        "GetHandler": GetHandler,
        "helper": helper,
        "receiver": Receive(5),
        "config": {"port": 8888, "debug": False, "nested": {"deep": 1}},
        "numbers": [10, 20, 30],
        "pair": (1, "two"),
        "flags": {"x", "y"},
        "counter": 3,
        "sys": sys,
    }


@pytest.fixture
def app() -> dict:
    return make_app()


@pytest.fixture
def engine() -> Engine:
    eng = Engine()
    eng.install_crossing(lambda loop, fn: loop.call_soon_threadsafe(fn))
    GetHandler.engine = eng
    yield eng
    eng.holds.resume_all()
    eng.tracer.untrace_all()
    eng.patcher.unpatch_all()


@pytest.fixture
def shell(engine, app) -> Shell:
    return Shell(engine, app)


@pytest.fixture
def session(shell):
    return shell.session("test")


@pytest.fixture
def loop():
    """A real asyncio loop running on its own thread."""
    with LoopThread("app-loop") as app:   # a hold a test left waiting is cancelled at the end
        yield app.loop


@pytest.fixture
def wait():
    return wait_for


@pytest.fixture
def held(engine, loop, wait):
    """A real hold: GetHandler().get("77") suspended on the loop thread; yields (future, hold)."""
    handler = GetHandler()
    future = asyncio.run_coroutine_threadsafe(handler.get("77"), loop)
    wait(lambda: len(engine.holds) == 1)
    yield future, engine.holds.list()[0]
