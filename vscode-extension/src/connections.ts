/**
 * The set of attached otrace processes (several at once), keyed by `Target.key`, and the one place
 * the views ask for "all holds", "the process owning this hold" or "the process to use now".
 * It also keeps the attached fleets (issue 20): attaching a fleet attaches its workers, `syncFleets`
 * attaches the workers that appear later (a worker that exits is dropped as any process is), and
 * a fleet's diagnostics are shown once (`fleetDiagnostics`: the union of its workers', without
 * repeats, through its first worker).
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import { OTraceConnection, Target } from './connection';
import type { Hold } from './protocol';
import { ALONE, scopeFor, underRoot, type DocScope } from './processScope';
import type { FleetRef } from './discovery';
import { groupByFleet, sumHits, within, type FleetGroup, type Hits } from './fleet';

export interface OwnedHold { conn: OTraceConnection; hold: Hold }

/** How long a fleet's lens waits for the other workers' counts (`Connections.fleetHits`). */
export const FLEET_HITS_MS = 2000;

export class Connections implements vscode.Disposable {
    private readonly byKey = new Map<string, OTraceConnection>();
    private readonly subs = new Map<string, vscode.Disposable>();
    private readonly changed = new vscode.EventEmitter<{ conn: OTraceConnection; what: string }>();
    private readonly added = new vscode.EventEmitter<OTraceConnection>();
    /** The attached fleets, by id: their workers appearing later are attached too. */
    readonly fleets = new Map<string, FleetRef>();
    /** A fleet's diagnostics: `fleet id \n uri` -> worker key -> that worker's last publish. */
    private readonly fleetDiags = new Map<string, Map<string, vscode.Diagnostic[]>>();
    /** Any change of any connection (state, holds, web clients, traces), or a connection added/removed. */
    readonly onDidChange = this.changed.event;
    /** A connection was added (consoles subscribe to its output). */
    readonly onDidAdd = this.added.event;

    constructor(private readonly channel: vscode.LogOutputChannel) {}

    get all(): OTraceConnection[] { return [...this.byKey.values()]; }
    get connected(): OTraceConnection[] { return this.all.filter((c) => c.state === 'connected'); }
    get(key: string): OTraceConnection | undefined { return this.byKey.get(key); }

    /**
     * Attach to `target` (an already attached key returns the existing connection). Rejects with a
     * one-line Error when the first connection fails (wrong token, nothing listening, ...); the
     * failed connection is not kept.
     */
    async attach(target: Target): Promise<OTraceConnection> {
        const existing = this.byKey.get(target.key);
        if (existing && existing.state !== 'failed' && existing.state !== 'closed') {
            return existing;
        }
        if (existing) {
            await this.detach(target.key);
        }
        const conn: OTraceConnection = new OTraceConnection(target, this.channel, (uri) => this.scopeOf(conn, uri),
            (c, uri, diagnostics) => this.fleetDiagnostics(c, uri, diagnostics), (c, uri) => this.fleetHits(c, uri));
        this.byKey.set(target.key, conn);
        this.subs.set(target.key, conn.onDidChange((what) => {
            this.changed.fire({ conn, what });
            if (what === 'state' && conn.state === 'closed' && this.byKey.get(target.key) === conn) {
                void this.detach(target.key);   // the process exited: auto-attach may find its successor
            }
        }));
        this.added.fire(conn);
        try {
            await conn.start();
        } catch (e) {
            await this.detach(target.key);
            throw e;
        }
        return conn;
    }

    /**
     * How `conn`'s editor items of the document `uri` are shown (`processScope.ts`): asks the
     * connected processes whose folder holds the file whether they loaded it, when more than one does.
     */
    async scopeOf(conn: OTraceConnection, uri: vscode.Uri): Promise<DocScope> {
        const candidates = this.connected.filter((c) => underRoot(c.target.root, uri.fsPath))
            .sort((a, b) => (a.target.started ?? 0) - (b.target.started ?? 0) || (a.target.pid ?? 0) - (b.target.pid ?? 0));   // a fleet's order
        if (candidates.length < 2 || !candidates.includes(conn)) {
            return ALONE;
        }
        const loaded = await Promise.all(candidates.map((c) => c.loads(uri)));
        return scopeFor(conn.key, candidates.map((c) => c.target), loaded);
    }

    /** The connected workers of fleet `id`, ordered by start then pid (the fleet's order). */
    workersOf(id: string): OTraceConnection[] {
        return this.connected.filter((c) => c.target.fleet?.id === id)
            .sort((a, b) => (a.target.started ?? 0) - (b.target.started ?? 0) || (a.target.pid ?? 0) - (b.target.pid ?? 0));
    }

    /** The attached processes as the user sees them: each fleet once (its workers), each other process alone. */
    groups(): FleetGroup<OTraceConnection>[] {
        return groupByFleet(this.all);
    }

    /**
     * Attach every worker of a fleet (in parallel) and keep the fleet attached: `syncFleets` adds
     * its later workers. Resolves to the workers attached; rejects with the first error when none could be.
     */
    async attachFleet(fleet: FleetRef, workers: Target[]): Promise<OTraceConnection[]> {
        this.fleets.set(fleet.id, fleet);
        const results = await Promise.allSettled(workers.map((t) => this.attach(t)));
        const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (!ok.length && failed) {
            this.fleets.delete(fleet.id);
            throw failed.reason;
        }
        if (failed) {
            this.channel.warn(`attaching a worker of ${fleet.name}: ${(failed.reason as Error).message}`);
        }
        return ok;
    }

    /**
     * Attach the workers of the attached fleets that are not attached yet (`workers`: the live
     * processes' targets, as discovery sees them now); failures go to the log, not to the user.
     */
    async syncFleets(workers: Target[]): Promise<void> {
        const todo = workers.filter((t) => t.fleet && this.fleets.has(t.fleet.id) && !this.byKey.has(t.key));
        await Promise.all(todo.map((t) => this.attach(t).catch((e: Error) => this.channel.warn(`attaching a new worker of ${t.fleet!.name}: ${e.message}`))));
    }

    /** Detach every worker of fleet `id` and stop following it. */
    async detachFleet(id: string): Promise<void> {
        this.fleets.delete(id);
        await Promise.all(this.all.filter((c) => c.target.fleet?.id === id).map((c) => this.detach(c.key)));
    }

    /**
     * A fleet worker published `diagnostics` for `uri`: the fleet shows the union of its workers'
     * (one per line and message) through its first worker, none through the others.
     */
    fleetDiagnostics(conn: OTraceConnection, uri: vscode.Uri, diagnostics: vscode.Diagnostic[]): void {
        const id = conn.target.fleet?.id;
        if (id === undefined) {
            return;
        }
        const key = `${id}\n${uri.toString()}`;
        const perWorker = this.fleetDiags.get(key) ?? new Map<string, vscode.Diagnostic[]>();
        this.fleetDiags.set(key, perWorker);
        perWorker.set(conn.key, diagnostics);
        const workers = this.workersOf(id);
        const live = new Set(workers.map((w) => w.key));
        [...perWorker.keys()].filter((k) => !live.has(k)).forEach((k) => perWorker.delete(k));
        const union = new Map<string, vscode.Diagnostic>();
        for (const list of perWorker.values()) {
            for (const d of list) {
                union.set(`${d.range.start.line}\n${d.message}`, union.get(`${d.range.start.line}\n${d.message}`) ?? d);
            }
        }
        workers.forEach((w, i) => w.setDiagnostics(uri, i === 0 ? [...union.values()] : []));
    }

    /**
     * The traceassert counts of the document `uri` in the other workers of `conn`'s fleet (their
     * `textDocument/codeLens` answers), summed per line; a worker that does not answer within
     * `FLEET_HITS_MS` (busy, stopped) counts nothing, so the lens is never held up by one.
     */
    async fleetHits(conn: OTraceConnection, uri: vscode.Uri): Promise<Map<number, Hits>> {
        const id = conn.target.fleet?.id;
        const others = id === undefined ? [] : this.workersOf(id).filter((w) => w !== conn);
        const answers = await Promise.allSettled(others.map((w) => within(
            w.request<unknown>('textDocument/codeLens', { textDocument: { uri: uri.toString() } }), FLEET_HITS_MS)));
        return sumHits(answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : [])));
    }

    async detach(key: string): Promise<void> {
        const conn = this.byKey.get(key);
        if (!conn) {
            return;
        }
        this.byKey.delete(key);
        this.subs.get(key)?.dispose();
        this.subs.delete(key);
        conn.target.release?.();
        await conn.dispose();
        this.changed.fire({ conn, what: 'removed' });
    }

    /** Every hold of every attached process, oldest first. */
    holds(): OwnedHold[] {
        return this.all.flatMap((conn) => conn.holds.map((hold) => ({ conn, hold })))
            .sort((a, b) => a.hold.since - b.hold.since);
    }

    ownerOf(holdId: string): OwnedHold | undefined {
        return this.holds().find((h) => h.hold.id === holdId);
    }

    async dispose(): Promise<void> {
        await Promise.all(this.all.map((c) => this.detach(c.key)));
        this.changed.dispose();
        this.added.dispose();
    }
}
