"""The Engine: one object that composes settings, events, the context store, holds, the tracer,
tags, live patches and the trace database. ``get_engine()`` returns the process-wide default
engine that ``traceassert`` and tracing wrappers report to; it is made by the first
``get_engine()`` call (importing otrace makes none), and ``when_default_engine(hook)`` lets a
module that mirrors its state (``traceassert``'s ``trace_active``) bind to it once it exists.

    >>> eng = get_engine()
    >>> eng.tracer.trace("Receive.respond", namespace=globals())      # doctest: +SKIP
    >>> eng.store.latest().id                                          # doctest: +SKIP
    'Receive.respond:ex-ZeroDivisionError:05-08-45'

Waiting at holds: a ``break`` blocks the traced thread on a ``threading.Event`` until some other
thread resumes it. An asyncio ``hold`` needs a way to complete a Future on its loop from any
thread: ``otrace_server.runtime`` installs it with ``install_crossing``. Without it (otrace not
started) a hold is recorded as a failed assertion and a warning is logged.

Thread-safety: ``record``, ``resume`` and everything they call may be used from any thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from typing import Any, Awaitable, Callable, Iterable

from otrace_server.core import audit
from otrace_server.core.context import TraceContext
from otrace_server.core.errors import OTraceError
from otrace_server.core.events import EventBus
from otrace_server.core.holds import Hold, HoldAnswered, HoldRegistry, Outcome
from otrace_server.core.outcomes import check_outcome
from otrace_server.core.request_summary import RESPONSE_STARTED
from otrace_server.core.settings import Settings
from otrace_server.core.store import ContextStore
from otrace_server.core.waiters import READY, BreakWaiter, Crossing, HoldAwaitable, HoldWaiter

__all__ = ["Engine", "get_engine", "when_default_engine", "answer_any_hold", "watch_no_client", "READY",
           "HoldAwaitable", "StatusException", "ClientWatch"]

log = logging.getLogger("otrace")

#: ``(status, reason) -> exception``: what held code raises to answer its request with that status
StatusException = Callable[[int, str], BaseException]
#: ``client_watch(hold, gone) -> release | None`` (see ``Engine.client_watch``)
ClientWatch = Callable[[Hold, Callable[[], None]], "Callable[[], None] | None"]


def watch_no_client(hold: Hold, gone: Callable[[], None]) -> None:
    """The bare engine's ``client_watch``: it knows no framework, so no client to watch."""
    return None


def answer_any_hold(ctx: TraceContext) -> StatusException:
    """The bare engine's ``status_exception_for``: it knows no framework, so every hold may be
    answered and raises ``HoldAnswered`` (``app.start`` installs the frameworks' hook instead)."""
    return HoldAnswered


#: context types counted per (file, line) by ``Engine.site_counts``
_COUNTED = ("asserts", "holds")


def _enrich(ctx: TraceContext, enrichers: list[Callable[[TraceContext], None]]) -> None:
    for enrich in enrichers:
        try:
            enrich(ctx)
        except Exception:
            log.exception("otrace: context enricher failed")


class _PendingHold:
    """Placeholder ``ctx.hold`` while a hold context is stored but not yet registered (so the
    store never evicts it in between)."""

    __slots__ = ()
    done = False
    client_gone = False


_PENDING = _PendingHold()


class Engine:
    """The otrace engine. Attributes: ``settings``, ``events``, ``store``, ``holds``, ``tracer``,
    ``patcher``, ``tracedb`` (None unless ``pickle_file`` is set)."""

    def __init__(self) -> None:
        from otrace_server.core.patching import Patcher
        from otrace_server.core.tracer import Tracer

        self.settings = Settings()
        self.events = EventBus()
        self.store = ContextStore(functools.partial(getattr, self.settings, "max_recent"),  # no Python frame
                                  prepare=self._prepare_queued)
        self.holds = HoldRegistry(on_resumed=self._hold_resumed)
        self.tracer = Tracer(self)
        self.patcher = Patcher(self)
        self.tracedb = None
        #: log every context's id at INFO: only when otrace's own ``log_level`` says so (an app's
        #: root logger at INFO must not get a line per traced call)
        self._log_contexts = False
        self._crossing: Crossing | None = None
        #: callables(ctx) run when a context is recorded, on the recording thread, before it is
        #: published (e.g. which browser is connected now); cheap, must not raise (failures are logged)
        self.enrichers: list[Callable[[TraceContext], None]] = []
        #: the same for enrichers that only read what does not change once the context is captured
        #: (e.g. the summary of the handler's request): for a context the tracer queued
        #: (``record_later``) they run when it gets its id, on the thread reading the store, and
        #: not at all for a queued context dropped unseen; so they do not keep it from being queued.
        #: They must not use the store.
        self.deferred_enrichers: list[Callable[[TraceContext], None]] = []
        #: ``status_exception_for(ctx)``: for a hold's context, the ``(status, reason) -> exception``
        #: its framework answers the request with, or None when nothing there answers HTTP (a
        #: thread break, plain asyncio code): ``resume`` then refuses a status outcome. The bare
        #: engine's answers every hold with ``HoldAnswered``; ``app.start`` sets the frameworks'
        #: (``otrace_server.frameworks.status_exception_for``). Called on front-end threads (the
        #: check in ``resume``) and on the held code's thread; must not raise.
        self.status_exception_for: Callable[[TraceContext], StatusException | None] = answer_any_hold
        #: ``client_watch(hold, gone) -> release | None``: called on the app loop when an asyncio
        #: hold starts; when its request's client disconnects, ``gone()`` (app loop) marks the hold
        #: ``client_gone``; ``release()`` is called on the app loop after the held code's first step
        #: once resumed (the framework's own disconnect callbacks, held back, run then as they
        #: would have without otrace). None: nothing watched. ``app.start`` sets the frameworks'
        #: (``otrace_server.frameworks``); the bare engine's watches nothing. Must not raise.
        self.client_watch: ClientWatch = watch_no_client
        self._site_counts: dict[tuple[str, int], dict[str, int]] = {}
        self._site_lock = threading.Lock()
        self.settings.on_change(self._setting_changed)
        self.settings.after_change(self._setting_stored)

    # ---- recording -------------------------------------------------------------------------
    def record(self, ctx: TraceContext) -> TraceContext:
        """Store ``ctx`` (assigning its id), write it to the trace database when ``pickle_file`` is
        set, and publish a ``context`` event. Returns ctx."""
        self._store(ctx)
        self._announce(ctx)
        return ctx

    def record_later(self, ctx: TraceContext) -> None:
        """Record ``ctx`` for a caller that does not need its id (the tracer): when nothing needs
        the context at once (no enricher but deferred ones, no subscriber that wants every
        context, no trace database or log line, not a tag) it is queued in the store
        (``ContextStore.add_later``: it gets its id, and the deferred enrichers run, at the next
        read, ``ContextStore.identify`` included) and offered to the event bus's feeds;
        otherwise this is ``record``."""
        # (what ``queue_gate`` states for the C recorder)
        events = self.events
        if (self.enrichers or self.tracedb is not None or events.wants_contexts or self._log_contexts
                or ctx.ctype == "tags"):
            self.record(ctx)
        else:
            if ctx.ctype in _COUNTED:
                self._count_site(ctx.file, ctx.line, ctx.ctype)
            self.store.add_later(ctx)
            if events.feeds:
                events.offer(ctx)

    def queue_gate(self) -> tuple[tuple[dict, str, Any], ...]:
        """When ``record_later`` queues a context (of a type other than tags, not counted per
        site) instead of recording it at once, as ``(dict, key, wanted)`` conditions on this
        engine's attributes (``dict.get(key)`` true, false or missing, or one of a tuple): no
        enricher but deferred ones, no trace database, no subscriber that wants every context,
        no log line, and ``record_later`` not replaced on the instance. The gate of the C
        recorder (``core.quickrecord``), which queues a traced call itself and offers it to the
        bus's feeds (``feed_lookup``); keep it true to ``record_later``."""
        mine = vars(self)
        return ((mine, "enrichers", False), (mine, "tracedb", False), (vars(self.events), "wants_contexts", False),
                (mine, "_log_contexts", False), (mine, "record_later", False))

    def feed_lookup(self) -> tuple[dict, str]:
        """Where the C recorder reads the feeds it offers a queued context to: ``(dict, key)``,
        the event bus's ``feeds``."""
        return vars(self.events), "feeds"

    def _store(self, ctx: TraceContext, hold_ctype: str | None = None) -> None:
        """Run the enrichers and add ``ctx`` to the store (as a pending hold of ``hold_ctype``:
        protected from eviction until the hold is registered)."""
        if hold_ctype is not None:
            ctx.ctype = hold_ctype
            ctx.hold = _PENDING
        if self.enrichers:
            _enrich(ctx, self.enrichers)
        if self.deferred_enrichers:
            _enrich(ctx, self.deferred_enrichers)
        self.store.add(ctx)
        ctype = ctx.ctype
        if ctype in _COUNTED:
            self._count_site(ctx.file, ctx.line, ctype)
        elif ctype == "tags" and self.settings.save_tags:
            self.store.save(ctx.id)

    def _prepare_queued(self, ctx: TraceContext) -> None:
        """The store's ``prepare``: a queued context is about to get its id."""
        if self.deferred_enrichers:
            _enrich(ctx, self.deferred_enrichers)

    def _count_site(self, file: str, line: int, ctype: str) -> None:
        with self._site_lock:
            counts = self._site_counts.setdefault((file, line), {})
            counts[ctype] = counts.get(ctype, 0) + 1

    def site_counts(self) -> dict[tuple[str, int], dict[str, int]]:
        """How many failed assertions and holds each ``(file, line)`` has recorded since this engine
        was made (a copy): ``{(file, line): {"asserts": n, "holds": m}}`` (kinds with no hit are
        left out). Counted when recorded, so a context since evicted from the store still counts
        (what the editor's "traceassert: n violations, m holds" lens shows). Any thread."""
        with self._site_lock:
            return {site: dict(counts) for site, counts in self._site_counts.items()}

    def _announce(self, ctx: TraceContext) -> None:
        """Write ``ctx`` to the trace database (if any), log its id, publish ``context``."""
        db = self.tracedb
        if db is not None:
            try:
                db.write(ctx)
            except Exception as exc:
                log.warning("otrace: writing %s to the trace database failed: %s", ctx.id, exc)
        if self._log_contexts:
            log.info("otrace: %s", ctx.id)
        events = self.events
        if events.wants_contexts or events.feeds:
            events.publish("context", context=ctx)

    # ---- holds and breaks ------------------------------------------------------------------
    def install_crossing(self, crossing: Crossing | None) -> None:
        """Install (or remove, with None) the function that completes hold Futures on their loop."""
        self._crossing = crossing

    def start_hold(self, ctx: TraceContext) -> Awaitable[Any]:
        """Record ``ctx`` as a hold of the running coroutine and return what it must await.

        Must be called on the thread of a running asyncio loop. Without a running loop or without
        ``install_crossing`` (otrace not started), the context is recorded as an assert instead,
        a warning is logged, and an already-completed awaitable is returned.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        crossing = self._crossing
        if loop is None or crossing is None:
            ctx.ctype = "asserts"
            self.record(ctx)
            why = "no running asyncio loop" if loop is None else "otrace is not started (otrace_server.start())"
            log.warning("otrace: cannot hold %s: %s; recorded as an assertion", ctx.id, why)
            return READY
        waiter = HoldWaiter(self, ctx, loop, crossing)
        self._store(ctx, "holds")
        hold = self.holds.create(ctx, waiter, self.settings.hold_timeout)
        waiter.arm(hold)
        try:
            waiter.release = self.client_watch(hold, waiter.client_gone)
        except Exception:   # a framework's watch must never break the hold
            log.exception("otrace: watching the client of %s failed", ctx.id)
        self._announce(ctx)
        self.events.publish("hold_started", hold=hold)
        if self._crossing is None:   # otrace stopped while this hold was being made: never strand it
            self.resume_quietly(ctx.id, Outcome("shutdown"))
        return HoldAwaitable(waiter, hold)

    def start_break(self, ctx: TraceContext) -> Any:
        """Record ``ctx`` as a break and block the calling thread until it is resumed from another
        thread; returns the resume value (or raises the requested exception)."""
        waiter = BreakWaiter()
        self._store(ctx, "breaks")
        hold = self.holds.create(ctx, waiter, self.settings.hold_timeout)
        self._announce(ctx)
        self.events.publish("hold_started", hold=hold)
        if not waiter.wait(hold):
            self.resume_quietly(ctx.id, Outcome("timeout"))
        return self.apply_outcome(waiter.outcome or Outcome("timeout"), ctx)

    def apply_outcome(self, outcome: Outcome, context: TraceContext | None = None) -> Any:
        """In the resumed code of the hold of ``context``: return the value of ``outcome`` or raise
        what it asks for (a status: the exception ``status_exception_for(context)`` makes, else
        ``HoldAnswered``)."""
        if outcome.kind == "raise":
            raise outcome.exception if outcome.exception is not None else RuntimeError("resumed with an error")
        if outcome.kind == "status":
            make = self.status_exception_for(context) if context is not None else None
            raise (make or HoldAnswered)(outcome.status, outcome.reason)
        return outcome.value if outcome.kind == "value" else None

    def resume(self, ids: Iterable[str] | None = None, outcome: Outcome | None = None) -> list[Hold]:
        """Resume the named holds (all of them when ``ids`` is None). Unknown ids raise OTraceError
        before anything is resumed, and so does an outcome that would harm the application rather
        than the held code (see ``check_outcome``) or a status for a hold no HTTP framework can
        answer (``status_exception_for``); those holds keep waiting."""
        if outcome is not None:
            check_outcome(outcome)
        if ids is None:
            if outcome is not None and outcome.kind == "status":
                self._check_status([h.id for h in self.holds.list()], outcome)
            resumed = self.holds.resume_all(outcome)
        else:
            ids = list(dict.fromkeys(ids))
            missing = [i for i in ids if self.holds.get(i) is None]
            if missing:
                raise OTraceError(f"not held: {', '.join(missing)}")
            if outcome is not None and outcome.kind == "status":
                self._check_status(ids, outcome)
            resumed = self.holds.resume_many(ids, outcome)   # (one resumed meanwhile is skipped)
        if resumed:   # the one audit line of a resume, whichever front end asked for it
            audit.record("resume", ids=[h.id for h in resumed], outcome=outcome.kind if outcome else "continue")
        return resumed

    def _check_status(self, ids: list[str], outcome: Outcome) -> None:
        """OTraceError naming the first of ``ids`` whose hold no framework answers with HTTP, or
        whose answer had begun leaving when it started (``RESPONSE_STARTED``)."""
        for trace_id in ids:
            hold = self.holds.get(trace_id)
            if hold is not None and hold.context.extra.get(RESPONSE_STARTED):
                raise OTraceError(f"resume --status: the answer to {trace_id} has already begun leaving, no "
                                  f"status can answer it now; use continue, --value or --raise")
            if hold is not None and self.status_exception_for(hold.context) is None:
                what = "a thread break" if hold.context.ctype == "breaks" else "no request found"
                raise OTraceError(f"resume --status: {trace_id} is not an HTTP request handled by a known "
                                  f"framework ({what}); use continue, --value or --raise")

    def resume_quietly(self, trace_id: str, outcome: Outcome) -> None:
        """Resume ``trace_id`` if it is still held; do nothing otherwise (timeouts, cleanup)."""
        try:
            self.holds.resume(trace_id, outcome)
        except OTraceError:
            pass

    def client_gone(self, hold: Hold) -> None:
        """The client of ``hold``'s request disconnected (app loop; a client watch's ``gone``):
        mark it, publish ``hold_client_gone`` {hold} once."""
        if hold.done or hold.client_gone:
            return
        hold.client_gone = True
        log.info("otrace: the client of held %s disconnected", hold.id)
        self.events.publish("hold_client_gone", hold=hold)

    def _hold_resumed(self, holds: list[Hold]) -> None:
        """The holds one resuming call resumed (all with one outcome): one ``hold_resumed`` event
        for one, one ``holds_resumed`` {holds, outcome} for several (so resuming 10,000 holds
        wakes each subscriber once)."""
        if len(holds) == 1:
            self.events.publish("hold_resumed", hold=holds[0], outcome=holds[0].outcome)
        else:
            self.events.publish("holds_resumed", holds=holds, outcome=holds[0].outcome)

    # ---- settings side effects -------------------------------------------------------------
    def _setting_stored(self, name: str, value: Any) -> None:
        if name != "password":   # front ends show the others (e.g. safe_mode in a status bar)
            self.events.publish("setting", name=name, value=value)
        if name == "hold_timeout":   # the holds that wait get it too, counted from when they began
            self.holds.set_timeout(value)
        elif name == "max_recent":   # the store's queues keep that many
            self.store.limit_changed()

    def _setting_changed(self, name: str, value: Any) -> None:
        if name == "log_level":
            self._log_contexts = value in ("DEBUG", "INFO")
        if name == "pickle_file":
            from otrace_server.core.tracedb import TraceDB

            new = TraceDB(value) if value else None   # OTraceError here vetoes the change
            old, self.tracedb = self.tracedb, new
            if old is not None:
                old.close()


_default: Engine | None = None
_default_lock = threading.Lock()
_default_hooks: list[Callable[[Engine], None]] = []


def get_engine() -> Engine:
    """The process-wide default engine, made by the first call (which first runs the
    ``when_default_engine`` hooks on it). Any thread."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                engine = Engine()
                for hook in _default_hooks:
                    hook(engine)
                _default_hooks.clear()
                _default = engine
    return _default


def when_default_engine(hook: Callable[[Engine], None]) -> None:
    """Call ``hook(engine)`` with the default engine: at once when it exists, else when
    ``get_engine()`` makes it (before any caller gets it, so nothing changes it unseen). A hook
    must not call ``get_engine()`` (the engine is not published yet). Any thread."""
    with _default_lock:
        if _default is None:
            _default_hooks.append(hook)
            return
    hook(_default)
