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
    summary: { method?: string; uri?: string; remote_ip?: string } | null;
    webClient: string | null;
}

export interface Variable { name: string; repr: string; type: string }

/** `otrace/context` result. */
export interface TraceContext {
    traceId: string;
    variables: Variable[];
    where: string;
    stack: { file: string; line: number; function: string }[];
    exception?: { type: string; message: string; traceback: string };
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
    repeat?: boolean;
    edit?: { name: string; source: string };
    quit?: boolean;
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

/** The short text of a request summary: "GET /?number=77 from 127.0.0.1". */
export function summaryText(s: Hold['summary']): string {
    if (!s) {
        return '';
    }
    const parts = [s.method, s.uri].filter(Boolean).join(' ');
    return s.remote_ip ? `${parts} from ${s.remote_ip}` : parts;
}
