"""Which framework adapter applies: chosen by what the program uses.

An adapter is *active* once the program imported its framework (its ``module`` is in
``sys.modules``; installed but unused frameworks cost nothing and are never imported by otrace).
The adapter of a context is the active one whose ``request_of(ctx)`` finds a request (or, once
the context is recorded, the one its ``RequestSummary`` names); else ``plain`` (no HTTP).

    adapter_of(ctx).name            # 'tornado' | 'aiohttp' | 'starlette' | 'plain'
    request_of(ctx)                 # the framework's request, or None
    status_exception_for(ctx)       # the engine's hook: (status, reason) -> exception, or None

Thread-safety: any thread (``request_of`` looks at the calling thread's stack only for a hold or
break being recorded, which the engine does on the held thread). The active list is recomputed
when ``sys.modules`` changed size; concurrent recomputations build equal tuples.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from otrace_server.core.context import TraceContext
from otrace_server.core.request_summary import RequestSummary
from otrace_server.frameworks import plain
from otrace_server.frameworks.adapter import Adapter

__all__ = ["active", "adapter_of", "request_of", "found", "status_exception_for"]


def _tornado() -> Adapter:
    from otrace_server.frameworks import tornado

    return tornado.ADAPTER


def _aiohttp() -> Adapter:
    from otrace_server.frameworks import aiohttp

    return aiohttp.ADAPTER


def _starlette() -> Adapter:
    from otrace_server.frameworks import starlette

    return starlette.ADAPTER


#: (module whose import activates the adapter, loader of the adapter), in the order they are asked
_KNOWN: tuple[tuple[str, Callable[[], Adapter]], ...] = (
    ("tornado.web", _tornado), ("aiohttp.web", _aiohttp), ("starlette", _starlette))

#: [len(sys.modules) when computed, the active adapters then]
_cache: list = [-1, ()]
#: class of a first argument -> the adapter whose ``request_types`` it is, or None. Never stale:
#: a class of a framework exists only once the framework is imported (its adapter active)
_by_class: dict[type, Adapter | None] = {}
#: more classes than that seen: the cache starts again (programs pass few classes first)
_MAX_CLASSES = 4096
_UNSEEN = object()

#: context types recorded (and enriched) on the held thread itself: their stack may be looked at
_HELD = ("holds", "breaks")


def active() -> tuple[Adapter, ...]:
    """The adapters of the frameworks the program imported (plain is never in it)."""
    modules = sys.modules
    if len(modules) != _cache[0]:
        adapters = tuple(load() for module, load in _KNOWN if module in modules)
        _cache[:] = [len(modules), adapters]   # loading an adapter imports it: measured after
    return _cache[1]


def _adapter_for_class(cls: type) -> Adapter | None:
    """The active adapter whose request types ``cls`` is one of (remembered per class)."""
    owner = next((adapter for adapter in active() if issubclass(cls, adapter.request_types())), None)
    if len(_by_class) >= _MAX_CLASSES:
        _by_class.clear()
    _by_class[cls] = owner
    return owner


def found(ctx: TraceContext, live: bool | None = None) -> tuple[Adapter, Any] | None:
    """``(adapter, request)`` for the request ``ctx`` was recorded in, or None. By the context's
    first argument (one dict lookup by its class), or for a call passing every argument by
    keyword (FastAPI calls its endpoints so: ``request: Request`` anywhere among them) by those
    (``TraceContext.keyword_arguments``: not told apart in a context made from a frame's locals,
    Python 3.12+'s exceptions-only traces); when ``live`` (the calling thread is the one ``ctx``
    holds, now; None: a hold or break being recorded, which has no id yet) also by the stack
    (``Adapter.current_request``)."""
    first = ctx.first_argument
    hit = _request_in(first)
    if hit is not None:
        return hit
    if first is None:   # called by keyword only, as FastAPI calls its endpoints: a Request among them
        for value in ctx.keyword_arguments.values():
            hit = _request_in(value)
            if hit is not None:
                return hit
    if live or (live is None and ctx.ctype in _HELD and not ctx.id):
        for adapter in active():
            hit = adapter.current_request()
            if hit is not None:
                return adapter, hit
    return None


def _request_in(value: Any) -> tuple[Adapter, Any] | None:
    """``(adapter, request)`` when ``value`` is or carries a request (one dict lookup by its class)."""
    owner = _by_class.get(type(value), _UNSEEN)
    if owner is _UNSEEN:
        owner = _adapter_for_class(type(value))
    if owner is not None:
        hit = owner.request_from(value)
        if hit is not None:
            return owner, hit
    return None


def request_of(ctx: TraceContext) -> Any | None:
    """The framework's request ``ctx`` was recorded in (Tornado: the ``RequestHandler``; aiohttp:
    the ``web.Request``; Starlette/FastAPI: the ``starlette.requests.Request``), or None (not in a
    request of a framework the program uses). Cheap for any context (its first argument); a hold
    or break still being recorded is also looked up on the stack (a FastAPI endpoint without a
    ``request`` parameter): call it from an engine enricher to get that too. Any thread."""
    hit = found(ctx)
    return hit[1] if hit is not None else None


def adapter_of(ctx: TraceContext) -> Adapter:
    """The adapter of the framework ``ctx`` was recorded in: the one its request summary names,
    else the one that finds its request, else ``plain``. Any thread."""
    summary = ctx.extra.get("request")
    adapters = active()
    if isinstance(summary, RequestSummary) and summary.framework:
        for adapter in adapters:
            if adapter.name == summary.framework:
                return adapter
    hit = found(ctx)
    return hit[0] if hit is not None else plain.ADAPTER


def status_exception_for(ctx: TraceContext) -> Callable[[int, str], BaseException] | None:
    """The engine's ``status_exception_for`` hook: the ``status_exception`` of the adapter of
    ``ctx`` when it answers HTTP, else None (``Engine.resume`` refuses a status then)."""
    adapter = adapter_of(ctx)
    return adapter.status_exception if adapter.http else None
