"""``Shell`` (the /osh tree over one engine) and ``Session`` (one client's cwd, dir stack, aliases).

    shell = Shell(engine, globals())
    session = shell.session("console")
    result = session.execute("ls -l")      # -> Result; never raises for bad input

Command lines: ``cmd args...``; an unknown first word means ``pr <line>`` (the default command);
``!code`` means ``exec code``; inside /osh/web/<client> non-command input is JavaScript for that
browser; with the cwd outside /osh, input runs as a Unix command (except the navigation commands; refused
in safe mode, audited).
User aliases may use ``\\*`` (all arguments) and ``\\1``, ``\\2``...; ``;`` separates commands in
an alias; on a command line only after ``cd`` (``cd path; command``, as in otrace).

Policy: a command registered ``unsafe`` is refused in safe mode before it runs
(``core.policy.require_unsafe``); ``execute`` runs its line as the session's actor
(``core.audit.acting``: a session named ``front:client``, e.g. ``lsp:vscode``, or ``console``), so
every effect a command makes is audited under that name, whichever path led to it.

Thread-safety: a Session is used by one client at a time (its console or control-plane worker);
different sessions may run concurrently on different threads. Commands run on the caller's thread
and must never be called on the application's loop thread when they wait for it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any

from otrace_server.core import audit
from otrace_server.core.context import CTYPES
from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import exception_text, shown_as_error
from otrace_server.core.policy import require_unsafe
from otrace_server.core.reprs import visible
from otrace_server.core.settings import check_password
from otrace_server.shell import vfs
from otrace_server.shell.context_dirs import ContextDir, ContextTree
from otrace_server.shell.paths import GLOBALS_PATH, join_path, split_path
from otrace_server.shell.providers import DebugProvider, TaskSource, WebProvider
from otrace_server.shell.registry import COMMANDS
from otrace_server.shell.result import Result, truncate_output

__all__ = ["Shell", "Session", "Call", "DEFAULT_ALIASES", "NAVIGATION"]

DEFAULT_ALIASES = {
    "cdt": "cd __trc",
    "doc": "view -d -i",
    "show": "view -i",
    "dv": "cd __down; view -i",
    "uv": "cd __up; view -i",
}
#: an argument reference in an alias body: ``\\*`` (all of them) or ``\\1``, ``\\2``, ...
_ALIAS_ARG = re.compile(r"\\(\*|[1-9][0-9]*)")
#: commands that still run as otrace commands when the cwd is outside /osh
NAVIGATION = ("cd", "cdls", "pushd", "popd", "swapd", "pwd", "help", "quit", "alias", "set")
_MAX_DEPTH = 8


@dataclass
class Call:
    """One parsed command: its name, shlex-split ``args``, the ``raw`` rest of the line and the
    ``stdin`` text given to ``execute``."""

    name: str
    args: list[str]
    raw: str
    stdin: str | None = None


class Shell:
    """The object shell over one engine (see the module doc).

    Its collaborators (``shell.providers``; None: that part answers "not available") are given
    here: ``tasks`` (a ``TaskSource``: the app's loop, for /osh/tasks), ``web`` (a
    ``WebProvider``: /osh/web) and ``debugger`` (a ``DebugProvider``: the ``debug`` command and
    the editors' "start debugpy"). ``otrace_server.app.start`` is their one owner: it passes
    ``tasks``, sets ``debugger`` once its DAP endpoint runs and ``web`` through
    ``WebRegistry.attach`` (the setter also used by programs that wire /osh/web themselves)."""

    def __init__(self, engine: Any, globals_dict: dict, locals_dict: dict | None = None, *,
                 tasks: TaskSource | None = None, web: WebProvider | None = None,
                 debugger: DebugProvider | None = None) -> None:
        if not isinstance(globals_dict, dict):
            raise OTraceError("Shell: globals_dict must be a dict")
        self.engine = engine
        self.globals = globals_dict
        self.locals = locals_dict if locals_dict is not None else {}
        self.tasks: TaskSource | None = tasks
        self.web: WebProvider | None = web
        self.debugger: DebugProvider | None = debugger
        self.pickled: list = []
        self.work_dir = os.getcwd()
        #: False: input outside /osh is refused instead of run as a Unix command (e.g. for clients
        #: that must not run shell commands)
        self.unix_commands = True
        self._root = vfs.VirtualDir({
            "globals": lambda: vfs.MappingDir(self.globals, is_globals=True),
            "locals": lambda: vfs.MappingDir(self.locals),
            "recent": lambda: ContextTree(self.engine.store.recent(), fixed=CTYPES),
            "saved": lambda: ContextTree(self.engine.store.saved()),
            "patches": lambda: vfs.PatchesDir(self),
            "pickled": lambda: ContextTree(self.pickled),
            "web": lambda: vfs.WebDir(self),
            "tasks": lambda: vfs.TasksDir(self),
            "threads": lambda: vfs.ThreadsDir(),
        })

    def osh_root(self) -> vfs.Dir:
        """The ``/osh`` directory."""
        return self._root

    def session(self, name: str = "console") -> "Session":
        """A new session (own cwd, dir stack and aliases), starting in /osh/globals."""
        return Session(self, name)

    def latest_path(self) -> list[str] | None:
        """Path components of the most recent trace context (``~~``), or None."""
        ctx = self.engine.store.latest()
        return None if ctx is None else ["osh"] + ctx.path


class Session:
    """One client's view of the shell: ``execute``, ``complete``, ``unlock`` (see module doc)."""

    def __init__(self, shell: Shell, name: str = "console") -> None:
        self.shell = shell
        self.name = name
        #: who this session's effects are audited as (``core.audit.Actor.named(name)``)
        self.actor = audit.Actor.named(name)
        self.cwd: list[str] = list(GLOBALS_PATH)
        self.dir_stack: list[list[str]] = []
        self.aliases: dict[str, str] = dict(DEFAULT_ALIASES)
        self.locked = False
        #: how many ``source`` files are being read (nested), kept by the ``source`` command
        self.source_depth = 0

    # ---- state -----------------------------------------------------------------------------
    @property
    def settings(self):
        return self.shell.engine.settings

    @property
    def cwd_text(self) -> str:
        return join_path(self.cwd)

    @property
    def in_osh(self) -> bool:
        return bool(self.cwd) and self.cwd[0] == vfs.BASE

    @property
    def area(self) -> str:
        """The /osh subdirectory the cwd is in (``globals``, ``recent``...), or ``""``."""
        return self.cwd[1] if self.in_osh and len(self.cwd) > 1 else ""

    @property
    def prompt(self) -> str:
        """otrace's short prompt: ``globals> ``, ``osh..Receive> ``, ``GetHandler..06-24> ``,
        ``web..user1> `` (inside __up/__down: the frame's function name)."""
        cwd = self.cwd
        if not cwd:
            return "/> "
        if len(cwd) == 6 and self.area in vfs.CONTEXT_DIRS:
            return f"{cwd[3].split('.')[0]}..{cwd[5][3:]}> "
        leaf = cwd[-1]
        if leaf in (vfs.UP, vfs.DOWN):
            try:
                node = self.here()
                if isinstance(node, ContextDir):
                    leaf = node.funcname
            except OTraceError:
                pass
        if self.area == "web" and len(cwd) > 2:
            return f"web..{leaf}> "
        if self.in_osh and len(cwd) > 2:
            return f"{vfs.BASE}..{leaf}> "
        return f"{leaf}> "

    def abspath(self, text: str) -> list[str]:
        """Absolute components of a path typed by the user (special paths expanded)."""
        return split_path(text, self.cwd, latest=self.shell.latest_path, work_dir=self.shell.work_dir)

    def resolve(self, text: str) -> vfs.Dir:
        """The directory a path names; OTraceError when it does not exist."""
        return vfs.resolve(self.shell, self.abspath(text))

    def lookup(self, text: str) -> Any:
        """The value of the entry a path names; OTraceError when it does not exist."""
        if not text.strip():
            raise OTraceError("empty name")
        return vfs.lookup(self.shell, self.abspath(text))

    def here(self) -> vfs.Dir:
        """The current directory; OTraceError saying so when it vanished (e.g. its trace context
        was deleted or dropped by max_recent)."""
        try:
            return vfs.resolve(self.shell, self.cwd)
        except OTraceError:
            why = "its trace context was deleted or dropped" if self.area in vfs.CONTEXT_DIRS else "it is gone"
            raise OTraceError(f"current directory {self.cwd_text} no longer exists ({why}); "
                              "cd elsewhere (cd .. goes to the nearest directory that exists)") from None

    def context_here(self) -> ContextDir | None:
        """The trace context the cwd is in (at its top frame), or None."""
        if self.area in vfs.CONTEXT_DIRS and len(self.cwd) >= 6:
            self.here()   # a vanished context: the one clear error
            node = vfs.resolve(self.shell, self.cwd[:6])
            return node if isinstance(node, ContextDir) else None
        return None

    def chdir(self, parts: list[str]) -> None:
        """Change the cwd to ``parts`` after checking it is a directory."""
        vfs.resolve(self.shell, parts)
        self.cwd = list(parts)

    # ---- execution -------------------------------------------------------------------------
    def execute(self, line: str, stdin: str | None = None) -> Result:
        """Run one command line as this session's actor; never raises for bad input (errors come
        back as Result.error). Output longer than ``result.MAX_OUTPUT`` characters is truncated
        (with a line saying so). Output and prompt are ``core.reprs.visible``: no terminal control
        reaches a screen."""
        with audit.acting(self.actor):
            return self._execute(line, stdin)

    def _execute(self, line: str, stdin: str | None) -> Result:
        try:
            if not isinstance(line, str):
                raise OTraceError("command line must be a string")
            try:
                line.encode("utf-8")
            except UnicodeEncodeError as exc:   # a lone surrogate ("\ud800") sent by a client
                raise OTraceError(f"the command line is not valid text ({exc.reason} at column {exc.start + 1})") from None
            if self.locked:
                result = Result("locked: enter the password to unlock", error=True, data={"lock": True})
            else:
                result = self._run(line, stdin, 0)
        except OTraceError as exc:
            result = Result(_one_line(str(exc)), error=True)
        except RecursionError:
            result = Result("error: recursion too deep", error=True)
        except (SystemExit, KeyboardInterrupt) as exc:   # raised by application code the line ran
            if not shown_as_error(exc):
                raise
            result = Result(_one_line(exception_text(exc)), error=True)
        except Exception as exc:  # never let a bug in a command escape to the front end
            result = Result(_one_line(f"internal error: {exception_text(exc)}"), error=True)
        result.output = truncate_output(visible(result.output))
        result.prompt = visible(self.prompt, one_line=True)
        result.cwd = self.cwd_text
        return result

    def bounded(self, line: str) -> bool:
        """Whether ``execute(line)`` would run only a command declared ``bounded`` (see
        ``shell.registry``): then it reads no application object, touches no file or process and
        waits for nothing, so a thread that must never block may run it. False for anything else
        (an alias, Python code, a Unix command, input for a command), and for any line while the
        cwd is a frame's ``__up``/``__down`` (the prompt names its function: a read of the store);
        never raises."""
        if self.cwd and self.cwd[-1] in (vfs.UP, vfs.DOWN):
            return False
        text = line.strip() if isinstance(line, str) else "!"
        if not text or text.startswith("#") or self.locked:
            return True
        word, _, rest = text.partition(" ")
        cmd = COMMANDS.get(word)
        if cmd is None or not cmd.bounded or (not self.in_osh and word not in NAVIGATION):
            return False
        if cmd.bounded is True:
            return True
        try:
            return bool(cmd.bounded(self, shlex.split(rest)))
        except Exception:   # unbalanced quotes and the like: the command's own error, in a worker
            return False

    def _run(self, line: str, stdin: str | None, depth: int) -> Result:
        if depth > _MAX_DEPTH:
            raise OTraceError("alias expansion too deep")
        text = line.strip()
        if not text or text.startswith("#"):
            return Result("")
        if text.startswith("!"):
            return self._call("exec", text[1:].strip(), stdin)
        word, _, rest = text.partition(" ")
        rest = rest.strip()
        if not self.in_osh and word not in NAVIGATION:
            return self._unix(text)
        if word in self.aliases and word not in COMMANDS:
            return self._alias(word, rest, stdin, depth)
        if word in COMMANDS:
            return self._call(word, rest, stdin)
        node = self._here_or_none()
        if isinstance(node, vfs.WebClientDir):
            from otrace_server.shell.commands.web import evaluate_js
            return evaluate_js(self, node.client, text)
        return self._call("pr", text, stdin)

    def run_follow_up(self, line: str, stdin: str | None = None, depth: int = 0) -> Result:
        """Run ``line`` as the rest of the current command line (``cd path; command``, the command
        of ``repeat``); raises OTraceError for bad input like any command. ``depth``: the alias
        expansion levels the line already counts against the limit."""
        return self._run(line, stdin, depth)

    def _here_or_none(self) -> vfs.Dir | None:
        try:
            return self.here()
        except OTraceError:
            return None

    def _call(self, name: str, rest: str, stdin: str | None) -> Result:
        cmd = COMMANDS[name]
        if cmd.raw:
            args: list[str] = []
        else:
            try:
                args = shlex.split(rest)
            except ValueError as exc:
                raise OTraceError(f"{name}: {exc}") from None
        if cmd.unsafe:
            require_unsafe(self.settings, name)
        if name == "quit" and rest:   # registry has no arity; quit's own help says it takes none
            raise OTraceError(f"quit: takes no arguments (got {rest!r}); it closes this console, "
                              "the application keeps running")
        out = cmd.func(self, Call(name, args, rest, stdin))
        return out if isinstance(out, Result) else Result("" if out is None else str(out))

    def _alias(self, word: str, rest: str, stdin: str | None, depth: int) -> Result:
        try:
            args = shlex.split(rest)
        except ValueError as exc:
            raise OTraceError(f"{word}: {exc}") from None
        body = self.aliases[word]
        wanted = max((int(n) for n in _ALIAS_ARG.findall(body) if n != "*"), default=0)
        if wanted > len(args):
            raise OTraceError(f"{word}: needs {wanted} argument{'s' if wanted > 1 else ''} "
                              f"(alias {word} {body})")
        # one pass over the body: \10 is the tenth argument (not \1 then "0"), and an argument
        # containing "\2" is not substituted again
        body, used = _ALIAS_ARG.subn(lambda m: " ".join(args) if m[1] == "*" else args[int(m[1]) - 1], body)
        if not used and rest:
            body += " " + rest
        outputs: list[str] = []
        result = Result("")
        for part in body.split(";"):
            result = self._run(part, stdin, depth + 1)
            if result.output:
                outputs.append(result.output)
            if result.error:
                return Result("\n".join(outputs), error=True)
        result.output = "\n".join(outputs)
        return result

    def _unix(self, line: str) -> Result:
        if not self.shell.unix_commands:
            raise OTraceError("Unix commands are disabled here; cd /osh")
        require_unsafe(self.settings, "Unix command", "outside /osh a line runs in /bin/sh")
        timeout = self.settings.shell_timeout
        audit.record("unix", command=line, cwd=self.cwd_text)
        try:
            proc = subprocess.run(["/bin/sh", "-c", line], cwd=self.cwd_text, capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise OTraceError(f"timed out after {timeout:g}s: {line}") from None
        except OSError as exc:
            raise OTraceError(f"cannot run {line!r}: {exc}") from None
        output = (proc.stdout + proc.stderr).rstrip("\n")
        return Result(output, error=proc.returncode != 0, data={"returncode": proc.returncode})

    # ---- completion and lock -----------------------------------------------------------------
    def complete(self, line: str, cursor: int | None = None) -> list[str]:
        """Completions for the word before ``cursor`` (default: end of line): command names,
        paths, ``set`` parameters and values, ``trace`` options. Never raises."""
        from otrace_server.shell.completion import complete
        try:
            return complete(self, line, len(line) if cursor is None else cursor)
        except Exception:
            return []

    def completion_bounded(self, line: str, cursor: int | None = None) -> bool:
        """Whether ``complete(line, cursor)`` offers only otrace's own names (commands, aliases,
        settings, ``trace`` options), so that it reads no application object and waits for
        nothing (as ``bounded`` for a line). Never raises."""
        from otrace_server.shell.completion import own_names_only
        try:
            return own_names_only(self, line, len(line) if cursor is None else cursor)
        except Exception:
            return False

    def unlock(self, password: str) -> bool:
        """Unlock after ``lock`` when ``password`` matches ``settings.password``."""
        hashed = self.settings.password
        if hashed and check_password(password, hashed):
            self.locked = False
            return True
        return False


def _one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else "error"
