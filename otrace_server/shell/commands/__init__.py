"""The shell's commands, one module per family; importing this package registers them all.

    nav        cd, cdls, pushd, popd, swapd, pwd, up, dn
    listing    ls, rm
    evaluate   pr (default command), exec (``!``), run
    contexts   resume, save, del, unpickle
    tracing    trace, untrace, tag, untag
    code       view, edit, unpatch
    control    alias, help, lock, quit, repeat, set, source
    web        JavaScript evaluation in /osh/web/<client>
"""

from otrace_server.shell.commands import (code, contexts, control, evaluate, listing, nav, tracing,  # noqa: F401
                                          web)

__all__: list[str] = []
