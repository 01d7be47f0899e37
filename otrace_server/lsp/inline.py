"""THE rule for answering a language-server request on the control thread itself, without the
worker hop (issue 21, goal 3).

Why: every thread switch on the way of a request may cost a GIL switch interval
(``sys.getswitchinterval()``, 5 ms by default) while the application runs Python code: a thread
that wants the GIL back waits that long before it may ask for it. A request answered in a worker
crosses three times (control thread -> worker -> control thread); answered here, once (the control
thread waking up for the request: ``control.transport`` reads it, ``control.client`` frames it and
this answer is written in that same callback, with no further GIL release on the way). With a handler spinning in Python, ``otrace/command pwd`` went
from p99 ~40 ms to the figures of docs/performance.md (``bench/control_latency.py``).

The rule. A request is answered inline when all of these hold:

1. its method has a rule in ``RULES`` and the rule says this request reads only otrace's own
   state, with work bounded by otrace's own limits (no application object, whose ``__repr__``,
   attribute or code may run anything: runtime.py's rule 1; no file, no process, no wait for a
   loop: rule 2):

   - ``otrace/command`` of a line whose command the shell registered ``bounded``
     (``Session.bounded``: ``pwd``, ``help``, ``ls`` of names in otrace's own directories),
     without ``stdin``;
   - ``otrace/complete`` offering otrace's own names only (``Session.completion_bounded``:
     command names, settings, ``trace`` options), never paths;
   - ``otrace/holds`` while at most ``MAX_INLINE_HOLDS`` holds wait, or a page of at most that
     many however many wait (a page costs O(page): ``HoldRegistry.page``; each listed hold is a
     few microseconds; beyond that a listing is work for a worker);

2. the client has no request of its own still pending (checked by ``LspClient``): an inline
   answer never overtakes the client's earlier request, so ``pwd`` after ``cd`` says where
   ``cd`` went, ``otrace/holds`` sent right behind ``otrace/resume`` does not list the resumed
   hold any more often than before, and the session is never used by two threads at once;
3. the same kind of request (its rule's key: the method, and for ``otrace/command`` the
   command's name) has not spent more than ``BUDGET`` seconds of the control thread's CPU on one
   inline answer within the last ``DEMOTE_SECONDS`` (then that kind goes to the worker for that
   long, with a warning: whatever the rule missed, one client's slow answer cannot keep stalling
   the others). And a client sending request after request is answered ``IN_A_ROW`` at a time,
   the control loop running between (its other clients, events).

Everything else runs in a worker as before, and so does everything that may run application
code, block or wait for the app's loop: ``otrace/context`` and hover (the reprs of the
application's values), code lenses and code actions (they read source files and do work in
proportion to the document), ``otrace/traces`` (up to the store's size, with every context's
position), any request that changes state. Errors, the audit actor and the answer are the same
either way (``LspClient.call`` runs the handler in both).

Thread-safety: control loop only.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

__all__ = ["Inline", "RULES", "SESSION_METHODS", "BUDGET", "DEMOTE_SECONDS", "MAX_INLINE_HOLDS", "IN_A_ROW"]

log = logging.getLogger("otrace.lsp")

#: the most control-thread CPU one inline answer may take, in seconds, before its method is demoted
BUDGET = 0.002
#: how long a method that went over BUDGET is answered in the worker, in seconds
DEMOTE_SECONDS = 30.0
#: ``otrace/holds`` is answered inline while at most this many holds wait
MAX_INLINE_HOLDS = 200
#: inline answers to one client in a row (its requests already read, in one callback of the
#: control loop) before the loop gets a pass for the other clients and events
#: (``LspClient.handle_body``); a client waiting for each answer never reaches it
IN_A_ROW = 16
#: the methods that use the client's shell session (under ``LspClient.session_lock``)
SESSION_METHODS = frozenset({"otrace/command", "otrace/complete"})


def _bounded_command(conn, params: dict) -> str | None:
    line = params.get("line")
    if isinstance(line, str) and params.get("stdin") is None and conn.session.bounded(line):
        return "otrace/command " + line.split(None, 1)[0] if line.strip() else "otrace/command"
    return None


def _bounded_completion(conn, params: dict) -> str | None:
    line, cursor = params.get("line"), params.get("cursor")
    if not isinstance(line, str) or not (cursor is None or (type(cursor) is int and 0 <= cursor <= len(line))):
        return None   # bad params: the worker answers them as it always did
    return "otrace/complete" if conn.session.completion_bounded(line, cursor) else None


def _few_holds(conn, params: dict) -> str | None:
    limit, after = params.get("limit"), params.get("after")
    small_page = (type(limit) is int and 0 < limit <= MAX_INLINE_HOLDS) or (limit is None and type(after) is int)
    return "otrace/holds" if small_page or len(conn.server.engine.holds) <= MAX_INLINE_HOLDS else None


#: method -> rule(client, params): None when the request must go to a worker (rule 1), else its
#: kind (the key rule 3 demotes)
RULES: dict[str, Callable[[Any, dict], "str | None"]] = {
    "otrace/command": _bounded_command,
    "otrace/complete": _bounded_completion,
    "otrace/holds": _few_holds,
}


class Inline:
    """One language server's inline answers: ``allows`` (rules 1 and 3), ``run`` (measures the
    CPU an answer takes and demotes a method over ``BUDGET``). ``answered`` counts the requests
    answered inline."""

    def __init__(self) -> None:
        self.demoted: dict[str, float] = {}   # kind -> monotonic time until which it goes to workers
        self.answered = 0

    def allows(self, conn, method: str, params: dict) -> str | None:
        """The kind of request ``method`` with ``params`` is when ``conn`` may have it answered
        inline (rules 1 and 3), else None."""
        rule = RULES.get(method)
        if rule is None:
            return None
        try:
            kind = rule(conn, params)
        except Exception:   # a rule that cannot tell: the worker answers
            log.exception("otrace lsp: the inline rule of %s failed", method)
            return None
        until = self.demoted.get(kind)
        if until is not None:
            if time.monotonic() < until:
                return None
            del self.demoted[kind]
        return kind

    def run(self, kind: str, answer: Callable[[], Any]) -> Any:
        """``answer()`` (its result or exception), demoting ``kind`` when it took more than BUDGET
        of this thread's CPU."""
        started = time.thread_time()
        try:
            return answer()
        finally:
            self.answered += 1
            spent = time.thread_time() - started
            if spent > BUDGET:
                self.demoted[kind] = time.monotonic() + DEMOTE_SECONDS
                log.warning("otrace lsp: %s took %.1f ms on the control thread; answered in workers for %g s",
                            kind, spent * 1000, DEMOTE_SECONDS)
