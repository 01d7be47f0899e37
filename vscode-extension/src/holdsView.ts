/**
 * The "Held Requests" tree: one node per hold of every attached process (grouped by process when
 * several are attached), labelled with function, label, age (a countdown when `hold_timeout` is
 * set) and request summary; its children are the held function's variables, fetched lazily from
 * `otrace/context`. Nodes are cached by trace id so a refresh or a reconnect keeps the tree's
 * expansion and selection. Selecting a hold opens its file at the holding line.
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import type { OTraceConnection } from './connection';
import type { Connections } from './connections';
import { formatAge } from './discovery';
import { summaryText, TraceContext, Variable, type Hold } from './protocol';

export type HoldsNode =
    | { kind: 'process'; conn: OTraceConnection }
    | { kind: 'hold'; conn: OTraceConnection; hold: Hold }
    | { kind: 'var'; id: string; variable: Variable }
    | { kind: 'message'; id: string; text: string };

/** "hold_check · 12s · GET /?number=77 from 127.0.0.1" (or "resumes in 20s" with a timeout). */
export function holdDescription(hold: Hold, nowSeconds: number): string {
    const age = nowSeconds - hold.since;
    const remaining = hold.remaining === null ? null : hold.remaining - (age - hold.age);
    const time = remaining === null ? formatAge(age) : `resumes in ${formatAge(Math.max(0, remaining))}`;
    return [hold.label, time, summaryText(hold.summary)].filter(Boolean).join(' · ');
}

/** The tree items of a context's variables (shared with Trace Contexts). */
export function variableNodes(parentId: string, ctx: TraceContext): HoldsNode[] {
    const vars: HoldsNode[] = ctx.variables.map((variable) => ({ kind: 'var', id: `${parentId}/${variable.name}`, variable }));
    if (ctx.exception) {
        vars.unshift({ kind: 'message', id: `${parentId}/!exc`, text: `${ctx.exception.type}: ${ctx.exception.message}` });
    }
    return vars.length ? vars : [{ kind: 'message', id: `${parentId}/!none`, text: '(no variables)' }];
}

/** A TreeItem for a variable or message node. */
export function leafItem(node: Extract<HoldsNode, { kind: 'var' | 'message' }>): vscode.TreeItem {
    if (node.kind === 'message') {
        const item = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
        item.id = node.id;
        return item;
    }
    const v = node.variable;
    const item = new vscode.TreeItem(v.name, vscode.TreeItemCollapsibleState.None);
    item.id = node.id;
    item.description = v.repr;
    item.tooltip = `${v.name}: ${v.type} = ${v.repr}`;
    item.iconPath = new vscode.ThemeIcon('symbol-variable');
    item.contextValue = 'variable';
    return item;
}

export class HoldsProvider implements vscode.TreeDataProvider<HoldsNode>, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<HoldsNode | undefined>();
    readonly onDidChangeTreeData = this.changed.event;
    private readonly holdNodes = new Map<string, Extract<HoldsNode, { kind: 'hold' }>>();
    private readonly processNodes = new Map<string, Extract<HoldsNode, { kind: 'process' }>>();
    private readonly contexts = new Map<string, Promise<HoldsNode[]>>();
    private readonly timer: NodeJS.Timeout;
    private ticks = 0;
    private readonly sub: vscode.Disposable;

    constructor(private readonly conns: Connections, private readonly now = () => Date.now() / 1000) {
        this.sub = conns.onDidChange(({ what }) => {
            if (what !== 'webClients' && what !== 'traces') {
                this.refresh();
            }
        });
        // ages tick every 5 s, countdowns every second; only the hold nodes change
        this.timer = setInterval(() => {
            this.ticks++;
            for (const node of this.holdNodes.values()) {
                if (node.hold.remaining !== null || this.ticks % 5 === 0) {
                    this.changed.fire(node);
                }
            }
        }, 1000);
    }

    refresh(): void {
        const live = new Set(this.conns.holds().map((h) => h.hold.id));
        for (const id of [...this.holdNodes.keys()]) {
            if (!live.has(id)) {
                this.holdNodes.delete(id);
                this.contexts.delete(id);
            }
        }
        this.changed.fire(undefined);
    }

    private holdNode(conn: OTraceConnection, hold: Hold): HoldsNode {
        let node = this.holdNodes.get(hold.id);
        if (!node) {
            node = { kind: 'hold', conn, hold };
            this.holdNodes.set(hold.id, node);
        }
        node.conn = conn;
        node.hold = hold;
        return node;
    }

    /** The node of hold `id` (for reveal), if shown. */
    nodeOf(id: string): HoldsNode | undefined {
        return this.holdNodes.get(id);
    }

    getChildren(node?: HoldsNode): vscode.ProviderResult<HoldsNode[]> {
        if (!node) {
            const conns = this.conns.all;
            if (conns.length > 1) {
                return conns.map((conn) => {
                    let p = this.processNodes.get(conn.key);
                    if (!p || p.conn !== conn) {
                        p = { kind: 'process', conn };
                        this.processNodes.set(conn.key, p);
                    }
                    return p;
                });
            }
            return conns.flatMap((conn) => conn.holds.map((h) => this.holdNode(conn, h)));
        }
        if (node.kind === 'process') {
            return node.conn.holds.map((h) => this.holdNode(node.conn, h));
        }
        if (node.kind === 'hold') {
            let kids = this.contexts.get(node.hold.id);
            if (!kids) {
                kids = node.conn.request<TraceContext>('otrace/context', { traceId: node.hold.id })
                    .then((ctx) => variableNodes(node.hold.id, ctx))
                    .catch((e: Error) => {
                        this.contexts.delete(node.hold.id);
                        return [{ kind: 'message', id: `${node.hold.id}/!err`, text: e.message } as HoldsNode];
                    });
                this.contexts.set(node.hold.id, kids);
            }
            return kids;
        }
        return [];
    }

    getParent(node: HoldsNode): HoldsNode | undefined {
        if (node.kind === 'hold' && this.conns.all.length > 1) {
            return this.processNodes.get(node.conn.key);
        }
        return undefined;
    }

    getTreeItem(node: HoldsNode): vscode.TreeItem {
        if (node.kind === 'process') {
            const item = new vscode.TreeItem(node.conn.label, vscode.TreeItemCollapsibleState.Expanded);
            item.id = `process:${node.conn.key}`;
            item.description = `${node.conn.state}, ${node.conn.holds.length} held`;
            item.iconPath = new vscode.ThemeIcon('server-process');
            item.contextValue = 'process';
            return item;
        }
        if (node.kind !== 'hold') {
            return leafItem(node);
        }
        const h = node.hold;
        const item = new vscode.TreeItem(h.function, vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `hold:${h.id}`;
        item.description = holdDescription(h, this.now());
        const md = new vscode.MarkdownString();
        md.appendMarkdown(`**${h.function}** held at \`${h.file}:${h.line}\`\n\n`);
        md.appendMarkdown(`trace id \`${h.id}\`\n\n`);
        if (h.summary) {
            md.appendMarkdown(`request: \`${summaryText(h.summary)}\`\n\n`);
        }
        if (h.webClient) {
            md.appendMarkdown(`browser: \`${h.webClient}\`\n\n`);
        }
        item.tooltip = md;
        item.iconPath = new vscode.ThemeIcon('debug-pause', new vscode.ThemeColor('debugIcon.pauseForeground'));
        item.contextValue = h.webClient ? 'hold.web' : 'hold';
        item.command = { title: 'Open Location', command: 'otrace.openLocation', arguments: [h.file, h.line] };
        return item;
    }

    dispose(): void {
        clearInterval(this.timer);
        this.sub.dispose();
        this.changed.dispose();
    }
}
