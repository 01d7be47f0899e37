"""The ``otrace`` command: run a Python script with the otrace shell attached, run shell command
files non-interactively, and list running otrace processes.

    otrace script.py [args...]              run script.py as __main__ (like pdb), with a console on the
                                            terminal over its globals; the console stays open after
                                            the script ends, until quit / Ctrl-D
    otrace -f FUNC script.py [args...]      load script.py (not as __main__), then call FUNC(*args)
                                            with the shell attached
    otrace --batch FILE [script.py ...]     run the shell commands of FILE (after the script returns,
                                            over its globals; over an empty namespace without a script),
                                            printing each command and its output; stop at the first error.
                                            A server never returns: SERVE_SETTLE s after it signals that it
                                            serves (its App's ``serving`` event, set by serving.serve(), or
                                            its main thread's asyncio/Tornado loop running with a listening
                                            socket, told by loopwatch.ServingWatch), the batch runs over the
                                            running app, then the server is stopped as by Ctrl-C (a loop
                                            that listens on nothing is a job: its batch runs when it
                                            returns). A threaded server gets one notice line (give the
                                            file to its own option, e.g. hello_trace.py --batch FILE, or
                                            use -f FUNC)
    otrace ps                               list live otrace processes (from their discovery files)
    otrace ps --ssh [USER@]HOST [-p PORT] [-i KEY] [-F CONFIG]
                                            list those of another host, read over ssh (OpenSSH);
                                            --json: one line, the records without tokens
    otrace attach --ssh [USER@]HOST PID [--json] [--local-lsp-port N] [--local-dap-port M]
                                            forward that process's language server and DAP ports to
                                            127.0.0.1 here with ssh -L (its token read over the same
                                            connection) until Ctrl-C / SIGTERM; --json prints one line
                                            for editors: the local ends, in a discovery file's shape
                                            (``otrace_server.remote``)

A Tornado app's autoreload (``debug=True``) re-executes the script under ``otrace`` again, with
the same options (``otrace_server.autoreload``).

Exit status: 0 success; 1 a batch command failed, or the script raised an uncaught exception
(ps/attach: the host was reached but the listing or the forwarding failed, no such PID there, or
the tunnel ended by itself); 2 usage error (bad option, missing file, unknown FUNC, FUNC not taking
the arguments given, a non-loopback --bind), always as one line on stderr; 3 the host could not be
reached over ssh (ssh missing, unknown or unreachable host, login refused, host key not verified);
a script's own ``sys.exit(n)`` gives n.

Thread-safety: ``main`` runs on the process's main thread; the script runs there too, the console
on otrace's console thread (see ``otrace_server.app.start``).
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import inspect
import json
import os
import signal
import sys
import threading
import time
import traceback
import types
from typing import Sequence

from otrace_server.console.terminal import isatty

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
#: seconds after which ``--batch`` with a script that neither returned nor serves says what it waits for
BATCH_NOTICE_AFTER = 2.0
#: seconds ``--batch`` waits once a script signalled that it serves (what it sets up after listening)
SERVE_SETTLE = 1.0


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on ONE line (``otrace: error: ...; see otrace -h``), exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see {self.prog} -h\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``otrace`` (``ps`` and ``attach`` are recognised before it, as the
    first word, with parsers of their own)."""
    parser = _Parser(
        prog="otrace",
        description="Run a Python script with the otrace object shell attached "
                    "(trace, inspect and patch it while it runs).\n"
                    "  otrace ps [--ssh [USER@]HOST]       list running otrace processes, here or on "
                    "another host over ssh\n"
                    "  otrace attach --ssh [USER@]HOST PID forward a remote process's ports here "
                    "with ssh -L\n"
                    "(see otrace ps -h, otrace attach -h)",
        epilog="exit status: 0 ok; 1 a batch command failed or the script raised (ps/attach: failed "
               "on the host); 2 usage error; 3 the host could not be reached over ssh; "
               "a script's sys.exit(n) gives n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--function", metavar="FUNC",
                        help="load the script without running its __main__ block, then call FUNC(*args)")
    parser.add_argument("--batch", metavar="FILE",
                        help="run the shell commands in FILE non-interactively, after the script returns "
                             "or, for an asyncio/Tornado server, once it serves (then stop it as Ctrl-C "
                             "would); exit 1 at the first failing command")
    parser.add_argument("--console", action=argparse.BooleanOptionalAction, default=None,
                        help="start the terminal console (default: only when stdin is a terminal and "
                             "no --batch is given)")
    parser.add_argument("--no-lsp", action="store_true",
                        help="do not start the embedded language server (implied by --batch)")
    parser.add_argument("-s", "--set", metavar="NAME=VALUE", action="append", default=[],
                        help="set an otrace parameter before the script starts (repeatable), "
                             "e.g. -s trace_active=True")
    parser.add_argument("script", nargs="?", help="the Python script to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script (sys.argv[1:])")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``otrace``; returns the exit status (see module doc)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ps"]:
        return _ps(argv[1:])
    if argv[:1] == ["attach"]:
        return _attach(argv[1:])
    parser = build_parser()
    opts = parser.parse_args(argv)
    if opts.script is None and opts.batch is None:
        print("otrace: give a script to run, --batch FILE, or ps; see otrace -h", file=sys.stderr)
        return EXIT_USAGE
    settings = {}
    for item in opts.set:
        name, eq, value = item.partition("=")
        if not eq:
            print(f"otrace: --set expects NAME=VALUE, got {item!r}", file=sys.stderr)
            return EXIT_USAGE
        settings[name.strip()] = value
    batch_lines = None
    if opts.batch is not None:
        try:
            with open(opts.batch, encoding="utf-8") as f:
                batch_lines = f.read().splitlines()
        except OSError as exc:
            print(f"otrace: cannot read batch file: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except UnicodeDecodeError as exc:
            print(f"otrace: cannot read batch file: {opts.batch} is not UTF-8 text "
                  f"(byte {exc.object[exc.start]:#04x} at offset {exc.start})", file=sys.stderr)
            return EXIT_USAGE
    if opts.script is not None and not os.path.isfile(opts.script):
        print(f"otrace: no such script: {opts.script}", file=sys.stderr)
        return EXIT_USAGE
    from otrace_server.autoreload import reexecute_as

    reexecute_as(argv)     # Tornado's autoreload re-executes the script under otrace, same options
    try:
        return _run(opts, settings, batch_lines)
    finally:
        reexecute_as(None)


def _run(opts, settings: dict, batch_lines: list[str] | None) -> int:
    from otrace_server.loopwatch import ServingWatch

    if opts.script is None:
        module, code = types.ModuleType("__otrace__"), None
    else:
        run_name = os.path.splitext(os.path.basename(opts.script))[0] if opts.function else "__main__"
        try:
            module, code = _load(opts.script, run_name)
        except OSError as exc:
            print(f"otrace: cannot read script: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except (SyntaxError, ValueError) as exc:   # as python shows it (ValueError: null bytes)
            print("".join(traceback.format_exception_only(type(exc), exc)), end="", file=sys.stderr)
            return EXIT_FAILED
    console = opts.console if opts.console is not None else (batch_lines is None and isatty(sys.stdin))
    # --batch over a script: installed before the script runs, so that its loop and its listening
    # sockets tell when it serves
    with ServingWatch() if batch_lines is not None and code is not None else contextlib.nullcontext() as watch:
        return _run_started(opts, settings, batch_lines, module, code, console, watch)


def _run_started(opts, settings: dict, batch_lines: list[str] | None, module: types.ModuleType,
                 code: types.CodeType | None, console: bool, watch) -> int:
    """Start otrace (the command's replaceable App), run the script and the batch (see ``_ServerBatch``)."""
    from otrace_server.app import current, start
    from otrace_server.console import application_ended, run_script
    from otrace_server.core.errors import OTraceError

    try:
        app = start(module.__dict__, console=console, lsp=not (opts.no_lsp or batch_lines is not None),
                    **settings)
    except OTraceError as exc:
        print(f"otrace: {exc}", file=sys.stderr)
        return EXIT_USAGE
    app.replaceable = True      # the program may start otrace itself (its own loop and options)
    batch = None
    try:
        status = EXIT_OK
        if code is not None:
            if batch_lines is not None:
                batch = _ServerBatch(opts, batch_lines, app, run_script, watch)
            try:
                status = _run_script(opts, module, code)
            finally:
                if batch is not None:
                    batch.script_returned()
        batch_ran = batch is not None and batch.status is not None
        if batch_ran:
            status = batch.status if batch.status != EXIT_OK else status
        app = current() or app   # the program's own App when it started one
        if not batch_ran and batch_lines is not None and status == EXIT_OK:
            status = run_script(app.shell.session("batch"), batch_lines, sys.stdout, engine=app.engine)
        if app.console_thread is not None and app.console_thread.is_alive():
            application_ended()
            if code is not None:
                print("otrace: script ended; the console stays open until 'quit' or Ctrl-D", file=sys.stderr)
            while app.console_thread.is_alive():    # join() with a timeout keeps Ctrl-C working
                app.console_thread.join(0.5)
        return status
    except KeyboardInterrupt:   # Ctrl-C, or the stop after a server's --batch (its status then)
        return batch.status if batch is not None and batch.status is not None else EXIT_FAILED
    finally:
        app.stop()


class _ServerBatch:
    """``--batch`` with a script that does not return: once the script signals that it serves (the
    current App's ``serving`` event, or ``watch.serving``: a loop of its main thread runs with a
    listening socket; a long asyncio job listens on nothing: its batch waits for it to return) and
    still does SERVE_SETTLE seconds later, the batch runs, on this class's thread, over the running
    App (the script's own when it started one), and the script is then stopped as Ctrl-C would
    (SIGINT; when this process started with SIGINT ignored, as a job a shell without job control
    started in the background inherits it, and no Ctrl-C can reach, Python's own handler is put
    back first: else the script would never see it and the batch would never end). A script
    that neither returns nor runs a loop (e.g. a threaded server) gets one notice line once it
    has been BATCH_NOTICE_AFTER seconds neither in a loop nor returned (counted again from the
    end of a loop it ran: a job returning just after its loop gets none).
    ``status`` is the batch's exit status once it ran, else None."""

    def __init__(self, opts, lines: list[str], app, run_script, watch):
        self.status: int | None = None
        self._opts, self._lines, self._app, self._run_script = opts, lines, app, run_script
        self._serving_watch = watch
        self._returned = threading.Event()
        self._lock = threading.Lock()
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:   # (see the class doc)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        self._thread = threading.Thread(target=self._watch, name="otrace-batch", daemon=True)
        self._thread.start()

    def script_returned(self) -> None:
        """The script returned (main thread): no stop is sent after this; waits for a running batch."""
        with self._lock:
            self._returned.set()
        self._thread.join()

    def _serving(self) -> bool:
        from otrace_server.app import current

        return self._serving_watch.serving.is_set() or (current() or self._app).serving.is_set()

    def _watch(self) -> None:
        deadline = time.monotonic() + BATCH_NOTICE_AFTER
        while not self._returned.wait(0.05):
            if self._serving():
                if self._returned.wait(SERVE_SETTLE):
                    return
                if self._serving():
                    return self._run()
            elif deadline is not None and self._serving_watch.in_loop():
                deadline = time.monotonic() + BATCH_NOTICE_AFTER   # "neither yet": counted from the loop's end
            elif deadline is not None and time.monotonic() >= deadline:
                deadline = None
                print(f"otrace: --batch {self._opts.batch} runs when {self._opts.script} returns "
                      "or serves an asyncio/Tornado loop, and it does neither yet (a threaded "
                      "server: give the file to the script's own option, or use -f FUNC)",
                      file=sys.stderr, flush=True)

    def _run(self) -> None:
        from otrace_server.app import current

        app = current() or self._app
        self.status = self._run_script(app.shell.session("batch"), self._lines, sys.stdout, engine=app.engine)
        sys.stdout.flush()
        with self._lock:
            if not self._returned.is_set():
                print(f"otrace: --batch {self._opts.batch} done; stopping {self._opts.script} as Ctrl-C would",
                      file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGINT)


def _load(path: str, run_name: str) -> tuple[types.ModuleType, types.CodeType]:
    """A fresh module named ``run_name`` for the script and its compiled code (not yet run)."""
    path = os.path.abspath(path)
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    module = types.ModuleType(run_name)
    module.__file__ = path
    module.__builtins__ = builtins
    return module, code


def _run_script(opts, module: types.ModuleType, code: types.CodeType) -> int:
    """Run the script's code in ``module`` (as sys.modules[its name], with sys.argv and sys.path[0]
    set like ``python script.py``), then FUNC(*args) for -f. Returns the exit status."""
    saved_main = sys.modules.get(module.__name__)
    saved_argv, script_dir = sys.argv, os.path.dirname(module.__file__)
    sys.modules[module.__name__] = module
    sys.argv = [opts.script, *opts.args]      # as python sets it: the path as typed
    sys.path.insert(0, script_dir)
    try:
        exec(code, module.__dict__)
        if opts.function:
            func = module.__dict__.get(opts.function)
            if not callable(func):
                print(f"otrace: {opts.function!r} is not a function of {opts.script}", file=sys.stderr)
                return EXIT_USAGE
            with contextlib.suppress(TypeError, ValueError):   # no signature (builtins): just call
                signature = inspect.signature(func)
                try:
                    signature.bind(*opts.args)
                except TypeError as exc:
                    print(f"otrace: -f {opts.function}{signature} cannot take the arguments {opts.args}: {exc}",
                          file=sys.stderr)
                    return EXIT_USAGE
            func(*opts.args)
        return EXIT_OK
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or EXIT_OK
        print(exc.code, file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:   # as python would show it: without otrace's own frame on top
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        return EXIT_FAILED
    finally:
        sys.argv = saved_argv
        with contextlib.suppress(ValueError):
            sys.path.remove(script_dir)
        if saved_main is not None:
            sys.modules[module.__name__] = saved_main


def _ssh_parser(prog: str, description: str, ssh_required: bool) -> argparse.ArgumentParser:
    """The parser of ``otrace ps`` / ``otrace attach``: the SSH options they share."""
    parser = _Parser(prog=prog, description=description)
    parser.add_argument("--ssh", metavar="[USER@]HOST", required=ssh_required,
                        help="the host, over OpenSSH (any Host of your ssh config works too)")
    parser.add_argument("-p", "--ssh-port", metavar="PORT", type=int, help="ssh's -p: the SSH port of the host")
    parser.add_argument("-i", "--identity", metavar="KEY", help="ssh's -i: the private key to log in with")
    parser.add_argument("-F", "--ssh-config", metavar="CONFIG", help="ssh's -F: the ssh config file to use")
    parser.add_argument("--remote-dir", metavar="DIR",
                        help="the remote discovery directory (default: $XDG_RUNTIME_DIR/otrace and "
                             "~/.cache/otrace of the login)")
    return parser


def _ssh_target(parser: argparse.ArgumentParser, opts):
    """The ``remote.SshTarget`` of the parsed options (None without --ssh); a usage error for
    ssh options without --ssh or a bad destination."""
    from otrace_server.remote import SshTarget

    if opts.ssh is None:
        if opts.ssh_port or opts.identity or opts.ssh_config or opts.remote_dir:
            parser.error("-p, -i, -F and --remote-dir go with --ssh")
        return None
    try:
        return SshTarget(opts.ssh, port=opts.ssh_port, identity=opts.identity, config=opts.ssh_config,
                         batch=not isatty(sys.stdin), remote_dir=opts.remote_dir)
    except ValueError as exc:
        parser.error(str(exc))


def _remote_failed(exc, as_json: bool) -> int:
    """Report a ``remote.RemoteError`` (one line on stderr; with ``as_json`` also ``{"error":
    LINE}`` on stdout, for an editor); its exit status."""
    if as_json:
        print(json.dumps({"error": exc.message}), flush=True)
    print(f"otrace: {exc.message}", file=sys.stderr)
    return EXIT_UNREACHABLE if exc.unreachable else EXIT_FAILED


def _ps(argv: list[str]) -> int:
    """``otrace ps [--ssh HOST] [--json]``: one line per live otrace process, here (stale discovery
    files are removed) or on HOST (read over ssh; stale files skipped), a fleet's workers under
    one header line (``control.listing``); ``--json``: one line, the records without their tokens
    (with their ``ppid`` and ``fleet``)."""
    parser = _ssh_parser("otrace ps", "List the live otrace processes (from their discovery files), "
                         "here or on another host over ssh.", ssh_required=False)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON line for an editor: the discovery records, without their tokens")
    opts = parser.parse_args(argv)
    target = _ssh_target(parser, opts)
    if target is None:
        from otrace_server.control.discovery import list_processes

        processes, where = list_processes(), ""
    else:
        from otrace_server.remote import RemoteError, list_remote

        try:
            processes, where = list_remote(target), f" on {target.destination}"
        except RemoteError as exc:
            return _remote_failed(exc, opts.json)
    if opts.json:
        print(json.dumps([{k: v for k, v in p.items() if k != "token"} for p in processes]))
        return EXIT_OK
    from otrace_server.control.listing import ps_lines

    print("\n".join(ps_lines(processes, where)))
    return EXIT_OK


def _attach(argv: list[str]) -> int:
    """``otrace attach --ssh HOST PID``: forward the process's ports with OpenSSH until Ctrl-C or
    SIGTERM (``remote.Tunnel``); prints where to connect (``--json``: one line for editors)."""
    parser = _ssh_parser(
        "otrace attach",
        "Forward the language server and DAP ports of otrace process PID on another host to this "
        "machine's loopback, with OpenSSH (ssh -L over one connection, which also reads the token), "
        "and stay until Ctrl-C or SIGTERM, which close the tunnel. With --json the first line of "
        "stdout is {pid, argv, cwd, host, lsp_port, dap_port, token, started, remote}: the local "
        "ends, in the shape of a discovery file.", ssh_required=True)
    parser.add_argument("pid", metavar="PID", type=int, help="the remote process (otrace ps --ssh HOST lists them)")
    parser.add_argument("--bind", metavar="ADDR", default="127.0.0.1",
                        help="the local address of the forwarded ports; loopback only (default 127.0.0.1)")
    parser.add_argument("--local-lsp-port", metavar="N", type=int, default=0,
                        help="the local port of the language server (default: a free one)")
    parser.add_argument("--local-dap-port", metavar="M", type=int, default=0,
                        help="the local port of the DAP endpoint (default: a free one)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON line (with the token) for an editor, instead of text")
    parser.add_argument("--show-token", action="store_true", help="print the token in the text output too")
    opts = parser.parse_args(argv)
    target = _ssh_target(parser, opts)
    from otrace_server.remote import RemoteError, Tunnel

    try:
        tunnel = Tunnel(target, opts.pid, bind=opts.bind, local_lsp_port=opts.local_lsp_port,
                        local_dap_port=opts.local_dap_port)
    except ValueError as exc:
        parser.error(str(exc))
    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        info = tunnel.open()
        if opts.json:
            print(json.dumps(info), flush=True)
        else:
            dap = f", DAP {info['host']}:{info['dap_port']}" if info["dap_port"] else " (no DAP endpoint)"
            token = f"; token {info['token']}" if opts.show_token else ""
            print(f"otrace process {opts.pid} on {target.destination} ({' '.join(info.get('argv') or [])}): "
                  f"language server {info['host']}:{info['lsp_port']}{dap}{token}", flush=True)
            print("otrace: Ctrl-C closes the tunnel", file=sys.stderr, flush=True)
        print(f"otrace: {tunnel.wait()}; tunnel closed", file=sys.stderr)
        return EXIT_FAILED
    except RemoteError as exc:
        return _remote_failed(exc, opts.json)
    except KeyboardInterrupt:
        print(f"otrace: tunnel to {target.destination} closed", file=sys.stderr)
        return EXIT_OK
    finally:
        tunnel.close()
        signal.signal(signal.SIGTERM, previous)


def _interrupted(signum, frame):
    """SIGTERM of ``otrace attach``: ends it as Ctrl-C does (the tunnel is closed on the way out)."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
