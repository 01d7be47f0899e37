"""Source code: view (source/docstring with line numbers, task and thread stacks), edit (live
patching through core.patching), unpatch.

``edit name`` without source returns ``Result.edit = EditRequest(name, source)``: the front end
opens an editor and calls ``execute(f"edit {name}", stdin=new_source)``. Non-interactive use:
``edit name < path`` or ``execute("edit name", stdin=source)``. Thread-safety: the patcher is
thread-safe (core); files are read/written on the caller's thread.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import textwrap
import types

from otrace_server.core import audit
from otrace_server.core.errors import OTraceError
from otrace_server.core.objects import exception_message, is_class, is_instance, is_module, is_routine, type_name
from otrace_server.core.policy import require_unsafe
from otrace_server.core.textfiles import read_text
from otrace_server.shell import vfs
from otrace_server.shell.commands.errors import application_errors
from otrace_server.shell.commands.tracing import qualify_name
from otrace_server.shell.context_dirs import ContextDir
from otrace_server.shell.registry import command
from otrace_server.shell.result import EditRequest, Result
from otrace_server.shell.runtime_views import ThreadInfo, task_stack_text, thread_stack_text

__all__ = ["numbered_source", "split_redirect", "file_path"]


def numbered_source(obj) -> str:
    """The source of a module/class/function with line numbers; OTraceError when unavailable
    (also when the object's own attributes, e.g. a hostile ``__getattr__``, make it unfindable)."""
    try:
        lines, start = inspect.getsourcelines(obj)
    except Exception as exc:
        raise OTraceError(f"view: no source for {_shown_name(obj)}: {exception_message(exc)}") from None
    start = max(start, 1)
    return "".join(f"{start + i:5d}  {line}" for i, line in enumerate(lines)).rstrip("\n")


def _shown_name(obj) -> str:
    """The ``__qualname__`` of a class or routine, else its type's name (never the object's code)."""
    try:
        name = inspect.getattr_static(obj, "__qualname__", None) if is_class(obj) or is_routine(obj) else None
    except Exception:   # a metaclass that hides the class's __dict__
        name = None
    return name if isinstance(name, str) else type_name(obj)


def split_redirect(args: list[str], sign: str, name: str) -> tuple[list[str], str | None]:
    """Remove ``< file`` / ``<file`` / ``name<file`` (``sign``: ``<`` or ``>``) from args; returns (args, file). ``name``
    (the command) starts the error message."""
    out: list[str] = []
    target = None
    i = 0
    while i < len(args):
        arg = args[i]
        if sign in arg:
            before, _, after = arg.partition(sign)
            if before:
                out.append(before)
            if not after:
                if i + 1 >= len(args):
                    raise OTraceError(f"{name}: missing file name after {sign}")
                after = args[i + 1]
                i += 1
            target = after
        else:
            out.append(arg)
        i += 1
    return out, target


def file_path(session, name: str) -> str:
    """The real file a path typed in the shell names (``~~w/x``, absolute, or relative to the
    work directory while in /osh, else to the cwd)."""
    if name.startswith(("~~w", "/")):
        return "/" + "/".join(session.abspath(name))
    path = os.path.expanduser(name)
    if not os.path.isabs(path):
        path = os.path.join(session.shell.work_dir if session.in_osh else session.cwd_text, path)
    return path


def _context_source(ctx_dir: ContextDir) -> str:
    file, line, function = ctx_dir.trace_info()["frame"]
    import linecache
    lines = [f"{file}:{line} {function}"]
    for n in range(max(1, line - 5), line + 6):
        text = linecache.getline(file, n)
        if text:
            lines.append(f"{'=>' if n == line else '  '}{n:4d}  {text.rstrip()}")
    return "\n".join(lines)


def _outside_osh(session, name: str) -> bool:
    """Whether the path ``name`` names a real file (absolute outside /osh, or ``~~w/...``)."""
    if name.startswith("~~w"):
        return True
    return name.startswith("/") and session.abspath(name)[:1] != [vfs.BASE]


@command("view", "view [-d] [-i] [name|file]   # Display source (with line numbers) or docstring",
         """-d  Display the docstring only
-i  Display inline (the shell always returns the text; accepted for compatibility)
Without a name: the current object, or in a trace context the source around its line.
In /osh/tasks and /osh/threads: the stack of a task or thread.""")
def view(session, call):
    args = list(call.args)
    doc = False
    while args and args[0] in ("-d", "-i", "-di", "-id"):
        doc = "d" in args.pop(0) or doc   # pop first: "view -d -i" must not loop
    if args and args[0].startswith("-"):
        raise OTraceError(f"view: unknown option {args[0]} (-d, -i)")
    if len(args) > 1:
        raise OTraceError("view: one name at a time")
    if not session.in_osh or (args and _outside_osh(session, args[0])):
        if not args:
            raise OTraceError("view: specify a file")
        path = file_path(session, args[0])
        try:
            text = read_text(path, errors="replace")
        except OTraceError as exc:
            raise OTraceError(f"view: {exc}") from None
        return "".join(f"{i + 1:5d}  {line}" for i, line in enumerate(text.splitlines(True))).rstrip("\n")
    if not args or args[0] == ".":
        here = session.here()
        if isinstance(here, ContextDir) and not doc:
            return _context_source(here)
        obj = here.value
        if obj is None:
            raise OTraceError("view: nothing to display here; name an object")
    else:
        obj = session.lookup(args[0])
    if is_instance(obj, vfs.Dir) and not is_instance(obj, ContextDir):
        obj = obj.value
        if obj is None:
            raise OTraceError("view: nothing to display for a directory of /osh")
    if is_instance(obj, asyncio.Task):
        return task_stack_text(obj)
    if is_instance(obj, ThreadInfo):
        return thread_stack_text(obj)
    if is_instance(obj, ContextDir):
        return _context_source(obj)
    if not (is_module(obj) or is_class(obj) or is_routine(obj) or is_instance(obj, types.CodeType)):
        obj = type(obj)
    if doc:
        with application_errors("view"):   # a __doc__ answered by the object's __getattr__
            text = inspect.getdoc(obj)
        if not isinstance(text, str) or not text:
            raise OTraceError("view: no docstring")
        return text
    return numbered_source(obj)


def _patch_name(session, args: list[str]) -> str:
    if args:
        return args[0]
    if session.area == "globals" and len(session.cwd) > 2:
        return "/osh/globals/" + "/".join(session.cwd[2:])
    raise OTraceError("edit: specify a function or method")


@command("edit", "edit [-f] (class.method|function) [< file]   # Patch a running function/method with new source",
         """The new source comes from the file, from stdin (a here-document), or else the front end opens
an editor on the current source. Patched names are listed in /osh/patches; "unpatch" restores them.
-f  accepted for compatibility (patching a patched name is always allowed).""",
         changes_state=True, unsafe=True)
def edit(session, call):
    args, infile = split_redirect([a for a in call.args if a != "-f"], "<", "edit")
    if any(a.startswith("-") for a in args):
        raise OTraceError("edit: unknown option (only -f)")
    if len(args) > 1:
        raise OTraceError("edit: one name at a time")
    name = _patch_name(session, args)
    dotted, namespace = qualify_name(session, name)
    source = call.stdin
    if infile is not None:
        path = file_path(session, infile)
        try:
            source = read_text(path)
        except OTraceError as exc:
            raise OTraceError(f"edit: {exc}") from None
    if source is None:
        obj = session.lookup(name)
        try:
            current = textwrap.dedent(inspect.getsource(obj))
        except Exception as exc:   # no file, or the object's attributes (__wrapped__...) raise
            raise OTraceError(f"edit: no source for {dotted}: {exception_message(exc)}") from None
        return Result("", edit=EditRequest(args[0] if args else name, current))
    patch = session.shell.engine.patcher.patch(dotted, source, namespace)
    audit.record("patch", name=patch.name, source=source)
    return Result(f"Patched {patch.name}", data={"patched": patch.name})


@command("unpatch", "unpatch class[.method]|* [> savefile]  # Unpatch (and save the patch source to a file)",
         """"unpatch *" unpatches every patched name. Allowed in safe mode (it only puts the loaded
code back), except saving the source to a file.""", changes_state=True)
def unpatch(session, call):
    args, outfile = split_redirect(list(call.args), ">", "unpatch")
    if outfile is not None:
        require_unsafe(session.settings, "unpatch > file", "it writes a file")
    if len(args) != 1:
        raise OTraceError("unpatch: specify one name or *")
    patcher = session.shell.engine.patcher
    if args[0] == "*":
        if outfile is not None:
            raise OTraceError("unpatch: cannot save several patches to one file")
        gone = [p.name for p in patcher.unpatch_all()]
        if gone:
            audit.record("unpatch", names=gone)
        return Result("Unpatching " + " ".join(gone) if gone else "nothing patched", data={"unpatched": gone})
    name = args[0]
    patch = patcher.get(name)
    if patch is None and session.area in ("globals", "locals"):
        patch = patcher.get(qualify_name(session, name)[0])
    if patch is None:
        raise OTraceError(f"unpatch: not patched: {name}")
    if outfile is not None:
        path = file_path(session, outfile)
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(patch.source)
        except OSError as exc:
            raise OTraceError(f"unpatch: cannot write {path}: {exc.strerror}") from None
    patcher.unpatch(patch.name)
    audit.record("unpatch", names=[patch.name])
    return Result(f"Unpatching {patch.name}", data={"unpatched": [patch.name]})
