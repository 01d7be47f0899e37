/**
 * The "Trace Contexts" tree: recent and saved exceptions, asserts, traces, holds of every attached
 * process (`otrace/traces`), newest first; selecting one opens the raising/asserting line; its
 * children are the context's variables (lazy, `otrace/context`). Refreshed when the server reports
 * a trace event (debounced), a process attaches/reconnects, or on the Refresh command.
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

const ICONS: Record<string, string> = {
    exceptions: 'error', asserts: 'warning', holds: 'debug-pause', traces: 'pulse', breaks: 'debug-breakpoint', tags: 'tag',
};

/** Newest first, at most `limit`, with an index for stable ids. */
export function newestFirst(traces: TraceSummary[], limit = 100): TraceSummary[] {
    return [...traces].sort((a, b) => b.timestamp - a.timestamp).slice(0, limit);
}

export class TracesProvider implements vscode.TreeDataProvider<TracesNode>, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<void>();
    readonly onDidChangeTreeData = this.changed.event;
    private timer: NodeJS.Timeout | undefined;
    private readonly sub: vscode.Disposable;

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

    async getChildren(node?: TracesNode): Promise<TracesNode[]> {
        if (!node) {
            const lists = await Promise.all(this.conns.connected.map(async (conn) => {
                try {
                    const r = await conn.request<{ traces: TraceSummary[] }>('otrace/traces', { limit: 100 });
                    return newestFirst(r.traces).map((trace) => ({ kind: 'trace', conn, trace }) as TracesNode);
                } catch {
                    return [];
                }
            }));
            return lists.flat();
        }
        if (node.kind === 'trace') {
            try {
                const ctx = await node.conn.request<TraceContext>('otrace/context', { traceId: node.trace.traceId });
                return variableNodes(`trace:${node.trace.traceId}`, ctx) as TracesNode[];
            } catch (e) {
                return [{ kind: 'message', id: `trace:${node.trace.traceId}/!err`, text: (e as Error).message }];
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
        item.description = [t.ctype, what, new Date(t.timestamp * 1000).toLocaleTimeString()].filter(Boolean).join(' · ');
        item.tooltip = `${t.traceId}\n${t.file}:${t.line}${t.saved ? '\n(saved)' : ''}${t.held ? '\n(held now)' : ''}`;
        item.iconPath = new vscode.ThemeIcon(ICONS[t.ctype] ?? 'circle-outline');
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
