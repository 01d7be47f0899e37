"""The otrace engine: pure standard library, no threads, no network I/O.

Modules (one concept each):
    errors      OTraceError, the one error type for bad input
    settings    Settings: otrace's parameters, typed and validated
    events      EventBus: publish/subscribe of engine events (plain callbacks)
    context     TraceContext and capture() of a detached snapshot
    frames      the stack walk (C accelerator or Python) and the stack a context keeps (FrameSnapshot)
    store       ContextStore: trace ids, recent/saved contexts, max_recent eviction
    holds       Hold, Outcome, HoldRegistry (waiting is done by whoever created the hold)
    conditions  parsing of otrace's -c conditions into fast predicates
    targets     resolving "Class.method" names to (owner, attribute) targets
    tracer      Tracer: installing/removing tracing wrappers
    wrappers    the tracing wrappers, generated as source for each trace's condition
    codeswap    changing a function in place (its code) and restoring it exactly
    assertions  traceassert()
    tags        object tagging
    patching    live patching of functions and methods
    tracedb     the SQLite trace database (pickle_file)
    textfiles   reading a text file a front end names: regular files only, bounded
    engine      Engine: composes the above; get_engine() is the process-wide default
"""
