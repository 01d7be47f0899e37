/**
 * What the otrace debug adapter sends, made readable in VS Code's debugger UI (issue 17, points 5
 * and 8), by a `DebugAdapterTracker` that edits each message before the workbench receives it:
 *
 * - thread names lead with the request, then the label: the server's
 *   `GetHandler.get:hd-hold_check:21-06-24  GET /?number=77 from 127.0.0.1` becomes
 *   `GET /?number=77 from 127.0.0.1 · hold_check` (the Call Stack cuts long names: the request is
 *   the useful part);
 * - a `stopped` event's description is the short state (`held`, `live hold`), not the trace id
 *   (VS Code shows it upper-cased beside the thread name, pushing the name out);
 * - a failed `evaluate` (Debug Console, Watch, hover) is not also raised as a toast: its error
 *   is shown where it was asked (`showUser` false).
 *
 * The tracker's `onDidSendMessage` is called with the very message object the extension host then
 * forwards to the workbench (VS Code 1.100's `ExtHostDebugService`), which is why editing it in
 * place works. Pure functions, tested in plain Node.
 */

/** "GetHandler.get:hd-hold_check:21-06-24" -> "hold_check" (a trace id's label; the id itself when it has none). */
export function traceLabel(traceId: string): string {
    const parts = traceId.split(':');
    return parts.length >= 3 ? parts[parts.length - 2].replace(/^hd-/, '') : traceId;
}

const GONE = ' (client gone)';

/** The server's thread name made to lead with the request (see the module docstring); other names unchanged. */
export function readableThreadName(name: string): string {
    const m = /^(\S+) {2}(.+)$/s.exec(name);
    if (!m) {
        return name;
    }
    let rest = m[2];
    const gone = rest.endsWith(GONE) ? GONE : '';
    rest = rest.slice(0, rest.length - gone.length);
    const label = traceLabel(m[1]);
    return rest.startsWith('[') ? `${label} ${rest}${gone}` : `${rest} · ${label}${gone}`;   // [thread] when no request
}

/** Edit one message from the otrace debug adapter in place (see the module docstring). */
export function rewriteAdapterMessage(message: any): void {
    if (!message || typeof message !== 'object') {
        return;
    }
    if (message.type === 'response' && message.command === 'threads' && message.success && Array.isArray(message.body?.threads)) {
        for (const t of message.body.threads) {
            if (typeof t?.name === 'string') {
                t.name = readableThreadName(t.name);
            }
        }
    } else if (message.type === 'response' && message.command === 'evaluate' && !message.success && message.body?.error) {
        message.body.error.showUser = false;
    } else if (message.type === 'event' && message.event === 'stopped' && message.body) {
        message.body.description = message.body.reason === 'breakpoint' ? 'live hold' : 'held';
    }
}
