"""Autoreload keeps otrace: when Tornado's autoreload (``debug=True`` / ``autoreload=True``)
re-executes the process after a source change, otrace is stopped first (the discovery file
removed: ``exec`` runs no ``atexit``), and a program run by the ``otrace`` command comes back
under ``otrace`` with the same options (console, language server, a new discovery file).

    remove = watch(app.stop, answering=lambda: len(engine.holds) > 0, grace=0.5)   # app.start
    reexecute_as(argv)                # the otrace command: re-execute as `otrace ARGV`, not `python script`

How: Tornado runs the functions given to ``tornado.autoreload.add_reload_hook`` (public API), in
order, then execs ``sys.executable`` with ``sys.argv``. Once ``tornado.autoreload`` is imported
(now, or later by the program: a ``sys.meta_path`` finder notices it without importing Tornado
itself) otrace adds one hook. It calls the current ``stop`` and, when a command was given, adds a
second hook, which runs after the program's own hooks (Tornado calls the hooks added while it runs
them) and execs ``sys.executable`` with that command, from the directory the command started in,
with the terminal's settings put back as they were (the console may have been reading a line).
Without a command (a program calling ``start()`` itself) Tornado's own exec runs the program,
which starts otrace again.

Held requests get their answers first: ``exec`` ends the process at once, and a request held
when the source changes (the usual moment: one looks at a held request, edits the code, saves)
would lose its connection unanswered, its hold resumed by ``stop()`` but its handler never run
again. So when ``answering()`` says that stopping leaves answers to send (holds wait), the reload
is put off: ``stop()`` runs at once (holds resumed, outcome ``shutdown``) and Tornado's reload
(hooks, then exec) runs ``grace`` seconds later, from the loop, which meanwhile runs the resumed
handlers (as ``otrace_server.shutdown`` does at a signal). Tornado offers no public way to put a
reload off (its hooks run right before the exec): otrace wraps the module's ``_reload``, which
Tornado 6 calls when a watched file changed; without it a reload is not put off.

The process keeps its pid across ``exec``: its discovery file ``otrace-<pid>.json`` is removed,
then written again by the new run (new ports and token, same ``argv`` and ``cwd``). Editors
following a restarted app (same command line and directory) find it there.

Thread-safety: ``watch``, its remover and ``reexecute_as`` may be called from any thread; the hooks
run on the thread of the IOLoop running Tornado's autoreload (the app's).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.abc
import logging
import os
import signal
import sys
import threading
from typing import Any, Callable

__all__ = ["watch", "reexecute_as"]

log = logging.getLogger("otrace")

TORNADO_AUTORELOAD = "tornado.autoreload"

_lock = threading.Lock()
_stop: Callable[[], None] | None = None        # the running App's stop
_command: list[str] | None = None              # argv after sys.executable to re-execute with
_cwd: str | None = None                        # the directory the command started in
_terminal: Any = None                          # (fd, termios attributes) of stdin when it is a terminal
_hooked: Any = None                            # tornado.autoreload once our hook is added (once per process)
_answering: Callable[[], bool] | None = None   # the running App's: do holds wait for answers
_grace = 0.0                                   # seconds the answers get before the reload
_put_off = False                               # a reload waits for the answers
_finder: "_WhenImported | None" = None


def watch(stop: Callable[[], None], *, answering: Callable[[], bool] | None = None,
          grace: float = 0.0) -> Callable[[], None]:
    """Run ``stop()`` before Tornado's autoreload re-executes the process (then re-execute under
    the command of ``reexecute_as``, when given), until the returned function is called; when
    ``answering()`` is true as the reload starts (held requests to answer), ``stop()`` runs then
    and the reload ``grace`` seconds later (see the module's docstring). The latest ``watch``
    wins. Any thread; ``answering`` is called on the loop's thread and must be quick."""
    global _stop, _finder, _answering, _grace
    with _lock:
        _stop, _answering, _grace = stop, answering, grace
        module = sys.modules.get(TORNADO_AUTORELOAD)
        if module is None and _hooked is None and _finder is None:
            _finder = _WhenImported()
            sys.meta_path.insert(0, _finder)
    if module is not None:
        _hook_into(module)

    def remove() -> None:
        global _stop, _answering
        with _lock:
            if _stop is stop:
                _stop = _answering = None
            _remove_finder()

    return remove


def reexecute_as(argv: list[str] | None) -> list[str] | None:
    """A re-execution by Tornado's autoreload runs this process's program again with ``argv``
    (e.g. the ``otrace`` command's arguments) instead of ``sys.argv[1:]``: ``python -m MODULE
    ARGV`` when this process was started with ``-m MODULE``, else ``python ARGV0 ARGV``, from the
    current directory. None: Tornado's own re-execution. Call it before the program runs (it reads
    ``__main__``). Returns that command line (after ``sys.executable``), or None. Any thread."""
    global _command, _cwd, _terminal
    if argv is None:
        _command = _cwd = _terminal = None
        return None
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = ["-m", spec.name] if spec is not None and spec.name != "__main__" else [sys.argv[0]]
    _command, _cwd, _terminal = [*program, *argv], os.getcwd(), _terminal_settings()
    return _command


def _remove_finder() -> None:
    """Take the import finder out of ``sys.meta_path`` (``_lock`` held)."""
    global _finder
    if _finder is not None:
        try:
            sys.meta_path.remove(_finder)
        except ValueError:
            pass
        _finder = None


def _hook_into(module) -> None:
    """Add our reload hook to ``tornado.autoreload`` (once per process: Tornado cannot remove one)."""
    global _hooked
    with _lock:
        if _hooked is not None:
            return
        _hooked = module
        _remove_finder()
    module.add_reload_hook(_before_reload)
    reload = getattr(module, "_reload", None)
    if callable(reload):
        module._reload = functools.partial(_reload_once_answered, reload)


def _reload_once_answered(reload: Callable[[], None]) -> None:
    """Tornado's ``_reload`` (on the loop's thread, a watched file changed): at once, unless held
    requests are to be answered first (see the module's docstring)."""
    global _put_off
    if _put_off:                          # put off already: Tornado saw the change again
        return
    stop, answering = _stop, _answering
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if stop is None or answering is None or loop is None or not answering():
        reload()
        return
    _put_off = True
    log.info("otrace: answering the held requests, then reloading in %.1f s", _grace)
    _stop_otrace(stop)
    loop.call_later(_grace, reload)


def _before_reload() -> None:
    """Tornado's reload hook: stop otrace, then (a command given) re-execute after the other hooks."""
    stop = _stop
    if stop is not None:
        _stop_otrace(stop)
    if _command is not None and os.name == "posix":
        _hooked.add_reload_hook(_reexecute)    # runs after the hooks the program added after ours


def _stop_otrace(stop: Callable[[], None]) -> None:
    try:
        stop()
    except Exception:
        log.exception("otrace: stopping before the autoreload failed")


def _reexecute() -> None:
    """Exec this process's program again under the command (the last reload hook)."""
    command, cwd = _command, _cwd
    if command is None:
        return
    _restore_terminal(_terminal)
    signal.setitimer(signal.ITIMER_REAL, 0, 0)   # as Tornado does: a timer would survive the exec
    try:
        os.chdir(cwd)
    except OSError:
        pass
    log.info("otrace: re-executing %s", " ".join(command))
    os.execv(sys.executable, [sys.executable, *command])


def _terminal_settings() -> Any:
    """``(fd, attributes)`` of stdin when it is a terminal, else None."""
    try:
        import termios

        fd = sys.stdin.fileno()
        return (fd, termios.tcgetattr(fd)) if os.isatty(fd) else None
    except (ImportError, AttributeError, ValueError, OSError):
        return None


def _restore_terminal(saved: Any) -> None:
    if saved is None:
        return
    try:
        import termios

        termios.tcsetattr(saved[0], termios.TCSANOW, saved[1])
    except (ImportError, OSError):
        pass


class _WhenImported(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``tornado.autoreload`` is imported, the loader the other finders
    found runs it, then otrace's hook is added."""

    def find_spec(self, fullname, path, target=None):
        if fullname != TORNADO_AUTORELOAD:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenHook(spec.loader)
                return spec
        return None


class _ThenHook(importlib.abc.Loader):
    """A loader running another one, then adding otrace's reload hook to the module it ran;
    everything else (``get_source`` for tracebacks...) is the other loader's."""

    def __init__(self, loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        _hook_into(module)
