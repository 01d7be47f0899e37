/**
 * The "Trace Contexts" tree: recent and saved exceptions, asserts, traces, holds of every attached
 * process (`otrace/traces`), newest first (a fleet worker's led by "worker N"), each saying what it is with its own icon: held (now),
 * resumed, exception, snapshot (a DAP breakpoint in a plain def), assert, trace, break, tag.
 * Selecting one opens the raising/asserting line; its children are the context's variables (lazy,
 * `otrace/context`). Refreshed when the server reports a trace event (debounced), a process
 * attaches/reconnects, or on the Refresh command. *Clear* empties this list only (contexts up to
 * then are hidden; the process keeps them: `ls /osh/recent`).
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import type { OTraceConnection } from './connection';
import type { Connections } from './connections';
import { HoldsNode, leafItem, variableNodes } from './holdsView';
import type { TraceContext, TraceSummary } from './protocol';

export type TracesNode =
    | { kind: 'trace'; conn: OTraceConnection; trace: TraceSummary }
    | Extract<HoldsNode, { kind: 'var' | 'message' }>;

/** What a context is, as the list says it: its word and icon (a codicon and its theme color). */
export function contextKind(t: TraceSummary): { word: string; icon: string; color?: string } {
    if (t.held) {
        return { word: 'held', icon: 'debug-pause', color: 'debugIcon.pauseForeground' };
    }
    switch (t.ctype) {
    case 'holds': return { word: 'resumed', icon: 'debug-continue', color: 'disabledForeground' };
    case 'exceptions': return { word: 'exception', icon: 'error', color: 'errorForeground' };
    case 'traces': return t.label.startsWith('snapshot_') ? { word: 'snapshot', icon: 'device-camera' } : { word: 'trace', icon: 'pulse' };
    case 'asserts': return { word: 'assert', icon: 'warning', color: 'editorWarning.foreground' };
    case 'breaks': return { word: 'break', icon: 'debug-breakpoint' };
    case 'tags': return { word: 'tag', icon: 'tag' };
    default: return { word: t.ctype, icon: 'circle-outline' };
    }
}

/** Newest first, at most `limit`, with an index for stable ids. */
export function newestFirst(traces: TraceSummary[], limit = 100): TraceSummary[] {
    return [...traces].sort((a, b) => b.timestamp - a.timestamp).slice(0, limit);
}

export class TracesProvider implements vscode.TreeDataProvider<TracesNode>, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<void>();
    readonly onDidChangeTreeData = this.changed.event;
    private timer: NodeJS.Timeout | undefined;
    private readonly sub: vscode.Disposable;
    /** Per connection key: contexts up to this timestamp are hidden (Clear). */
    private readonly clearedUpTo = new Map<string, number>();
    /** The newest timestamp shown per connection key (what Clear hides up to). */
    private readonly newest = new Map<string, number>();

    constructor(private readonly conns: Connections) {
        this.sub = conns.onDidChange(({ what }) => {
            if (what === 'traces' || what === 'state' || what === 'removed' || what === 'holds') {
                this.scheduleRefresh();
            }
        });
    }

    private scheduleRefresh(): void {
        if (!this.timer) {
            this.timer = setTimeout(() => {
                this.timer = undefined;
                this.changed.fire();
            }, 300);
        }
    }

    refresh(): void {
        this.changed.fire();
    }

    /** Empty the list (this view only): what is shown now is hidden; newer contexts appear. */
    clear(): void {
        for (const [key, t] of this.newest) {
            this.clearedUpTo.set(key, Math.max(t, this.clearedUpTo.get(key) ?? 0));
        }
        this.changed.fire();
    }

    async getChildren(node?: TracesNode): Promise<TracesNode[]> {
        if (!node) {
            const lists = await Promise.all(this.conns.connected.map(async (conn) => {
                try {
                    const r = await conn.request<{ traces: TraceSummary[] }>('otrace/traces', { limit: 100 });
                    const shown = newestFirst(r.traces).filter((t) => t.timestamp > (this.clearedUpTo.get(conn.key) ?? -Infinity));
                    this.newest.set(conn.key, Math.max(this.newest.get(conn.key) ?? 0, ...shown.map((t) => t.timestamp)));
                    return shown.map((trace) => ({ kind: 'trace', conn, trace }) as TracesNode);
                } catch {
                    return [];
                }
            }));
            return lists.flat();
        }
        if (node.kind === 'trace') {
            try {
                const ctx = await node.conn.request<TraceContext>('otrace/context', { traceId: node.trace.traceId });
                return variableNodes(`trace:${node.conn.key}:${node.trace.traceId}`, ctx) as TracesNode[];
            } catch (e) {
                return [{ kind: 'message', id: `trace:${node.conn.key}:${node.trace.traceId}/!err`, text: (e as Error).message }];
            }
        }
        return [];
    }

    getTreeItem(node: TracesNode): vscode.TreeItem {
        if (node.kind !== 'trace') {
            return leafItem(node);
        }
        const t = node.trace;
        const item = new vscode.TreeItem(t.function || t.label, vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `trace:${node.conn.key}:${t.traceId}`;
        const what = typeof t.exception === 'string' ? t.exception
            : t.exception ? `${t.exception.type}: ${t.exception.message}` : t.label;
        const kind = contextKind(t);
        const worker = node.conn.target?.fleet ? `worker ${node.conn.target.pid}` : '';   // trace ids are per process
        item.description = [worker, kind.word, what, new Date(t.timestamp * 1000).toLocaleTimeString()].filter(Boolean).join(' · ');
        item.tooltip = `${kind.word}: ${t.traceId}\n${t.file}:${t.line}${t.saved ? '\n(saved)' : ''}`;
        item.iconPath = new vscode.ThemeIcon(kind.icon, kind.color ? new vscode.ThemeColor(kind.color) : undefined);
        item.contextValue = `trace.${t.ctype}`;
        if (t.file) {
            item.command = { title: 'Open Location', command: 'otrace.openLocation', arguments: [t.file, t.line] };
        }
        return item;
    }

    dispose(): void {
        if (this.timer) {
            clearTimeout(this.timer);
        }
        this.sub.dispose();
        this.changed.dispose();
    }
}
