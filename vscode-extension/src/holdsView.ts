/**
 * The "Held Requests" tree: one node per hold of every attached process (grouped by process when
 * several are attached; the workers of a fleet are ONE group, their holds in one list, oldest first,
 * each row led by its worker: "worker 1234 · ..."), led by its request (`GET /?number=77`, so a narrow row still shows the
 * path), then label, age (a countdown when `hold_timeout` is set), function and client ("client
 * gone" once it disconnected); its children are the held function's variables, fetched lazily from
 * `otrace/context`. Above the holds, a "Live holds" node lists the process's "Hold here live"
 * patches with their line (inline/context "Remove Live Hold"). Nodes are cached by process and trace id so a refresh or a reconnect keeps the tree's
 * expansion and selection. Selecting a hold opens its file at the holding line.
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import type { OTraceConnection } from './connection';
import type { Connections } from './connections';
import { fleetLabel, formatAge, type FleetRef } from './discovery';
import { groupByFleet } from './fleet';
import * as path from 'path';
import { requestText, summaryText, TraceContext, Variable, type Hold, type LiveHold, type Patch } from './protocol';

export type LivePatch = Patch & { liveHold: LiveHold };

export type HoldsNode =
    | { kind: 'process'; conn: OTraceConnection }
    | { kind: 'fleet'; fleet: FleetRef }
    | { kind: 'liveHolds'; conn: OTraceConnection }
    | { kind: 'liveHold'; conn: OTraceConnection; patch: LivePatch }
    | { kind: 'hold'; conn: OTraceConnection; hold: Hold }
    | { kind: 'var'; id: string; variable: Variable }
    | { kind: 'message'; id: string; text: string };

/** A hold's row label: its request ("GET /?number=77"), else its function. */
export function holdLabel(hold: Hold): string {
    return requestText(hold.summary) || hold.function;
}

/**
 * What follows the row label: "hold_check · 12s · GetHandler.get · from 127.0.0.1" ("resumes in
 * 20s" with a timeout; "client gone · " first once the request's client disconnected; a fleet's
 * hold is led by its `worker` pid: "worker 1234 · ...").
 */
export function holdDescription(hold: Hold, nowSeconds: number, worker?: number): string {
    const age = nowSeconds - hold.since;
    const remaining = hold.remaining === null ? null : hold.remaining - (age - hold.age);
    const time = remaining === null ? formatAge(age) : `resumes in ${formatAge(Math.max(0, remaining))}`;
    const s = hold.summary;
    const who = s ? [s.remote_ip && `from ${s.remote_ip}`, s.user && `as ${s.user}`].filter(Boolean).join(' ') : '';
    return [worker !== undefined && `worker ${worker}`, hold.clientGone && 'client gone', hold.label, time, requestText(s) && hold.function, who]
        .filter(Boolean).join(' · ');
}

/** The one-line name of a hold wherever it is listed: "GET /?number=77 · hold_check" (or the label alone). */
export function holdTitle(hold: Hold): string {
    return [requestText(hold.summary), hold.label].filter(Boolean).join(' · ');
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

/** `text` with Markdown's special characters escaped (a request path is the application's text). */
export function escapeMarkdown(text: string): string {
    return text.replace(/[\\`*_{}[\]()#+\-.!<>|~]/g, '\\$&');
}

/**
 * A hold's key in the tree: its process and trace id (trace ids are per process: the workers of a
 * fleet, running the same code, can make the same one).
 */
export function holdKey(conn: { key: string }, hold: Hold): string {
    return `${conn.key}/${hold.id}`;
}

export class HoldsProvider implements vscode.TreeDataProvider<HoldsNode>, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<HoldsNode | undefined>();
    readonly onDidChangeTreeData = this.changed.event;
    private readonly holdNodes = new Map<string, Extract<HoldsNode, { kind: 'hold' }>>();
    private readonly processNodes = new Map<string, Extract<HoldsNode, { kind: 'process' }>>();
    private readonly fleetNodes = new Map<string, Extract<HoldsNode, { kind: 'fleet' }>>();
    private readonly groupNodes = new Map<string, Extract<HoldsNode, { kind: 'liveHolds' }>>();
    private readonly liveNodes = new Map<string, Extract<HoldsNode, { kind: 'liveHold' }>>();
    private readonly contexts = new Map<string, Promise<HoldsNode[]>>();
    private readonly timer: NodeJS.Timeout;
    private ticks = 0;
    private shown: string | undefined;   // holdsSignature() at the last refresh
    private readonly sub: vscode.Disposable;

    constructor(private readonly conns: Connections, private readonly now = () => Date.now() / 1000) {
        this.sub = conns.onDidChange(({ what }) => {
            // a 'holds' change that leaves the listed holds as they are (the resume reply and its
            // notification both remove a hold) redraws nothing: a redraw under the mouse can take
            // the row a click was meant for (its inline button then runs with no row)
            if (what !== 'webClients' && what !== 'traces' && (what !== 'holds' || this.holdsSignature() !== this.shown)) {
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

    /** What the hold rows show that a 'holds' change can alter: which holds, whose, client gone. */
    private holdsSignature(): string {
        return this.conns.holds().map((h) => `${h.conn.key}/${h.hold.id}${h.hold.clientGone ? '!' : ''}`).join(' ');
    }

    refresh(): void {
        this.shown = this.holdsSignature();
        const live = new Set(this.conns.holds().map((h) => holdKey(h.conn, h.hold)));
        for (const id of [...this.holdNodes.keys()]) {
            if (!live.has(id)) {
                this.holdNodes.delete(id);
                this.contexts.delete(id);
            }
        }
        const patched = new Set(this.conns.all.flatMap((c) => (c.liveHolds ?? []).map((p) => `${c.key}/${p.name}`)));
        for (const key of [...this.liveNodes.keys()]) {
            if (!patched.has(key)) {
                this.liveNodes.delete(key);
            }
        }
        this.changed.fire(undefined);
    }

    private holdNode(conn: OTraceConnection, hold: Hold): HoldsNode {
        let node = this.holdNodes.get(holdKey(conn, hold));
        if (!node) {
            node = { kind: 'hold', conn, hold };
            this.holdNodes.set(holdKey(conn, hold), node);
        }
        node.conn = conn;
        node.hold = hold;
        return node;
    }

    /** The rows of a process: its live holds' node (when it has some), then its holds. */
    private processChildren(conn: OTraceConnection): HoldsNode[] {
        const rows: HoldsNode[] = conn.holds.map((h) => this.holdNode(conn, h));
        if (conn.liveHolds.length) {
            let group = this.groupNodes.get(conn.key);
            if (!group || group.conn !== conn) {
                group = { kind: 'liveHolds', conn };
                this.groupNodes.set(conn.key, group);
            }
            rows.unshift(group);
        }
        return rows;
    }

    /**
     * The rows of a fleet: the live holds of its first worker that has some (a live hold is a fleet
     * order: every worker has the same), then every worker's holds, oldest first.
     */
    private fleetChildren(fleet: FleetRef): HoldsNode[] {
        const workers = this.conns.all.filter((c) => c.target.fleet?.id === fleet.id);
        const rows: HoldsNode[] = this.conns.holds().filter((h) => h.conn.target.fleet?.id === fleet.id)
            .map((h) => this.holdNode(h.conn, h.hold));
        const live = workers.find((c) => c.liveHolds.length);
        if (live) {
            rows.unshift(this.processChildren(live)[0]);
        }
        return rows;
    }

    private fleetNode(fleet: FleetRef): HoldsNode {
        let node = this.fleetNodes.get(fleet.id);
        if (!node) {
            node = { kind: 'fleet', fleet };
            this.fleetNodes.set(fleet.id, node);
        }
        return node;
    }

    private liveNode(conn: OTraceConnection, patch: LivePatch): HoldsNode {
        const key = `${conn.key}/${patch.name}`;
        let node = this.liveNodes.get(key);
        if (!node) {
            node = { kind: 'liveHold', conn, patch };
            this.liveNodes.set(key, node);
        }
        node.conn = conn;
        node.patch = patch;
        return node;
    }

    getChildren(node?: HoldsNode): vscode.ProviderResult<HoldsNode[]> {
        if (!node) {
            const groups = groupByFleet(this.conns.all);
            if (groups.length > 1) {
                return groups.map(({ fleet, conns: [conn] }) => {
                    if (fleet) {
                        return this.fleetNode(fleet);
                    }
                    let p = this.processNodes.get(conn.key);
                    if (!p || p.conn !== conn) {
                        p = { kind: 'process', conn };
                        this.processNodes.set(conn.key, p);
                    }
                    return p;
                });
            }
            return groups.flatMap(({ fleet, conns }) => (fleet ? this.fleetChildren(fleet) : this.processChildren(conns[0])));
        }
        if (node.kind === 'process') {
            return this.processChildren(node.conn);
        }
        if (node.kind === 'fleet') {
            return this.fleetChildren(node.fleet);
        }
        if (node.kind === 'liveHolds') {
            return node.conn.liveHolds.map((p) => this.liveNode(node.conn, p));
        }
        if (node.kind === 'liveHold') {
            return [];
        }
        if (node.kind === 'hold') {
            const key = holdKey(node.conn, node.hold);
            let kids = this.contexts.get(key);
            if (!kids) {
                kids = node.conn.request<TraceContext>('otrace/context', { traceId: node.hold.id })
                    .then((ctx) => variableNodes(key, ctx))
                    .catch((e: Error) => {
                        this.contexts.delete(key);
                        return [{ kind: 'message', id: `${key}/!err`, text: e.message } as HoldsNode];
                    });
                this.contexts.set(key, kids);
            }
            return kids;
        }
        return [];
    }

    getParent(node: HoldsNode): HoldsNode | undefined {
        if (node.kind === 'liveHold') {
            return this.groupNodes.get(node.conn.key);
        }
        if ((node.kind === 'hold' || node.kind === 'liveHolds') && groupByFleet(this.conns.all).length > 1) {
            const fleet = node.conn.target.fleet;
            return fleet ? this.fleetNodes.get(fleet.id) : this.processNodes.get(node.conn.key);
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
        if (node.kind === 'fleet') {
            const workers = this.conns.all.filter((c) => c.target.fleet?.id === node.fleet.id);
            const item = new vscode.TreeItem(fleetLabel(node.fleet, workers.length), vscode.TreeItemCollapsibleState.Expanded);
            item.id = `fleet:${node.fleet.id}`;
            item.description = `${workers.reduce((n, c) => n + c.holds.length, 0)} held`;
            item.tooltip = `workers ${workers.map((c) => `${c.target.pid} (${c.state})`).join(', ')}`;
            item.iconPath = new vscode.ThemeIcon('server-environment');
            item.contextValue = 'fleet';
            return item;
        }
        if (node.kind === 'liveHolds') {
            const item = new vscode.TreeItem('Live holds', vscode.TreeItemCollapsibleState.Expanded);
            item.id = `liveHolds:${node.conn.key}`;
            item.description = `${node.conn.liveHolds.length}`;
            item.tooltip = '"Hold here live" patches of the running code: each holds every request that reaches its line. '
                + 'Remove one with its trash button, "otrace: Remove Live Hold..." or the code action on its line.';
            item.iconPath = new vscode.ThemeIcon('debug-breakpoint-log', new vscode.ThemeColor('debugIcon.breakpointForeground'));
            item.contextValue = 'liveHolds';
            return item;
        }
        if (node.kind === 'liveHold') {
            const { name, liveHold } = node.patch;
            const item = new vscode.TreeItem(`${path.basename(liveHold.file)}:${liveHold.line}`, vscode.TreeItemCollapsibleState.None);
            item.id = `liveHold:${node.conn.key}:${name}`;
            item.description = `${name} · ${liveHold.label}`;
            item.tooltip = `Live hold in ${name}: every request reaching ${liveHold.file}:${liveHold.line} waits (label ${liveHold.label}).\n`
                + 'Remove Live Hold (the trash button) puts the loaded code back; allowed in safe mode.';
            item.iconPath = new vscode.ThemeIcon('debug-breakpoint-log', new vscode.ThemeColor('debugIcon.breakpointForeground'));
            item.contextValue = 'liveHold';
            item.command = { title: 'Open Location', command: 'otrace.openLocation', arguments: [liveHold.file, liveHold.line] };
            return item;
        }
        if (node.kind !== 'hold') {
            return leafItem(node);
        }
        const h = node.hold;
        const item = new vscode.TreeItem(holdLabel(h), vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `hold:${holdKey(node.conn, h)}`;
        item.description = holdDescription(h, this.now(), node.conn.target.fleet ? node.conn.target.pid : undefined);
        const md = new vscode.MarkdownString();
        md.appendMarkdown(`**${escapeMarkdown(holdTitle(h))}**${h.clientGone ? ' — *client gone* (resuming is harmless: the answer goes nowhere)' : ''}\n\n`);
        if (h.summary) {
            md.appendMarkdown(`request: \`${summaryText(h.summary)}\`\n\n`);
        }
        md.appendMarkdown(`\`${h.function}\` held at \`${h.file}:${h.line}\`\n\n`);
        md.appendMarkdown(`trace id \`${h.id}\`\n\n`);
        if (h.webClient) {
            md.appendMarkdown(`browser: \`${h.webClient}\`\n\n`);
        }
        item.tooltip = md;
        item.iconPath = h.clientGone ? new vscode.ThemeIcon('debug-disconnect', new vscode.ThemeColor('disabledForeground'))
            : new vscode.ThemeIcon('debug-pause', new vscode.ThemeColor('debugIcon.pauseForeground'));
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
