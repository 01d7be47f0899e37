"""/osh/tasks (real loop on a thread), /osh/threads, /osh/web with a provider."""

import asyncio
import threading
import time

from otrace_server.shell import WebClientInfo


async def sleeper():
    await asyncio.sleep(30)


class LoopTasks:
    """A TaskSource (shell.providers) over a loop running on another thread."""

    def __init__(self, loop):
        self.app_loop = loop

    def post_to_app_loop(self, fn, *args):
        self.app_loop.call_soon_threadsafe(fn, *args)


def test_tasks(shell, session, loop, wait):
    shell.tasks = LoopTasks(loop)
    fut = asyncio.run_coroutine_threadsafe(_start(loop), loop)
    task = fut.result(5)
    session.execute("cd /osh/tasks")
    assert "sleeper-task" in session.execute("ls").output.split()
    line = [x for x in session.execute("ls -l").output.splitlines() if x.startswith("sleeper-task")][0]
    assert "sleeper pending at " in line and "test_runtime_dirs.py:" in line
    text = session.execute("view sleeper-task").output
    assert "sleeper" in text.splitlines()[1]
    assert "safe mode" in session.execute("rm sleeper-task").output
    session.execute("set safe_mode False")
    assert session.execute("rm sleeper-task").output == "cancelling task sleeper-task"
    wait(lambda: task.cancelled())


async def _start(loop):
    return loop.create_task(sleeper(), name="sleeper-task")


def test_tasks_without_loop(session):
    assert session.execute("cdls /osh/tasks").output == ""


def test_threads(session):
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="worker-x", daemon=True)
    t.start()
    try:
        session.execute("cd /osh/threads")
        assert {"MainThread", "worker-x"} <= set(session.execute("ls").output.split())
        line = [x for x in session.execute("ls -l").output.splitlines() if x.startswith("worker-x")][0]
        assert "alive daemon at " in line and " wait" in line
        assert "threading.py" in session.execute("view worker-x").output
    finally:
        stop.set()
        t.join(5)


class Provider:
    def __init__(self):
        self.calls = []

    def clients(self):
        return [WebClientInfo("user1", time.time(), "http://x/", "ua1"), WebClientInfo("user2", time.time())]

    def evaluate_many(self, names, expression, timeout, who=""):
        out = []
        for name in names:
            self.calls.append((name, expression, timeout, who))
            if name == "user2" and "bad" in expression:
                out.append((name, None, "ReferenceError: bad is not defined"))
            else:
                out.append((name, "[object Object]", None))
        return out


def test_web(shell, session):
    r = session.execute("cd /osh/web/user1")
    assert r.error                                      # no provider: no clients
    session.execute("cd /osh/web")
    assert session.execute("ls").output == ""
    shell.web = Provider()
    assert session.execute("ls").output.split() == ["user1", "user2"]
    r = session.execute("cd user1")
    assert r.prompt == "web..user1> "
    r = session.execute('$("body")')
    assert r.error and r.output == "JavaScript evaluation: refused in safe mode; set safe_mode False to allow it"
    session.execute("set safe_mode False")
    assert session.execute('$("body").css("background","red")').output == "[object Object]"
    assert shell.web.calls[-1] == ("user1", '$("body").css("background","red")', 5.0, session.name)
    assert session.execute("pwd").output == "/osh/web/user1"     # commands still work
    session.execute("cd ../*")
    r = session.execute("bad")
    assert r.output.splitlines() == ["user1: [object Object]", "user2: error: ReferenceError: bad is not defined"]
    r = session.execute('repeat "User is typing: "+$("#message").val()')
    assert r.repeat == '"User is typing: "+$("#message").val()'
    shell.web = None
    assert session.execute("x").output == "/osh/web: not available (no web provider)"


async def _inner(fut, waiting):
    waiting.set()
    await fut                                   # INNER-AWAIT


async def _outer(fut, waiting):
    await _inner(fut, waiting)


def test_task_shows_where_it_waits_down_the_await_chain(shell, session, loop):
    # Task.get_stack() stops at the task's own coroutine; the user wants the awaited coroutine
    import inspect

    shell.tasks = LoopTasks(loop)

    waiting = threading.Event()

    async def start():
        fut = loop.create_future()
        return fut, loop.create_task(_outer(fut, waiting), name="chain-task")

    fut, task = asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    assert waiting.wait(5)                      # the task reached its await (listed on the loop, after it)
    lines, first = inspect.getsourcelines(_inner)
    inner_line = first + [i for i, text in enumerate(lines) if "INNER-AWAIT" in text][0]
    line = [x for x in session.execute("ls -l /osh/tasks").output.splitlines() if x.startswith("chain-task")][0]
    assert line.endswith(f"_outer pending at {__file__}:{inner_line} _inner")
    view = session.execute("view /osh/tasks/chain-task").output.splitlines()
    assert view[1].endswith(" _outer") and view[2] == f"  {__file__}:{inner_line} _inner"
    loop.call_soon_threadsafe(fut.set_result, None)
