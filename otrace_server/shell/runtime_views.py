"""Read-only snapshots of asyncio tasks and Python threads for /osh/tasks and /osh/threads.

Thread-safety: ``asyncio.all_tasks(loop)`` is not strictly thread-safe; like aiomonitor we read it
from another thread and retry when the set changes during iteration (RuntimeError). Task stacks
(``task.get_stack()``) and ``sys._current_frames()`` are snapshots; nothing here mutates a task or a
thread (cancelling goes through the shell's ``TaskSource``, ``shell.tasks.post_to_app_loop``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import traceback


__all__ = ["task_snapshot", "describe_task", "task_stack_text", "thread_snapshot", "describe_thread",
           "thread_stack_text", "ThreadInfo"]


def task_snapshot(loop: asyncio.AbstractEventLoop | None) -> dict[str, asyncio.Task]:
    """Tasks of ``loop`` by name (empty without a loop); retried when the set changes meanwhile."""
    if loop is None:
        return {}
    for _ in range(10):
        try:
            tasks = list(asyncio.all_tasks(loop))
            break
        except RuntimeError:
            continue
    else:
        return {}
    out: dict[str, asyncio.Task] = {}
    for task in sorted(tasks, key=lambda t: t.get_name()):
        name = task.get_name().replace("/", "_") or "task"
        while name in out:
            name += "_"
        out[name] = task
    return out


def _task_state(task: asyncio.Task) -> str:
    if not task.done():
        return "pending"
    if task.cancelled():
        return "cancelled"
    return "failed" if task.exception() is not None else "finished"


#: frames in these directories are machinery, not where a task "is" (asyncio.sleep, otrace's holds)
_MACHINERY = (os.path.dirname(asyncio.__file__) + os.sep,
              os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep)   # otrace_server/


def _await_chain(task: asyncio.Task) -> list[tuple[str, int, str]]:
    """``(file, line, function)`` of each coroutine the task is suspended in, outermost first:
    the task's coroutine, the one it awaits, and so on (``Task.get_stack`` stops at the first)."""
    frames = []
    obj = task.get_coro()
    for _ in range(200):
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        if frame is None:
            break
        frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None) or getattr(obj, "ag_await", None)
    return frames


def describe_task(task: asyncio.Task) -> str:
    """``<coroutine qualname> <state> at <file:line> <function>``: where it is suspended, i.e. the
    innermost awaiting coroutine outside asyncio and otrace (``view`` shows the whole chain)."""
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", type(coro).__name__)
    where = ""
    try:
        chain = _await_chain(task)
        inner = [f for f in chain if not f[0].startswith(_MACHINERY) and not f[0].startswith("<")] or chain
        if inner:
            where = f" at {inner[-1][0]}:{inner[-1][1]} {inner[-1][2]}"
    except Exception:
        pass
    return f"{name} {_task_state(task)}{where}"


def task_stack_text(task: asyncio.Task) -> str:
    """The coroutines the task is suspended in, one ``file:line function`` line each (outermost
    first)."""
    lines = [f"{describe_task(task)}"]
    try:
        lines += [f"  {file}:{line} {function}" for file, line, function in _await_chain(task)]
    except Exception as exc:
        lines.append(f"  <stack unavailable: {exc}>")
    return "\n".join(lines)


class ThreadInfo:
    """A thread and its current stack, captured when listed."""

    def __init__(self, thread: threading.Thread, frames: list[traceback.FrameSummary]) -> None:
        self.thread = thread
        self.frames = frames

    def __repr__(self) -> str:
        return f"<ThreadInfo {self.thread.name}>"


def thread_snapshot() -> dict[str, ThreadInfo]:
    """Live threads by name, each with a snapshot of its current stack."""
    frames = sys._current_frames()
    out: dict[str, ThreadInfo] = {}
    for thread in threading.enumerate():
        frame = frames.get(thread.ident) if thread.ident is not None else None
        summary = traceback.extract_stack(frame) if frame is not None else []
        name = thread.name.replace("/", "_")
        while name in out:
            name += "_"
        out[name] = ThreadInfo(thread, list(summary))
    del frames
    return out


def describe_thread(info: ThreadInfo) -> str:
    """``alive|stopped [daemon] at file:line function``."""
    t = info.thread
    where = f" at {info.frames[-1].filename}:{info.frames[-1].lineno} {info.frames[-1].name}" if info.frames else ""
    return f"{'alive' if t.is_alive() else 'stopped'}{' daemon' if t.daemon else ''}{where}"


def thread_stack_text(info: ThreadInfo) -> str:
    """The thread's stack, one ``file:line function`` line per frame (outermost first)."""
    lines = [f"{info.thread.name}: {describe_thread(info)}"]
    lines += [f"  {f.filename}:{f.lineno} {f.name}" for f in info.frames]
    return "\n".join(lines)
