/**
 * The types of otrace's custom LSP methods and notifications (docs/PROTOCOL.md), shared by the
 * connection, the views and the tests, and the id of the command that routes the server's
 * `otrace.*` commands to their process. No behaviour beyond formatting a summary.
 */

/** The command the extension registers once; arguments `[connectionKey, serverCommand, ...args]`. */
export const SERVER_COMMAND = 'otrace.serverCommand';

/** `otrace/holds` item and `otrace/holdStarted` params. */
export interface Hold {
    id: string;
    number: number;
    traceId: string;
    label: string;
    function: string;
    file: string;
    line: number;
    since: number;
    age: number;
    remaining: number | null;
    summary: RequestSummary | null;
    webClient: string | null;
    /** True once the held request's client disconnected (protocol 1.2; resuming is harmless). */
    clientGone?: boolean;
}

/** `otrace/holds` result: with `limit`/`after` one page, `next` null after the last (protocol 1.3). */
export interface HoldsPage {
    holds: Hold[];
    total?: number;
    next?: number | null;
}

/** A held request's summary (those known): `{method, uri, remote_ip, user}`. */
export interface RequestSummary { method?: string; uri?: string; remote_ip?: string; user?: string }

/** The `otrace` object of the initialize result (`safeMode`, `statusRange`: protocol 1.2). */
export interface ServerInfo {
    protocolVersion: string;
    dapPort: number | null;
    pid: number;
    safeMode?: boolean;
    /** The HTTP statuses `otrace/resume` accepts (inclusive). */
    statusRange?: [number, number];
}

/** The statuses a hold may be answered with when the server does not say (protocol before 1.2). */
export const DEFAULT_STATUS_RANGE: [number, number] = [200, 599];

/** Where a "Hold here live" holds: `{label, file, line}` (1-based line). */
export interface LiveHold { label: string; file: string; line: number }

/** `otrace/patches` item and `otrace/patchesChanged` element: a live patch; `liveHold` for a "Hold here live". */
export interface Patch { name: string; since: number; liveHold: LiveHold | null }

export interface Variable { name: string; repr: string; type: string }

/** `otrace/context` result. */
export interface TraceContext {
    traceId: string;
    variables: Variable[];
    where: string;
    stack: { file: string; line: number; function: string }[];
    exception?: { type: string; message: string; traceback: string | null };
}

/** `otrace/traces` item. */
export interface TraceSummary {
    traceId: string;
    ctype: string;
    label: string;
    function: string;
    file: string;
    line: number;
    timestamp: number;
    held: boolean;
    saved: boolean;
    /** "ZeroDivisionError: float division by zero" (the server sends this text; an object is accepted too). */
    exception?: string | { type: string; message: string };
}

export interface WebClient { name: string; since: number; url: string; userAgent: string }

/** `otrace/command` result. */
export interface CommandResult {
    output: string;
    prompt: string;
    cwd: string;
    error: boolean;
    repeat?: string;
    edit?: { name: string; source: string };
    quit?: boolean;
    /** With `fleetOrder` (protocol 1.4): whether the line was recorded for the fleet (a standing command), else why not. */
    fleet?: FleetOrderResult;
}

/** How a request given with `fleetOrder` was taken (protocol 1.4): recorded for the fleet, or run in this worker only. */
export interface FleetOrderResult { id: string | null; recorded: boolean; why?: string }

/** `otrace/holdResumed` params, an item of `otrace/holdsResumed`'s `holds`. */
export interface ResumedHold {
    id: string;
    outcome: { kind: string; description: string };
}

/** `otrace/resume` params: ids or all, plus at most one outcome. */
export interface ResumeParams {
    ids?: string[];
    all?: boolean;
    value?: unknown;
    raise?: string;
    status?: number;
    reason?: string;
}

/** The request of a summary: "GET /?number=77" ('' without one). */
export function requestText(s: Hold['summary']): string {
    return s ? [s.method, s.uri].filter(Boolean).join(' ') : '';
}

/** The short text of a request summary: "GET /?number=77 from 127.0.0.1 as alice". */
export function summaryText(s: Hold['summary']): string {
    if (!s) {
        return '';
    }
    return requestText(s) + (s.remote_ip ? ` from ${s.remote_ip}` : '') + (s.user ? ` as ${s.user}` : '');
}
