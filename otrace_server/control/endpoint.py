"""The accept loop both control-plane servers (the language server, the DAP endpoint) run on
otrace's control loop, their client bookkeeping, worker pool, engine-event fan-out, and their
start/stop from another thread.

    class MyServer(Endpoint):               # make_client; event hooks below
        ...
    handle = start_server(MyServer, app, host, port, what="the DAP endpoint")
    handle.port                             # the bound port
    handle.stop()                           # from any thread but the control thread

Thread-safety: ``start_server``, ``start_endpoint``, ``stop_endpoint`` and ``ServerHandle.stop``
may be called from any thread except the control thread (they wait for it); everything else runs
on the control loop, except what is run through ``Endpoint.in_worker`` (worker threads).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any, Callable

from otrace_server.control.auth import AUTH_TIMEOUT, MAX_LOGINS, is_loopback
from otrace_server.control.client import Client
from otrace_server.control.throttle import CONTEXTS_PER_SECOND, Throttle
from otrace_server.control.transport import Listener, listen
from otrace_server.core.events import Event

__all__ = ["Endpoint", "ServerHandle", "start_server", "start_endpoint", "stop_endpoint", "TIMEOUT"]

log = logging.getLogger("otrace")

#: how long starting or stopping an endpoint may take on the control loop, in seconds
TIMEOUT = 5.0


class Endpoint:
    """A TCP server on ``app.runtime.control_loop`` with one client object per connection.

    Attributes: ``app``, ``engine``, ``shell``, ``runtime``, ``token``, ``host``, ``requested_port``,
    ``port`` (once started), ``loop`` (the control loop), ``executor`` (the worker pool),
    ``clients`` (the connected client objects, ``control.client.Client``s).

    Subclasses provide ``make_client()`` (the protocol object of a new connection) and the event hooks they need, each called
    on the control loop: ``hold_started(hold)`` (never for a hold already resumed when the event
    arrives: no phantom), ``hold_resumed(hold, outcome)``, ``holds_resumed(holds, outcome)`` (several
    resumed by one call: one event), ``context_recorded(ctx)`` (through the
    ``contexts`` throttle, ``CONTEXTS_PER_SECOND``, which counts them on the recording thread and
    wakes the control loop a few times a window, not once per context; ``contexts_held(count,
    last)`` sums up the ones it held back; each has its id by then; ``contexts_delivered()`` ends
    each delivery of them), ``output(text, stream)``, ``other_event(event)``; and may extend ``start``/``stop``
    or override ``close_client`` (at stop) and ``client_gone`` (after a client left, not at stop).

    Engine events are subscribed to only while at least one client is connected (from its
    accept, before it can send anything, to its leaving): with no editor connected, a hold, a
    resume or a traced call costs the control thread nothing, and the engine can queue traced
    calls' contexts (``Engine.record_later``). What a client needs from before it connected it
    asks for (holds, contexts); what outlives events is kept by the engine (``site_counts``).

    Logins: a connection that has not proved the token within ``auth.AUTH_TIMEOUT`` is closed, and
    at most ``auth.MAX_LOGINS`` connections may be waiting to prove it at once: a new one past that
    closes the one that has waited longest (``evicted_logins`` counts them).
    """

    #: what a client is called in log messages, e.g. "lsp connection"
    client_kind = "client"

    def __init__(self, app, host: str, port: int, *, workers: int, thread_name_prefix: str) -> None:
        self.app = app
        self.engine = app.engine
        self.shell = app.shell
        self.runtime = app.runtime
        self.token: str = app.token
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.loop: asyncio.AbstractEventLoop = app.runtime.control_loop
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                              thread_name_prefix=thread_name_prefix)
        self.clients: set[Client] = set()
        self.stopping = False
        self.evicted_logins = 0   # connections closed because MAX_LOGINS newer ones waited to log in
        self._server: Listener | asyncio.AbstractServer | None = None
        self._serving: set[asyncio.Task] = set()   # one per connection: its lifecycle (_accept)
        self._logins: list[Client] = []   # connections not yet authenticated, oldest first
        self._unsubscribe: Callable[[], None] | None = None
        self._unsubscribe_contexts: Callable[[], None] | None = None
        self.contexts = Throttle(CONTEXTS_PER_SECOND, 1.0, self._context_admitted, self._contexts_summed,
                                 self.runtime.run_in_control, prepare=self.engine.store.identify,
                                 done=self._contexts_delivered)

    # ---- hooks (control loop) ----------------------------------------------------------------
    def make_client(self) -> Client:
        """A client object for a new connection (its ``asyncio.Protocol``)."""
        raise NotImplementedError

    def hold_started(self, hold) -> None:
        """A hold began (and was not resumed before this event got here)."""

    def hold_resumed(self, hold, outcome) -> None:
        """A hold ended with ``outcome`` (a ``core.holds.Outcome`` or None)."""

    def holds_resumed(self, holds: list, outcome) -> None:
        """Several holds ended with ``outcome`` by one resuming call (``resume all``). Default:
        ``hold_resumed`` for each."""
        for hold in holds:
            self.hold_resumed(hold, outcome)

    def context_recorded(self, ctx) -> None:
        """A context was recorded and the throttle let it through."""

    def contexts_held(self, count: int, last) -> None:
        """The throttle held back ``count`` contexts in its last window, ``last`` the newest."""

    def contexts_delivered(self) -> None:
        """The end of one delivery of the throttle: the ``context_recorded`` and ``contexts_held``
        calls just made were all of it (e.g. send what was built for them now, in one write)."""

    def output(self, text: str, stream: str) -> None:
        """Shell or application output to show (``stream``: stdout, stderr, console)."""

    def other_event(self, event: Event) -> None:
        """Any other engine event (e.g. ``web_clients``)."""

    async def close_client(self, client: Client) -> None:
        """At stop: close one client (a protocol may say goodbye first)."""
        client.close()

    async def client_gone(self, client: Client) -> None:
        """After a client left (not at stop): clean up what it set."""

    # ---- lifecycle (control loop) ----------------------------------------------------------
    async def start(self) -> None:
        """Listen (OSError when the port cannot be bound)."""
        self._server = await listen(self.loop, self._connection, self.host, self.requested_port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Unsubscribe, stop listening, close every client, drop the worker pool. Safe after a
        failed or partial ``start``."""
        self.stopping = True
        self._listen(False)
        self.contexts.cancel()
        if self._server is not None:
            self._server.close()
        for client in list(self.clients):
            try:
                await self.close_client(client)
            except Exception:   # one client must not keep the others (or the pool) from closing
                log.exception("otrace: closing a %s failed", self.client_kind)
                client.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def abandon(self) -> None:
        """Called (any thread) when ``stop`` could not run on the control loop: remove what must
        not outlive the process's server (e.g. the discovery file). Default: nothing."""

    def _connection(self) -> Client:
        """The protocol factory: a new connection's client, and its lifecycle (``_accept``),
        which joins it to ``clients`` before the transport hands it anything."""
        client = self.make_client()
        task = self.loop.create_task(self._accept(client))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)
        return client

    async def _accept(self, client: Client) -> None:
        self._limit_logins()
        self._logins.append(client)
        self.clients.add(client)
        self._listen(not self.stopping)
        deadline = self.loop.call_later(AUTH_TIMEOUT, self._auth_expired, client)
        try:
            await client.serve()
        except Exception:
            log.exception("otrace: %s failed", self.client_kind)
        finally:
            deadline.cancel()
            self.clients.discard(client)
            if client in self._logins:
                self._logins.remove(client)
            self._listen(bool(self.clients) and not self.stopping)
            client.close()
            if not self.stopping:
                try:
                    await self.client_gone(client)
                except Exception:
                    log.exception("otrace: cleaning up after a %s failed", self.client_kind)

    def _limit_logins(self) -> None:
        """Before a new connection joins: if MAX_LOGINS connections already wait to prove the
        token, close the one that has waited longest (logged once per 1, 10, 100, 1000... times)."""
        waiting = [c for c in self._logins if not c.authenticated and not c.closed]
        self._logins = waiting
        if len(waiting) >= MAX_LOGINS:
            oldest = waiting.pop(0)
            self.evicted_logins += 1
            if str(self.evicted_logins).strip("0") == "1":
                log.warning("otrace: closed %d %s(s) waiting to prove the token: %d newer ones waited too",
                            self.evicted_logins, self.client_kind, MAX_LOGINS)
            oldest.close()

    def _auth_expired(self, client: Client) -> None:
        """AUTH_TIMEOUT after a connection was accepted: close it if it has not proved the token
        (a connection that never authenticates must not hold a client slot forever)."""
        if not client.authenticated and not client.closed:
            log.warning("otrace: closing a %s that did not authenticate within %g s", self.client_kind, AUTH_TIMEOUT)
            client.close()

    def _listen(self, on: bool) -> None:
        """Subscribe to (``on``) or unsubscribe from the engine's events, if not already so:
        recorded contexts on the recording thread (the throttle's tally is a feed of the bus:
        contexts it delivers get their ids then), the others on the control thread."""
        if on and self._unsubscribe is None:
            self._unsubscribe = self.runtime.subscribe_in_control(self._on_event, contexts=False)
            self._unsubscribe_contexts = self.engine.events.subscribe_feed(self.contexts.tally)
        elif not on and self._unsubscribe is not None:
            self._unsubscribe, unsubscribe = None, self._unsubscribe
            self._unsubscribe_contexts, unsubscribe_contexts = None, self._unsubscribe_contexts
            unsubscribe()
            if unsubscribe_contexts is not None:
                unsubscribe_contexts()

    def _context_admitted(self, ctx) -> None:
        """Control loop: the throttle delivers a context it admitted."""
        if not self.stopping:
            self.context_recorded(ctx)

    def _contexts_summed(self, count: int, last) -> None:
        """Control loop: the throttle's summary of a window."""
        if not self.stopping:
            self.contexts_held(count, last)

    def _contexts_delivered(self) -> None:
        """Control loop: the end of one delivery of the throttle."""
        if not self.stopping:
            self.contexts_delivered()

    def _on_event(self, event: Event) -> None:
        """An engine event (control loop): to the hook that handles its kind."""
        data = event.data
        try:
            if event.kind == "hold_started":
                if not data["hold"].done:   # resumed before this event reached the control loop
                    self.hold_started(data["hold"])
            elif event.kind == "hold_resumed":
                self.hold_resumed(data["hold"], data.get("outcome"))
            elif event.kind == "holds_resumed":
                self.holds_resumed(data["holds"], data.get("outcome"))
            elif event.kind == "output":
                self.output(str(data.get("text", "")), str(data.get("stream", "stdout")))
            else:
                self.other_event(event)
        except Exception:
            log.exception("otrace: a %s endpoint failed to forward a %s event", self.client_kind, event.kind)

    # ---- helpers for clients ---------------------------------------------------------------
    def in_worker(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future:
        """Run ``fn(*args, **kwargs)`` in the worker pool; await the result on the control loop."""
        if kwargs:
            return self.loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))
        return self.loop.run_in_executor(self.executor, fn, *args)


def start_endpoint(endpoint: Endpoint, timeout: float = TIMEOUT) -> None:
    """Run ``endpoint.start()`` on the control loop and wait for it. On any failure the endpoint
    is stopped (nothing is left running) and the failure re-raised (OSError: the port cannot be
    bound). RuntimeError when called on the control thread."""
    runtime = endpoint.runtime
    if runtime.in_control_thread():
        raise RuntimeError("start_server() waits for the control loop: call it from another thread")
    try:
        runtime.call_in_control(endpoint.start(), timeout=timeout)
    except BaseException:
        try:
            runtime.call_in_control(endpoint.stop(), timeout=timeout)
        except Exception:
            pass
        raise


def stop_endpoint(endpoint: Endpoint, timeout: float = TIMEOUT) -> bool:
    """Run ``endpoint.stop()`` on the control loop and wait for it; whether it completed (False:
    the runtime is not running, or the stop failed, which is logged). Any thread but the control
    thread."""
    if not endpoint.runtime.running:
        return False
    try:
        endpoint.runtime.call_in_control(endpoint.stop(), timeout=timeout)
        return True
    except Exception:
        log.exception("otrace: stopping %s failed", type(endpoint).__name__)
        return False


class ServerHandle:
    """What ``start_server`` returns: ``endpoint``, ``port``, ``host``, ``stop()``."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.port: int = endpoint.port
        self.host = endpoint.host
        self._stopped = False

    def stop(self, timeout: float = TIMEOUT) -> None:
        """Stop the endpoint: every client is closed (after its protocol's goodbye), the
        listening socket too. Idempotent; any thread but the control thread."""
        if self._stopped:
            return
        self._stopped = True
        if not stop_endpoint(self.endpoint, timeout):
            self.endpoint.abandon()


def start_server(factory: Callable[..., Endpoint], app, host: str | None, port: int | None, *,
                 what: str, **kwargs: Any) -> ServerHandle:
    """Start the endpoint ``factory(app, host, port, **kwargs)`` of ``app`` (an
    ``otrace_server.app.App`` with ``engine``, ``shell``, ``runtime`` (started), ``token``) on its
    control loop and return its handle. ``host`` defaults to ``app.host`` (127.0.0.1); a host
    beyond loopback is served only when asked for, with a warning naming ``what`` ("the language
    server"). ``port`` None or 0: a free port.

    Thread: any but the control thread (RuntimeError). Failures: OSError when the port cannot be
    bound (nothing is left running), or whatever the endpoint's ``start`` raises.
    """
    host = host or app.host or "127.0.0.1"
    if not is_loopback(host):
        log.warning("otrace: %s listens on %s, beyond loopback: anyone who can reach this address and "
                    "knows the token controls this process", what, host)
    endpoint = factory(app, host, port or 0, **kwargs)
    start_endpoint(endpoint)
    log.info("otrace: %s on %s:%s", what, host, endpoint.port)
    return ServerHandle(endpoint)
