/**
 * `coalesced(fn)`: an async refresh that many events may ask for at once (1,000 held requests
 * resumed = 1,000 `otrace/holdResumed` notifications) but that runs at most once at a time: a call
 * while a run is in flight asks for exactly one more run after it, shared by every caller of that
 * time. Each caller's promise settles with the first run that started after its call, so what it
 * sees is at least as new as the event that asked for it.
 *
 * Thread-safety: VS Code extensions run on one thread.
 */
export function coalesced(fn: () => Promise<void>): () => Promise<void> {
    let current: Promise<void> | undefined;   // the run in flight
    let next: Promise<void> | undefined;      // the one run queued after it
    const start = (): Promise<void> => {
        const run = fn().finally(() => {
            if (current === run) {
                current = undefined;
            }
        });
        current = run;
        return run;
    };
    return () => {
        if (!current) {
            return start();
        }
        if (!next) {
            next = current.catch(() => undefined).then(() => {
                next = undefined;
                return start();
            });
        }
        return next;
    };
}
