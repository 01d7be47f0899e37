/**
 * One connection to an otrace process's language server: `vscode-languageclient` over TCP with the
 * discovery token (docs/PROTOCOL.md). It keeps the process's held requests and /osh/web browsers
 * up to date from the server's notifications, reconnects after a drop (views keep their state, as
 * they key nodes by trace id), follows its live patches (live holds) and its `safe_mode`
 * (`otrace/patchesChanged`, `otrace/settingChanged`), and routes the server's `otrace.*` commands of code lenses and code
 * actions back to *this* process (several processes may be attached at once, so the client's own
 * global registration of those commands is switched off; see `OTraceLanguageClient`). Its code actions,
 * lenses, hovers and diagnostics of a document follow the document's `DocScope` (`processScope.ts`:
 * none when another process answers for it, labelled "[pid N]" when several do; the workers of one
 * fleet answer once, each still showing its own holds' Resume lenses and held values' hovers, and
 * hand their diagnostics to `fleetDiagnostics`, which shows the fleet's once; the traceassert lens
 * of the worker that answers shows every worker's counts summed, `fleetHits`).
 *
 * Thread-safety: VS Code extensions run on one thread; all methods are called from it.
 */
import * as net from 'net';
import * as vscode from 'vscode';
import {
    CloseAction, ErrorAction, LanguageClient, LanguageClientOptions, RevealOutputChannelOn, State, StreamInfo,
} from 'vscode-languageclient/node';
import { coalesced } from './coalesce';
import { hitsOf, hitTitle, type Hits } from './fleet';
import { processEnded, type FleetRef } from './discovery';
import { ALONE, firstDefLine, heldHover, holdItem, labelled, LOADED_TTL_MS, processIndependent, saysNotLoaded, type DocScope } from './processScope';
import { HeldList, loadHolds } from './heldList';
import { DEFAULT_STATUS_RANGE, SERVER_COMMAND, type Hold, type HoldsPage, type Patch, type ResumedHold, type ResumeParams, type ServerInfo, type WebClient } from './protocol';

/** Where to connect: from a discovery file (`pid`, `discoveryFile`) or the manual settings. */
export interface Target {
    key: string;
    label: string;
    host: string;
    port: number;
    token: string;
    pid?: number;
    cwd?: string;
    discoveryFile?: string;
    /** The folder whose Python files this process's editor features apply to (all files when unset). */
    root?: string;
    /** When the process started (discovery `started`, seconds): orders a fleet's workers. */
    started?: number;
    /** The fleet the process is a worker of (`discovery.ts`). */
    fleet?: FleetRef;
    /** A process of another host reached through an `otrace attach --ssh` tunnel: `[user@]host` (`remote.ts`). */
    remote?: string;
    /** Called once when the connection is detached for good (e.g. ends the tunnel of a remote process). */
    release?: () => void;
}

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'failed' | 'closed';

/** What a connection's `onDidChange` says changed. */
export type ConnectionChange = 'state' | 'holds' | 'webClients' | 'traces' | 'patches' | 'safeMode';


/**
 * A LanguageClient that does not register the server's commands globally (we route them per
 * process) and never pops up its own notifications (the extension reports one clear line itself).
 */
class OTraceLanguageClient extends LanguageClient {
    override registerFeature(feature: any): void {
        if (feature?.registrationType?.method === 'workspace/executeCommand') {
            return;
        }
        super.registerFeature(feature);
    }

    override error(message: string, data?: any): void {
        super.error(message, data, false);
    }
}

function routed(key: string, cmd: vscode.Command | undefined): vscode.Command | undefined {
    if (!cmd || !cmd.command.startsWith('otrace.')) {
        return cmd;
    }
    return { title: cmd.title, tooltip: cmd.tooltip, command: SERVER_COMMAND, arguments: [key, cmd.command, ...(cmd.arguments ?? [])] };
}

function tagged(cmd: vscode.Command | undefined, tag: string): vscode.Command | undefined {
    return cmd && tag ? { ...cmd, title: labelled(cmd.title, tag) } : cmd;
}

const RETRY_MS = [500, 1000, 2000, 3000, 5000];
/** How long hold notifications gather before the views hear of them (one refresh per burst). */
const HOLDS_CHANGED_MS = 50;

export class OTraceConnection implements vscode.Disposable {
    state: ConnectionState = 'connecting';
    /** The last error (one line), shown in the status bar tooltip and messages. */
    error = '';
    /** The held requests, kept from pages and notifications (`heldList.ts`). */
    readonly held = new HeldList();
    webClients: WebClient[] = [];
    /** False when the process has no /osh/web (-32003). */
    webAvailable = true;
    /** The live patches of the process (`otrace/patches`); those with `liveHold` are live holds. */
    patches: Patch[] = [];
    /** The process's `safe_mode` (initialize result, then `otrace/settingChanged`). */
    safeMode = true;
    /** The initialize result's `otrace` object (undefined before the first connect). */
    info: ServerInfo | undefined;
    /** True once the connection was closed because the process exited. */
    exited = false;

    private client: LanguageClient | undefined;
    private retries = 0;
    private retryTimer: NodeJS.Timeout | undefined;
    private disposed = false;
    private readonly changed = new vscode.EventEmitter<ConnectionChange>();
    /** Fires when state, holds, web clients, traces (a trace event arrived), patches or safe mode change. */
    readonly onDidChange = this.changed.event;

    private holdsTimer: NodeJS.Timeout | undefined;
    private readonly loadedCache = new Map<string, { at: number; value: Promise<boolean> }>();
    private readonly diagnosticsSeq = new Map<string, number>();

    /**
     * `scope(uri)`: how this process's items of a document are shown (alone: all, unlabelled);
     * `fleetDiagnostics`: where a fleet worker's diagnostics go (`Connections` shows the fleet's once).
     */
    constructor(readonly target: Target, private readonly channel: vscode.LogOutputChannel,
        private readonly scope: (uri: vscode.Uri) => Promise<DocScope> = async () => ALONE,
        private readonly fleetDiagnostics: (conn: OTraceConnection, uri: vscode.Uri, diagnostics: vscode.Diagnostic[]) => void = () => undefined,
        private readonly fleetHits: (conn: OTraceConnection, uri: vscode.Uri) => Promise<Map<number, Hits>> = async () => new Map()) {}

    get key(): string { return this.target.key; }
    get label(): string { return this.target.label; }

    /**
     * `lenses` of this fleet worker with each traceassert line's counts (its own in the lens's
     * `data`) summed with the other workers' (`fleetHits`).
     */
    private async withFleetHits(uri: vscode.Uri, lenses: vscode.CodeLens[], tag: string): Promise<vscode.CodeLens[]> {
        const counted = lenses.filter((l) => l.command && hitsOf((l as { data?: unknown }).data));
        if (!counted.length) {
            return lenses;
        }
        const others = await this.fleetHits(this, uri);
        for (const l of counted) {
            const own = hitsOf((l as { data?: unknown }).data)!;
            const theirs = others.get(l.range.start.line) ?? { violations: 0, holds: 0 };
            l.command!.title = labelled(hitTitle({ violations: own.violations + theirs.violations, holds: own.holds + theirs.holds }), tag);
        }
        return lenses;
    }

    /** The HTTP statuses a hold may be answered with (the server's `statusRange`). */
    get statusRange(): [number, number] { return this.info?.statusRange ?? DEFAULT_STATUS_RANGE; }

    /** The live holds of the process (patches made by "Hold here live"). */
    get liveHolds(): (Patch & { liveHold: NonNullable<Patch['liveHold']> })[] {
        return this.patches.filter((p): p is Patch & { liveHold: NonNullable<Patch['liveHold']> } => !!p.liveHold);
    }

    /** Connect and initialize. Rejects with a one-line Error (e.g. a wrong token) on the first attempt. */
    async start(): Promise<void> {
        this.setState('connecting');
        try {
            await this.connect();
        } catch (e) {
            this.setState('failed');
            throw e;
        }
    }

    private makeClient(): LanguageClient {
        const { host, port, token, key } = this.target;
        const serverOptions = (): Promise<StreamInfo> => new Promise((resolve, reject) => {
            const sock = net.connect(port, host);
            sock.once('connect', () => resolve({ reader: sock, writer: sock }));
            sock.once('error', (e) => reject(new Error(`cannot connect to ${host}:${port}: ${e.message}`)));
        });
        const options: LanguageClientOptions = {
            // several processes may be attached: each serves the files under its own root only
            documentSelector: [{ scheme: 'file', language: 'python', ...(this.target.root ? { pattern: `${this.target.root}/**/*` } : {}) }],
            initializationOptions: { token },
            outputChannel: this.channel,
            revealOutputChannelOn: RevealOutputChannelOn.Never,
            initializationFailedHandler: (e) => {
                this.error = e instanceof Error ? e.message : String(e);
                return false;
            },
            errorHandler: {
                error: () => ({ action: ErrorAction.Continue, handled: true }),
                closed: () => {
                    this.dropped();
                    return { action: CloseAction.DoNotRestart, handled: true };
                },
            },
            middleware: {
                provideCodeLenses: async (doc, tok, next) => {
                    const scope = await this.scope(doc.uri);
                    if (!scope.serves && !scope.worker) {
                        return [];
                    }
                    const lenses = (await next(doc, tok))?.flatMap((l) => {
                        if (holdItem(l.command)) {              // a hold of this process: every worker shows its own
                            l.command = tagged(routed(key, l.command), scope.worker ?? scope.tag);
                            return [l];
                        }
                        if (!scope.serves) {
                            return [];
                        }
                        l.command = tagged(routed(key, l.command), scope.tag);
                        if (scope.fleet && l.command?.arguments?.[1] === 'otrace.resumeAll') {
                            l.command.title = labelled('Resume all in the fleet', scope.tag);   // every worker's holds
                        }
                        return [l];
                    }) ?? [];
                    return scope.fleet && scope.serves ? this.withFleetHits(doc.uri, lenses, scope.tag) : lenses;
                },
                resolveCodeLens: async (lens, tok, next) => {
                    const l = await next(lens, tok);
                    if (l) {
                        l.command = routed(key, l.command);
                    }
                    return l;
                },
                provideCodeActions: async (doc, range, ctx, tok, next) => {
                    const scope = await this.scope(doc.uri);
                    return scope.serves ? (await next(doc, range, ctx, tok))?.flatMap((a): (vscode.Command | vscode.CodeAction)[] => {
                        if (!(a instanceof vscode.CodeAction)) {
                            return [tagged(routed(key, a as vscode.Command), scope.tag)!];
                        }
                        if (processIndependent(a)) {     // the same edit from every process: shown once
                            return scope.primary ? [a] : [];
                        }
                        a.title = labelled(a.title, scope.tag);
                        a.command = routed(key, a.command);
                        return [a];
                    }) : [];
                },
                provideHover: async (doc, pos, tok, next) => {
                    const scope = await this.scope(doc.uri);
                    if (!scope.serves && !scope.worker) {
                        return undefined;
                    }
                    const hover = await next(doc, pos, tok);
                    const held = !!hover && hover.contents.some((c) => heldHover(typeof c === 'string' ? c : c.value));
                    const tag = held && scope.worker ? scope.worker : scope.tag;
                    if (!hover || (!scope.serves && !held)) {
                        return undefined;
                    }
                    return tag ? new vscode.Hover([new vscode.MarkdownString(tag), ...hover.contents], hover.range) : hover;
                },
                handleDiagnostics: (uri, diagnostics, next) => {
                    const seq = (this.diagnosticsSeq.get(uri.toString()) ?? 0) + 1;
                    this.diagnosticsSeq.set(uri.toString(), seq);
                    void this.scope(uri).then((scope) => {
                        if (this.diagnosticsSeq.get(uri.toString()) !== seq) {   // a later publish won
                            return;
                        }
                        if (scope.fleet) {
                            this.fleetDiagnostics(this, uri, diagnostics);
                        } else {
                            next(uri, scope.tag ? diagnostics.map((d) => Object.assign(d, { message: labelled(d.message, scope.tag) })) : diagnostics);
                        }
                    });
                },
            },
        };
        const client = new OTraceLanguageClient(`otrace-${key}`, `otrace ${this.target.label}`, serverOptions, options);
        // the list is kept from these (loaded in pages at connect): never asked for again
        client.onNotification('otrace/holdStarted', (p: Hold) => {
            this.held.started(p);
            this.holdsChanged();
        });
        client.onNotification('otrace/holdResumed', (p: ResumedHold) => {
            this.forget([p.id]);
        });
        client.onNotification('otrace/holdsResumed', (p: { holds: ResumedHold[] }) => {   // several at once
            this.forget(p.holds.map((h) => h.id));
        });
        client.onNotification('otrace/holdClientGone', (p: { id: string }) => {
            if (this.held.clientGone(p.id)) {
                this.holdsChanged();
            }
        });
        client.onNotification('otrace/patchesChanged', (p: { patches: Patch[] }) => {
            this.patches = p.patches ?? [];
            this.changed.fire('patches');
        });
        client.onNotification('otrace/settingChanged', (p: { name: string; value: unknown }) => {
            if (p.name === 'safe_mode') {
                this.safeMode = p.value !== false;
                this.changed.fire('safeMode');
            }
        });
        client.onNotification('otrace/webClientsChanged', (p: { clients: WebClient[] }) => {
            this.webClients = p.clients ?? [];
            this.changed.fire('webClients');
        });
        client.onNotification('otrace/output', (p: { text: string }) => this.channel.info(p.text));
        client.onNotification('otrace/traceEvent', () => this.changed.fire('traces'));
        return client;
    }

    private async connect(): Promise<void> {
        const client = this.makeClient();
        this.client = client;
        this.error = '';
        try {
            await client.start();
        } catch (e) {
            const message = this.error || (e instanceof Error ? e.message : String(e));
            this.error = message.split('\n')[0];
            if (this.client === client) {
                this.client = undefined;
            }
            void client.dispose().catch(() => undefined);
            const where = `${this.target.host}:${this.target.port}`;
            throw new Error(`cannot attach to ${this.target.label === where ? where : `${this.target.label} at ${where}`}: ${this.error}`);
        }
        if (this.disposed) {
            return;
        }
        this.retries = 0;
        this.info = (client.initializeResult as { otrace?: ServerInfo } | undefined)?.otrace;
        this.safeMode = this.info?.safeMode !== false;
        this.setState('connected');
        await Promise.all([this.refreshHolds(), this.refreshWebClients(), this.refreshPatches()]);
        this.changed.fire('traces');
    }

    private dropped(): void {
        if (this.disposed || this.state === 'failed' || this.state === 'connecting') {
            return;
        }
        this.setState('reconnecting');
        this.scheduleRetry();
    }

    private scheduleRetry(): void {
        if (this.disposed || this.retryTimer) {
            return;
        }
        const delay = RETRY_MS[Math.min(this.retries++, RETRY_MS.length - 1)];
        this.retryTimer = setTimeout(async () => {
            this.retryTimer = undefined;
            const old = this.client;
            this.client = undefined;
            void old?.dispose().catch(() => undefined);
            if (processEnded(this.target)) {
                this.error = 'the process exited';
                this.exited = true;
                this.setState('closed');
                return;
            }
            try {
                await this.connect();
            } catch {
                this.scheduleRetry();
            }
        }, delay);
    }

    private setState(state: ConnectionState): void {
        this.state = state;
        this.changed.fire('state');
    }

    /** Send a custom request; rejects with a one-line Error (with the server error's `data`) when not connected or refused by the server. */
    async request<T>(method: string, params: object = {}): Promise<T> {
        const client = this.client;
        if (!client || this.state !== 'connected' || client.state !== State.Running) {
            throw new Error(`${this.target.label} is not connected${this.error ? ` (${this.error})` : ''}`);
        }
        try {
            return await client.sendRequest<T>(method, params);
        } catch (e) {
            // the error's `data` stays (e.g. the diagnostics of a refused save, otrace/fs/writeFile)
            throw Object.assign(new Error(e instanceof Error ? e.message : String(e)), { data: (e as { data?: unknown })?.data });
        }
    }

    /**
     * Whether the process has loaded the module of the file `uri` (`processScope.ts`: its "Trace this
     * function" at the first `def` is not disabled "not loaded"); answers are reused for
     * `LOADED_TTL_MS`; a file without `def`, or an error, counts as loaded.
     */
    loads(uri: vscode.Uri): Promise<boolean> {
        const key = uri.toString();
        const hit = this.loadedCache.get(key);
        if (hit && Date.now() - hit.at < LOADED_TTL_MS) {
            return hit.value;
        }
        const value = this.probeLoaded(uri);
        this.loadedCache.set(key, { at: Date.now(), value });
        return value;
    }

    private async probeLoaded(uri: vscode.Uri): Promise<boolean> {
        const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
        const line = doc ? firstDefLine(doc.getText().split(/\r?\n/)) : -1;
        if (line < 0) {
            return true;
        }
        const at = { line, character: 0 };
        try {
            return !saysNotLoaded(await this.request('textDocument/codeAction',
                { textDocument: { uri: uri.toString() }, range: { start: at, end: at }, context: { diagnostics: [] } }));
        } catch {
            return true;
        }
    }

    /** `workspace/executeCommand` on this process (the server's `otrace.*` commands). */
    executeServerCommand<T>(command: string, args: unknown[]): Promise<T> {
        return this.request<T>('workspace/executeCommand', { command, arguments: args });
    }

    /** Show `diagnostics` for `uri` in this connection's collection (a fleet's, merged by `Connections`). */
    setDiagnostics(uri: vscode.Uri, diagnostics: vscode.Diagnostic[]): void {
        this.client?.diagnostics?.set(uri, diagnostics);
    }

    /** The held requests, oldest first. */
    get holds(): Hold[] {
        return this.held.holds;
    }

    /**
     * Load the held requests in `otrace/holds` pages (at connect, at reconnect, on "Refresh"; fires
     * 'holds'); notifications keep the list afterwards. An error stops the load, what was loaded
     * stays. Calls while a load runs share one more load after it (`coalesced`).
     */
    readonly refreshHolds = coalesced(async (): Promise<void> => {
        try {
            await loadHolds((params) => this.request<HoldsPage>('otrace/holds', params), this.held);
        } catch {
            // the connection went away: the next connect loads again
        }
        this.holdsChanged(true);
    });

    /** Holds resumed (told by the server, or the answer of our resume): out of the list. */
    forget(ids: string[]): void {
        if (this.held.resumed(ids)) {
            this.holdsChanged();
        }
    }

    /**
     * Fire 'holds' once for the changes of the next `HOLDS_CHANGED_MS` (10,000 holds starting are
     * one refresh of the views, not 10,000), or at once (`now`).
     */
    private holdsChanged(now = false): void {
        if (now) {
            clearTimeout(this.holdsTimer);
            this.holdsTimer = undefined;
            this.changed.fire('holds');
        } else if (!this.holdsTimer) {
            this.holdsTimer = setTimeout(() => this.holdsChanged(true), HOLDS_CHANGED_MS);
        }
    }

    async refreshWebClients(): Promise<void> {
        try {
            this.webClients = (await this.request<{ clients: WebClient[] }>('otrace/webClients')).clients;
            this.webAvailable = true;
        } catch {
            this.webClients = [];
            this.webAvailable = false;
        }
        this.changed.fire('webClients');
    }

    /** Re-read the live patches (fires 'patches'); errors (a server before 1.2) leave none. */
    async refreshPatches(): Promise<void> {
        try {
            this.patches = (await this.request<{ patches: Patch[] }>('otrace/patches')).patches;
        } catch {
            this.patches = [];
        }
        this.changed.fire('patches');
    }

    /** Turn the process's `safe_mode` on or off (`set safe_mode ...`, audited); rejects with the server's one line. */
    async setSafeMode(on: boolean): Promise<void> {
        const r = await this.request<{ output: string; error: boolean }>('otrace/command', { line: `set safe_mode ${on ? 'True' : 'False'}` });
        if (r.error) {
            throw new Error(r.output.trim());
        }
        this.safeMode = on;
        this.changed.fire('safeMode');
    }

    /** Remove the patch `name` (a live hold): `otrace/unpatch`, allowed in safe mode; `fleetOrder`: for every worker of its fleet. */
    async unpatch(name: string, fleetOrder?: string): Promise<void> {
        await this.request('otrace/unpatch', fleetOrder ? { name, fleetOrder } : { name });
        await this.refreshPatches();
    }

    resume(params: ResumeParams): Promise<{ resumed: string[] }> {
        return this.request('otrace/resume', params);
    }

    /** Close the connection for good (no reconnect). */
    async dispose(): Promise<void> {
        this.disposed = true;
        if (this.retryTimer) {
            clearTimeout(this.retryTimer);
        }
        clearTimeout(this.holdsTimer);
        const client = this.client;
        this.client = undefined;
        this.state = 'closed';
        this.changed.fire('state');
        this.changed.dispose();
        if (client) {
            await client.dispose(2000).catch(() => undefined);
        }
    }
}
