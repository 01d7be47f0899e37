/**
 * The set of attached otrace processes (several at once), keyed by `Target.key`, and the one place
 * the views ask for "all holds", "the process owning this hold" or "the process to use now".
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import { OTraceConnection, Target } from './connection';
import type { Hold } from './protocol';
import { ALONE, scopeFor, underRoot, type DocScope } from './processScope';

export interface OwnedHold { conn: OTraceConnection; hold: Hold }

export class Connections implements vscode.Disposable {
    private readonly byKey = new Map<string, OTraceConnection>();
    private readonly subs = new Map<string, vscode.Disposable>();
    private readonly changed = new vscode.EventEmitter<{ conn: OTraceConnection; what: string }>();
    private readonly added = new vscode.EventEmitter<OTraceConnection>();
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
        const conn: OTraceConnection = new OTraceConnection(target, this.channel, (uri) => this.scopeOf(conn, uri));
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
        const candidates = this.connected.filter((c) => underRoot(c.target.root, uri.fsPath));
        if (candidates.length < 2 || !candidates.includes(conn)) {
            return ALONE;
        }
        const loaded = await Promise.all(candidates.map((c) => c.loads(uri)));
        return scopeFor(conn.key, candidates.map((c) => c.target), loaded);
    }

    async detach(key: string): Promise<void> {
        const conn = this.byKey.get(key);
        if (!conn) {
            return;
        }
        this.byKey.delete(key);
        this.subs.get(key)?.dispose();
        this.subs.delete(key);
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
