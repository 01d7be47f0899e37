"""The registry of connected browsers and of the JavaScript evaluations in flight to them.

It is the shell's web provider (``shell.web``): ``clients()`` lists the browsers shown under
/osh/web, ``evaluate(name, expression, timeout)`` runs a JavaScript expression in one of them and
returns ``(value_text | None, error_text | None)``.

    registry = WebRegistry(identity=lambda handler: handler.get_cookie("user"))   # Tornado
    registry.attach(shell, runtime)                     # shell.web = registry, + engine enricher
    registry.evaluate("user1", "document.title")        # from the console / a worker thread
    ('"Chat"', None)

Evaluations are multiplexed: each gets an id, is sent on the browser's socket and is completed by
the reply carrying that id, by the browser's disconnection (error at once) or by the caller's
timeout (``web_timeout``, default 5 s). Every evaluation sent is written to the audit log
(``core.audit.record``, action ``javascript``: the browser and the expression, as the actor that
asked); in safe mode every evaluation is refused (``core.policy``'s message).

Thread-safety notes: the socket side (``register``, ``set_url``, ``unregister``, ``reply``) runs on
the loop thread of the socket (``register`` records that loop; sockets of several frameworks may
live on several loops). ``clients()`` and ``submit()`` may be called from any thread.
``evaluate()`` / ``evaluate_all()`` block until the answers arrive, so they refuse (RuntimeError) to
run on the app loop thread or the loop thread of a browser asked (the reply could never arrive) and
on the control thread (it would stall the control plane). A message to a browser crosses to its
socket's loop only through ``otrace_server.runtime.crossing``; the reply completes a
``concurrent.futures.Future`` (thread-safe), which the caller waits on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from otrace_server.core import audit
from otrace_server.core.policy import refused
from otrace_server.runtime import crossing
from otrace_server.shell.providers import WebClientInfo
from otrace_server.web.names import tab_name, web_name
from otrace_server.web.ratelimit import LogLimiter

if TYPE_CHECKING:
    from otrace_server.runtime import Runtime
    from otrace_server.shell import Shell

__all__ = ["WebRegistry", "WebClientInfo", "get_registry", "made_registry", "when_registry_made", "default_identity",
           "MAX_WEB_MESSAGE"]

log = logging.getLogger("otrace.web")

#: /osh/web messages (either way) larger than this are dropped
MAX_WEB_MESSAGE = 1024 * 1024

def default_identity(handler: Any) -> str:
    """The identity used when the app gives none: Tornado's ``current_user`` when set, else
    ``"browser"`` (every tab then shows up as browser, browser#2, ...; so for aiohttp and
    Starlette, which have no such user of their own, unless the app sets ``identity``)."""
    user = getattr(handler, "current_user", None)
    if isinstance(user, bytes):
        user = user.decode("utf-8", "replace")
    return user if isinstance(user, str) and user else "browser"


@dataclass(eq=False)
class _Client:
    """A registered socket of ``identity`` (named ``base``, or ``base#N`` for its N-th tab).
    ``send(text)`` writes a message (it may return an awaitable); it is called on ``loop``, the
    socket's loop, only."""

    name: str
    identity: str
    base: str
    since: float
    user_agent: str
    send: Callable[[str], Any]
    loop: asyncio.AbstractEventLoop | None
    url: str = ""
    pending: set[int] = field(default_factory=set)


class WebRegistry:
    """Connected browsers and evaluations in flight (see the module doc).

    ``identity(connection) -> str | None`` names the browser behind a framework's connection: the
    socket's when a browser connects, the held request's when a request is held (Tornado: the
    ``RequestHandler``; aiohttp: the ``web.Request``; Starlette/FastAPI: the ``WebSocket`` or
    ``Request``, both ``HTTPConnection``s). None means "not identified": such a socket is not
    registered and its messages are dropped. Names follow ``names`` (one-to-one). Log lines
    caused by browsers (connections, bad messages) go through ``warnings`` (a
    ``ratelimit.LogLimiter``: at most 10 a minute per browser, 60 in all, then a summary line).
    """

    def __init__(self, identity: Callable[[Any], Any] | None = None, engine=None) -> None:
        self.identity: Callable[[Any], Any] = identity or default_identity
        self.engine = engine
        self.runtime = None
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._pending: dict[int, tuple[concurrent.futures.Future, str]] = {}
        self._ids = itertools.count(1)
        self._enricher: Callable | None = None
        self.warnings = LogLimiter(log)

    # ---- wiring ------------------------------------------------------------------------------
    def attach(self, shell: Shell, runtime: Runtime, identity: Callable[[Any], Any] | None = None) -> "WebRegistry":
        """Make this registry the provider of ``shell``'s /osh/web (``shell.web = self``, the one
        setter of it: ``otrace_server.start(web=...)`` calls it), send through ``runtime``, and
        add the correlation enricher to the shell's engine (held requests of a connected user get
        ``ctx.extra["web_client"]``). ``identity`` replaces the current identity callable when
        given. Returns self; calling it again re-attaches (the enricher is added once)."""
        from otrace_server.web.correlate import make_enricher

        if identity is not None:
            self.identity = identity
        self.engine = shell.engine
        self.runtime = runtime
        shell.web = self
        if self.engine is not None:
            if self._enricher is None:
                self._enricher = make_enricher(self)
            if self._enricher not in self.engine.enrichers:
                self.engine.enrichers.append(self._enricher)
        return self

    def detach(self) -> None:
        """Undo ``attach``'s enricher and fail every pending evaluation (shutdown)."""
        if self.engine is not None and self._enricher in self.engine.enrichers:
            self.engine.enrichers.remove(self._enricher)
        with self._lock:
            pending, self._pending = self._pending, {}
        for future, name in pending.values():
            _complete(future, None, f"{name}: otrace stopped")
        self.runtime = None

    # ---- socket side (the socket's loop thread) ------------------------------------------------
    def register(self, identity: str, user_agent: str, send: Callable[[str], Any], url: str = "",
                 loop: asyncio.AbstractEventLoop | None = None) -> str | None:
        """Register a connected socket of ``identity`` (``names.identity_text``) and return its
        name: ``names.web_name(identity)``, or when another tab of the same identity has it,
        ``<name>#2``, ``<name>#3``, ... (smallest free). None (not registered, logged) if a
        different identity holds that name (only a SHA-256 collision of two long identities).
        ``send(text)`` writes one message on ``loop`` (default: the running loop; a socket
        registered with no loop at all cannot be sent to). It may return an awaitable (an async
        framework's send), which is awaited in a task of that loop."""
        if loop is None:
            loop = _running_loop()
        base = web_name(identity)
        with self._lock:
            if any(c.base == base and c.identity != identity for c in self._clients.values()):
                name = None
            else:
                name, n = base, 1
                while name in self._clients:
                    n += 1
                    name = tab_name(base, n)
                self._clients[name] = _Client(name, identity, base, time.time(), user_agent[:300], send, loop,
                                              url[:2000])
        if name is None:
            self.warnings.log(base, logging.WARNING, "otrace: browser not registered: its name %s belongs to another "
                              "identity", base)
            return None
        self.warnings.log(name, logging.INFO, "otrace: browser %s connected", name)
        self._publish_clients()
        return name

    def set_url(self, name: str, url: str) -> None:
        """Record the page URL a browser reported in its hello message."""
        with self._lock:
            client = self._clients.get(name)
            if client is not None:
                client.url = url[:2000]

    def unregister(self, name: str) -> None:
        """Forget a browser whose socket closed; its pending evaluations fail at once."""
        with self._lock:
            client = self._clients.pop(name, None)
            futures = [self._pending.pop(i) for i in (client.pending if client else ()) if i in self._pending]
        if client is not None:
            self.warnings.log(name, logging.INFO, "otrace: browser %s disconnected", name)
            self._publish_clients()
        for future, _ in futures:
            _complete(future, None, f"browser {name} disconnected")

    def reply(self, name: str, msg_id: Any, value: Any, error: Any) -> bool:
        """Complete evaluation ``msg_id`` with a browser's answer. Returns False (and logs) when the
        id is unknown (already timed out) or was not sent to browser ``name``."""
        with self._lock:
            entry = self._pending.get(msg_id) if type(msg_id) is int else None
            if entry is None or entry[1] != name:
                entry = None
            else:
                del self._pending[msg_id]
                client = self._clients.get(name)
                if client is not None:
                    client.pending.discard(msg_id)
        if entry is None:
            self.warnings.log(name, logging.INFO, "otrace: dropped a reply from browser %s for unknown evaluation %s",
                              name, _short(msg_id))
            return False
        if error is not None:
            _complete(entry[0], None, _text(error))
        else:
            _complete(entry[0], "undefined" if value is None else _text(value), None)
        return True

    def _publish_clients(self) -> None:
        """Publish engine event ``web_clients`` {} (front ends refresh from ``clients()``). It
        carries no list: a storm of sockets would build one per socket (3,000 tabs: 10 s of the
        app loop's time)."""
        if self.engine is not None:
            self.engine.events.publish("web_clients")

    def names_for(self, identity: str) -> list[str]:
        """Names of the connected browsers of ``identity`` (``names.identity_text``), most
        recently connected first."""
        with self._lock:
            found = [c for c in self._clients.values() if c.identity == identity]
        return [c.name for c in sorted(found, key=lambda c: c.since, reverse=True)]

    # ---- provider side (any thread) ------------------------------------------------------------
    def clients(self) -> list[WebClientInfo]:
        """The connected browsers, sorted by name."""
        with self._lock:
            items = sorted(self._clients.values(), key=lambda c: c.name)
            return [WebClientInfo(name=c.name, since=c.since, url=c.url, user_agent=c.user_agent) for c in items]

    def submit(self, name: str, expression: str, who: str = "") -> concurrent.futures.Future:
        """Send ``expression`` to browser ``name`` without waiting. Returns a Future whose result is
        ``(value_text, None)`` or ``(None, error_text)``; it is completed by the reply, by the
        browser's disconnection, or at once when the evaluation is refused (safe mode, unknown
        browser, otrace not started). It has no timeout of its own: a caller that stops waiting
        calls ``abandon(future)``. Any thread."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        problem = self._refusal(name, expression)
        if problem:
            return _complete(future, None, problem)
        msg_id = next(self._ids)
        future.otrace_id = msg_id  # type: ignore[attr-defined]
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                return _complete(future, None, f"browser {name} disconnected")
            self._pending[msg_id] = (future, name)
            client.pending.add(msg_id)
        asker = audit.actor() if audit.actor() != audit.APP or not who else audit.Actor.named(who)
        with audit.acting(asker):   # a direct call: ``who`` names the asker
            audit.record("javascript", browser=name, expression=expression)
        text = json.dumps({"otrace": "eval", "id": msg_id, "expr": expression})
        crossing(client.loop, lambda: self._send(client, msg_id, text))
        return future

    def abandon(self, future: concurrent.futures.Future, error: str = "abandoned") -> None:
        """Stop waiting for ``future`` (from ``submit``): forget its id (a late reply is dropped) and
        complete it with ``error`` if it is still pending. Any thread."""
        msg_id = getattr(future, "otrace_id", None)
        with self._lock:
            entry = self._pending.pop(msg_id, None)
            client = self._clients.get(entry[1]) if entry else None
            if client is not None:
                client.pending.discard(msg_id)
        _complete(future, None, error)

    def evaluate(self, name: str, expression: str, timeout: float | None = None,
                 who: str = "") -> tuple[str | None, str | None]:
        """Evaluate the JavaScript ``expression`` in browser ``name`` and wait for the answer:
        ``(value_text, None)`` (JSON for plain data, ``String(x)`` otherwise) or ``(None,
        error_text)`` (the browser's exception message, refusal, disconnection, or no answer
        within ``timeout`` seconds, default setting ``web_timeout``). ``who`` names the asking
        session in the audit log when no front end is acting (``core.audit.acting``). Never raises
        for bad input. Threads: not the app loop thread,
        not the control thread (RuntimeError at once)."""
        return self.evaluate_many([name], expression, timeout, who)[0][1:]

    def evaluate_all(self, expression: str, timeout: float | None = None,
                     who: str = "") -> list[tuple[str, str | None, str | None]]:
        """Evaluate ``expression`` in every connected browser at once (``/osh/web/*``): a list of
        ``(name, value_text, error_text)`` sorted by name, waiting at most ``timeout`` in total.
        Same threads as ``evaluate``."""
        return self.evaluate_many([c.name for c in self.clients()], expression, timeout, who)

    def evaluate_many(self, names: list[str], expression: str, timeout: float | None = None,
                      who: str = "") -> list[tuple[str, str | None, str | None]]:
        """Evaluate ``expression`` in each of ``names`` concurrently; ``(name, value, error)`` per
        name, in order, all within one ``timeout``. Same threads as ``evaluate``."""
        if timeout is None:
            timeout = self._settings_value("web_timeout", 5.0)

        def send() -> list[concurrent.futures.Future]:
            return [self.submit(name, expression, who) for name in names]

        running = _running_loop()
        here = [c.name for c in self._clients_named(names) if running is not None and c.loop is running]
        if here:
            raise RuntimeError(f"waiting on the app loop thread of browser {here[0]}'s socket for its answer "
                               "would never end")
        runtime = self.runtime
        # wrong thread: RuntimeError before anything is sent; without a runtime every evaluation
        # is refused at once (nothing to wait for)
        futures = runtime.wait_for_answers(send, timeout) if runtime is not None else send()
        out = []
        for name, future in zip(names, futures):
            if not future.done():
                self.abandon(future, f"browser {name} did not answer within {timeout:g} s")
            out.append((name, *future.result()))
        return out

    # ---- helpers ---------------------------------------------------------------------------------
    def _refusal(self, name: str, expression: str) -> str | None:
        if self._settings_value("safe_mode", True):
            return refused("JavaScript evaluation")
        if not isinstance(expression, str) or not expression.strip():
            return "nothing to evaluate"
        if len(expression.encode("utf-8", "surrogatepass")) > MAX_WEB_MESSAGE - 100:
            return "expression too long (limit 1 MiB)"
        if self.runtime is None:
            return "otrace web is not attached to a started runtime (otrace_server.web attach)"
        with self._lock:
            client = self._clients.get(name)
        if client is None:
            return f"no browser named {name!r}; 'ls /osh/web' lists them"
        if client.loop is None:
            return f"browser {name} was registered outside an event loop: nothing can reach it"
        return None

    def _clients_named(self, names: list[str]) -> list[_Client]:
        with self._lock:
            return [self._clients[name] for name in names if name in self._clients]

    def _settings_value(self, name: str, default: Any) -> Any:
        settings = getattr(self.engine, "settings", None)
        return getattr(settings, name, default) if settings is not None else default

    def _send(self, client: _Client, msg_id: int, text: str) -> None:
        """On the socket's loop: write one eval message; a closed socket fails the evaluation
        (at once, or when the send's awaitable fails)."""
        with self._lock:
            live = msg_id in self._pending
        if not live:
            return  # abandoned (timed out) before the loop got to it
        try:
            sent = client.send(text)
            if inspect.isawaitable(sent):
                asyncio.ensure_future(sent).add_done_callback(lambda task: self._sent(client, msg_id, task))
        except Exception as exc:  # WebSocketClosedError and the like
            self._send_failed(client, msg_id, exc)

    def _sent(self, client: _Client, msg_id: int, task: asyncio.Future) -> None:
        """The awaitable of an async send is done: a failure fails the evaluation."""
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            self._send_failed(client, msg_id, failure)

    def _send_failed(self, client: _Client, msg_id: int, exc: BaseException) -> None:
        self.warnings.log(client.name, logging.INFO, "otrace: sending to browser %s failed: %s", client.name, exc)
        with self._lock:
            entry = self._pending.pop(msg_id, None)
            client.pending.discard(msg_id)
        if entry is not None:
            _complete(entry[0], None, f"browser {client.name} disconnected")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _text(value: Any) -> str:
    """A browser's value or error as text: a string as is, other JSON as JSON (never raises)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (ValueError, TypeError, RecursionError):
        return f"<{type(value).__name__} that cannot be shown>"


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for a log line about a browser's message."""
    text = _text(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _complete(future: concurrent.futures.Future, value: str | None, error: str | None) -> concurrent.futures.Future:
    """Set ``(value, error)`` on ``future`` unless it is already done (races are expected)."""
    try:
        future.set_result((value, error))
    except concurrent.futures.InvalidStateError:
        pass
    return future


_default: WebRegistry | None = None
_default_lock = threading.Lock()
_when_made: list[Callable[[WebRegistry], Any]] = []


def get_registry() -> WebRegistry:
    """The process-wide default registry (used by the routes functions when given none), made on
    first call; making it calls the hooks of ``when_registry_made`` (on this thread)."""
    global _default
    with _default_lock:
        if _default is not None:
            return _default
        _default = made = WebRegistry()
        hooks = _when_made[:]
        _when_made.clear()
    for hook in hooks:
        hook(made)
    return made


def made_registry() -> WebRegistry | None:
    """The default registry if ``get_registry()`` has made it, else None."""
    return _default


def when_registry_made(hook: Callable[[WebRegistry], Any]) -> Callable[[], None]:
    """Call ``hook(registry)`` with the default registry: at once when it is made, else when
    ``get_registry()`` makes it (the program builds its routes). Returns ``cancel()``, which
    forgets a hook not called yet (idempotent). How ``otrace_server.start`` serves /osh/web by
    default, also when the program makes its routes after ``start`` (the ``otrace`` command starts
    otrace before the program runs). Any thread; the hook runs on the caller's thread."""
    with _default_lock:
        made = _default
        if made is None:
            _when_made.append(hook)
    if made is not None:
        hook(made)

    def cancel() -> None:
        with _default_lock:
            if hook in _when_made:
                _when_made.remove(hook)

    return cancel
