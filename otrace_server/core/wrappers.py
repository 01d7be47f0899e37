"""Tracing wrappers generated as source: one wrapper per trace, compiled for its condition.

``build(trace, func, flavor, when)`` writes the wrapper's source for a function of ``flavor``
(``flavor_of(func)``: plain function, ``async def`` coroutine, generator or async generator) and
the condition's expression (``core.conditions``), compiles it, and returns a ``Wrapper``: the
wrapper calls ``func`` and the trace's hooks (``on_call``, ``on_return``, ``on_exception``:
core.tracer) when something happens. Argument conditions are inlined with positional-index
argument lookups; the exceptions-only wrapper is the pass-through wrapper's bytecode plus a
zero-cost ``try``.

A Wrapper comes in two forms, from the same compiled source:
    ``wrapper.function``: a new function whose objects (``func``, the hooks, the condition's
        constants, the builtins it uses) are closure variables (fast ``LOAD_DEREF``), carrying the
        trace as ``__otrace_trace__`` (see core.targets): installed in place of a name (rebinding);
    ``wrapper.code(nfree)``: the same code reading those objects as constants of the code
        (``codeswap.constant_code``), swapped into the traced function itself (``func`` is then
        that function's copy), so that every holder of the function object sees the trace.
Both are compiled from the file name ``<otrace wrapper of NAME>`` (``FILE_PREFIX``): core.frames
leaves such frames out of stacks, whatever globals they run with.

Thread-safety: ``build`` creates new objects only; the wrappers it returns may run on any thread.
"""

from __future__ import annotations

import ast
import builtins
import functools
from types import CodeType, FunctionType
from typing import Any, Protocol

from otrace_server.core.codeswap import constant_code

__all__ = ["FILE_PREFIX", "Hooks", "Wrapper", "build", "flavor_of"]

#: the file name of every wrapper's code starts with this
FILE_PREFIX = "<otrace wrapper of "


class Hooks(Protocol):
    """What ``build`` reads of a trace (core.tracer's live trace state)."""

    spec: Any        # tracer.TraceSpec: .name
    cond: Any        # conditions.Condition: .expression(argspec, namespace)
    argspec: Any     # conditions.ArgSpec
    action: str | None

    def on_call(self, args: tuple, kwargs: dict) -> Any: ...

    def on_return(self, args: tuple, kwargs: dict, value: Any) -> None: ...

    def on_exception(self, exc: BaseException, args: tuple, kwargs: dict) -> None: ...


_HEAD = {
    "function": "def otrace_wrapper(*args, **kwargs):\n",
    "coroutine": "async def otrace_wrapper(*args, **kwargs):\n",
    "generator": "def otrace_wrapper(*args, **kwargs):\n",
    "asyncgen": "async def otrace_wrapper(*args, **kwargs):\n",
}
_BODY = {
    "function": "        r = func(*args, **kwargs)\n",
    "coroutine": "        r = await func(*args, **kwargs)\n",
    "generator": "        r = yield from func(*args, **kwargs)\n",
    "asyncgen": (
        "        r = None\n"
        "        agen = func(*args, **kwargs)\n"
        "        try:\n"
        "            value = await agen.__anext__()\n"
        "            while True:\n"
        "                try:\n"
        "                    sent = yield value\n"
        "                except GeneratorExit:\n"
        "                    await agen.aclose()\n"
        "                    raise\n"
        "                except BaseException as thrown:\n"
        "                    value = await agen.athrow(thrown)\n"
        "                else:\n"
        "                    value = await agen.asend(sent)\n"
        "        except StopAsyncIteration:\n"
        "            pass\n"
    ),
}
_FAST_BODY = {  # exceptions only, nothing after the call: return directly
    "function": "        return func(*args, **kwargs)\n",
    "coroutine": "        return await func(*args, **kwargs)\n",
    "generator": "        return (yield from func(*args, **kwargs))\n",
}
_EXCEPT = ("    except Exception as exc:\n"
           "        on_exception(exc, args, kwargs)\n"
           "        raise\n")


def _guarded(expr: str | None, then: str) -> str:
    """Source running ``then`` (one or more lines, indented relative to each other) when ``expr``
    holds (an exception in ``expr`` means no match); ``expr`` None: always."""
    if expr is None:
        return _indent(then, 4)
    return ("    m = False\n"
            "    try:\n"
            f"        if {expr}:\n"
            "            m = True\n"
            "    except Exception:\n"
            "        pass\n"
            "    if m:\n" + _indent(then, 8))


def _indent(lines: str, by: int) -> str:
    """``lines`` with every line indented by ``by`` more spaces, newline-terminated."""
    return "".join(" " * by + line + "\n" for line in lines.splitlines())


class Wrapper:
    """The compiled wrapper of one trace: ``function`` (a new function, for rebinding a name) and
    ``code(nfree)`` (the same code on constants, for swapping into the traced function)."""

    def __init__(self, function: FunctionType, values: dict[str, Any]) -> None:
        self.function = function
        self._values = values

    def code(self, nfree: int) -> CodeType:
        """The wrapper's code reading its objects as constants, with ``nfree`` unused free
        variables (the traced function's closure size). Raises codeswap.CodeSwapError."""
        return constant_code(self.function.__code__, self._values, nfree)


def build(trace: Hooks, func: FunctionType, flavor: str, when: str | None) -> Wrapper:
    """Generate the wrapper of ``trace`` calling ``func``, for a function of ``flavor`` (see
    ``flavor_of``), that calls ``on_call`` (``when`` "call" or "all"), ``on_return`` ("return"
    or "all"; None: neither) when the condition matches, ``on_exception`` always."""
    ns: dict[str, Any] = {"func": func, "on_exception": trace.on_exception,
                          "on_call": trace.on_call, "on_return": trace.on_return}
    expr = trace.cond.expression(trace.argspec, ns)
    source = _HEAD[flavor]
    if when in ("call", "all"):
        if trace.action == "hold":
            source += _guarded(expr, "h = on_call(args, kwargs)\nif h is not None:\n    await h")
        else:
            source += _guarded(expr if when == "call" else None, "on_call(args, kwargs)")
    if when in ("return", "all"):
        source += "    try:\n" + _BODY[flavor] + _EXCEPT
        source += _guarded(expr if when == "return" else None, "on_return(args, kwargs, r)")
        source += "    return r\n" if flavor != "asyncgen" else ""
    elif flavor in _FAST_BODY:
        source += "    try:\n" + _FAST_BODY[flavor] + _EXCEPT
    else:
        source += "    try:\n" + _BODY[flavor] + _EXCEPT
    ns.update(_builtins_read(source, ns))
    # everything the wrapper uses is a parameter of a factory: closure variables of the wrapper
    # (fast LOAD_DEREF), which Wrapper.code turns into constants
    names = [k for k in ns if not k.startswith("__")]
    factory = (f"def otrace_factory({', '.join(names)}):\n"
               + _indent(source, 4)
               + "    return otrace_wrapper\n")
    code_ns: dict[str, Any] = {"__name__": __name__}
    exec(compile(factory, f"{FILE_PREFIX}{trace.spec.name}>", "exec"), code_ns)
    values = {k: ns[k] for k in names}
    wrapper = code_ns["otrace_factory"](*values.values())
    functools.update_wrapper(wrapper, func)
    wrapper.__otrace_trace__ = trace
    return Wrapper(wrapper, values)


def _builtins_read(source: str, ns: dict[str, Any]) -> dict[str, Any]:
    """The builtins the wrapper ``source`` reads (``Exception``, ``type``...), by name: they are
    passed to it like its other objects, so that it never looks a name up in globals (swapped
    into a function, it runs with the application module's globals, which may shadow them)."""
    loaded, stored = set(), {"args", "kwargs"}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else stored).add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            stored.add(node.name)
    return {n: getattr(builtins, n) for n in sorted(loaded - stored - ns.keys()) if hasattr(builtins, n)}


def flavor_of(func) -> str:
    """The kind of wrapper ``func`` needs: "function", "coroutine", "generator" or "asyncgen"."""
    code = func.__code__
    if code.co_flags & 0x200:   # CO_ASYNC_GENERATOR
        return "asyncgen"
    if code.co_flags & 0x80:    # CO_COROUTINE
        return "coroutine"
    if code.co_flags & 0x20:    # CO_GENERATOR
        return "generator"
    return "function"
