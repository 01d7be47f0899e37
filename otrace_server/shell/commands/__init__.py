"""The shell's commands, one module per family; importing this package registers them all.

    nav        cd, cdls, pushd, popd, swapd, pwd, up, dn
    listing    ls, rm
    evaluate   pr (default command), exec (``!``), run
    contexts   resume, save, del, unpickle
    tracing    trace, untrace, tag, untag
    code       view, edit, unpatch
    control    alias, help, lock, quit, repeat, set, source
    web        JavaScript evaluation in /osh/web/<client>
    debug      debug (debugpy escalation, through the ``shell.debugger`` provider)
    testgen    testgen (a pytest test from a trace context, ``shell.testgen``)

errors (no commands): the one-line OTraceErrors commands report bad input with.
"""

from otrace_server.shell.commands import (code, contexts, control, debug, evaluate, listing, nav,  # noqa: F401
                                          testgen, tracing, web)

__all__: list[str] = []
