/**
 * The `otrace:` file system (issue 19, point 1): /osh of an attached process as a workspace folder
 * (`otrace://<authority>/`, `oshPaths.ts`). Directories are /osh directories; a function or method
 * is a `<name>.py` file whose text is its live source, and saving it patches the running process
 * (`otrace/fs/writeFile`: safe-mode rules and audit as the shell's `edit`; a syntax error becomes a
 * diagnostic in that file and nothing is patched); other objects are read-only text views. The
 * Explorer marks patched functions (`OshDecorations`), and every change of the process's patches
 * (`otrace/patchesChanged`, from any client) re-reads the open files and listed folders.
 *
 * "otrace: Open /osh as Folder" (`openOshFolders`) adds one workspace folder per attached process.
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import type { OTraceConnection } from './connection';
import type { Connections } from './connections';
import {
    authorityOf, fileTypeOf, OSH_SCHEME, oshPathOf, saveDiagnostics, type SaveDiagnostic,
} from './oshPaths';
import { isSafeModeRefusal, type Ui } from './ui';

/** `otrace/fs/stat` result. */
interface OshStat { type: string; size: number; mtime: number; readonly: boolean; patched?: boolean }
/** `otrace/fs/readFile` result: `name` is the patchable function of a `.py` file. */
interface OshFile { text: string; readonly: boolean; language: string; name?: string; patched: boolean }

/**
 * The /osh folder's own settings (`.vscode/settings.json`, served here, not listed): saving a
 * function's file patches the running process, so it is never saved by itself (a browser
 * workbench auto-saves after a delay by default).
 */
export const FOLDER_SETTINGS = '/.vscode/settings.json';
export const FOLDER_SETTINGS_TEXT = '// /osh of a running process (otrace): saving a function\'s file patches the running code,\n'
    + '// so these files are saved only when you save them.\n{\n\t"files.autoSave": "off"\n}\n';

/** How long a request on a folder of a process not (yet) attached waits for it (a window reload re-attaches). */
const ATTACH_WAIT_MS = 15000;
/** At most this many listed folders are listed again when the patches change. */
const RELISTED = 30;

/** The root URI of `conn`'s /osh. */
export function rootUri(conn: OTraceConnection): vscode.Uri {
    return vscode.Uri.from({ scheme: OSH_SCHEME, authority: authorityOf(conn.key), path: '/' });
}

/** A /osh path's time (the server's seconds) in VS Code's milliseconds. */
function millis(t: number): number {
    return typeof t === 'number' && Number.isFinite(t) ? Math.round(t < 1e11 ? t * 1000 : t) : 0;
}

export class OshFileSystem implements vscode.FileSystemProvider, vscode.FileDecorationProvider, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
    readonly onDidChangeFile = this.changed.event;
    private readonly decorationsChanged = new vscode.EventEmitter<vscode.Uri[]>();
    readonly onDidChangeFileDecorations = this.decorationsChanged.event;
    /** What the server last said of a URI: patched or not, and its function's patch name. */
    private readonly known = new Map<string, { uri: vscode.Uri; patched: boolean; name?: string }>();
    /** Folders the Explorer listed, most recent last. */
    private readonly listed = new Map<string, vscode.Uri>();
    private readonly subs: vscode.Disposable[];

    /** The attaches `attach` started, by authority (one at a time each). */
    private readonly attaching = new Map<string, Promise<boolean>>();

    /**
     * `attach(authority)`: attach the process of an `otrace:` folder nobody attached (a reloaded
     * window attaches by itself only to the one process running from the workspace); false when
     * no such process runs.
     */
    constructor(private readonly conns: Connections, private readonly diagnostics: vscode.DiagnosticCollection,
        private readonly ui: Ui, private readonly attach: (authority: string) => Promise<boolean> = async () => true) {
        this.subs = [
            conns.onDidChange(({ conn, what }) => {
                if (what === 'patches') {
                    void this.patchesChanged(conn);
                } else if (what === 'state' && conn.state === 'connected') {
                    // a folder shown before its process was attached (a reloaded window): read it now
                    this.changed.fire([{ type: vscode.FileChangeType.Changed, uri: rootUri(conn) }]);
                }
            }),
            vscode.workspace.onDidCloseTextDocument((doc) => this.diagnostics.delete(doc.uri)),
            // a refused save's diagnostics are of the text as saved: an edit makes them stale
            vscode.workspace.onDidChangeTextDocument((e) => {
                if (e.document.uri.scheme === OSH_SCHEME && e.contentChanges.length) {
                    this.diagnostics.delete(e.document.uri);
                }
            }),
        ];
    }

    /** The patch name of the function file `uri` (from its last read), if it is one. */
    nameOf(uri: vscode.Uri): string | undefined {
        return this.known.get(uri.toString())?.name;
    }

    /**
     * The connection serving `uri`; a process nobody attached is attached (`attach`), and one not
     * connected yet is waited for a while (a reloaded window).
     */
    async connectionOf(uri: vscode.Uri): Promise<OTraceConnection> {
        const find = () => this.conns.all.find((c) => authorityOf(c.key) === uri.authority);
        const ready = (c: OTraceConnection | undefined) => c?.state === 'connected';
        let conn = find();
        if (!conn) {
            let started = this.attaching.get(uri.authority);
            if (!started) {
                started = this.attach(uri.authority).catch(() => false).finally(() => this.attaching.delete(uri.authority));
                this.attaching.set(uri.authority, started);
            }
            if (!await started && !find()) {
                throw vscode.FileSystemError.Unavailable(`${uri.toString()}: its process is not running (or not attached)`);
            }
            conn = find();
        }
        if (!ready(conn)) {
            conn = await new Promise<OTraceConnection | undefined>((resolve) => {
                const timer = setTimeout(() => { sub.dispose(); resolve(find()); }, ATTACH_WAIT_MS);
                const sub = this.conns.onDidChange(() => {
                    if (ready(find())) {
                        clearTimeout(timer);
                        sub.dispose();
                        resolve(find());
                    }
                });
            });
        }
        if (!conn || !ready(conn)) {
            throw vscode.FileSystemError.Unavailable(`${uri.toString()}: ${conn ? `${conn.label} is ${conn.state}` : 'that process is not attached'}`);
        }
        return conn;
    }

    private async ask<T>(uri: vscode.Uri, method: string, params: object): Promise<T> {
        const conn = await this.connectionOf(uri);
        try {
            return await conn.request<T>(method, params);
        } catch (e) {
            const message = (e as Error).message;
            if (/no such|not found|does not exist|unknown path/i.test(message)) {
                throw vscode.FileSystemError.FileNotFound(uri);
            }
            throw e;
        }
    }

    private note(uri: vscode.Uri, patched: boolean | undefined, name?: string): void {
        const key = uri.toString();
        const old = this.known.get(key);
        const now = { uri, patched: !!patched, name: name ?? old?.name };
        this.known.set(key, now);
        if (!!old?.patched !== now.patched) {
            this.decorationsChanged.fire([uri]);
        }
    }

    watch(): vscode.Disposable {
        return new vscode.Disposable(() => undefined);    // changes come from otrace/patchesChanged
    }

    async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
        if (uri.path === FOLDER_SETTINGS || uri.path === '/.vscode') {
            const dir = uri.path === '/.vscode';
            return { type: dir ? vscode.FileType.Directory : vscode.FileType.File, ctime: 0, mtime: 0,
                size: dir ? 0 : FOLDER_SETTINGS_TEXT.length, permissions: vscode.FilePermission.Readonly };
        }
        const s = await this.ask<OshStat>(uri, 'otrace/fs/stat', { path: oshPathOf(uri.path) });
        this.note(uri, s.patched);
        return {
            type: fileTypeOf(s.type), ctime: 0, mtime: millis(s.mtime), size: s.size ?? 0,
            permissions: s.readonly ? vscode.FilePermission.Readonly : undefined,
        };
    }

    async readDirectory(uri: vscode.Uri): Promise<[string, vscode.FileType][]> {
        if (uri.path === '/.vscode') {
            return [['settings.json', vscode.FileType.File]];
        }
        const r = await this.ask<{ entries: { name: string; type: string; readonly: boolean; patched?: boolean }[] }>(
            uri, 'otrace/fs/readDirectory', { path: oshPathOf(uri.path) });
        this.listed.delete(uri.toString());
        this.listed.set(uri.toString(), uri);
        for (const e of r.entries) {
            this.note(vscode.Uri.joinPath(uri, e.name), e.patched);
        }
        return r.entries.map((e) => [e.name, fileTypeOf(e.type)]);
    }

    async readFile(uri: vscode.Uri): Promise<Uint8Array> {
        if (uri.path === FOLDER_SETTINGS) {
            return new TextEncoder().encode(FOLDER_SETTINGS_TEXT);
        }
        const r = await this.ask<OshFile>(uri, 'otrace/fs/readFile', { path: oshPathOf(uri.path) });
        this.note(uri, r.patched, r.name);
        return new TextEncoder().encode(r.text);
    }

    /** Saving a function's file patches the running function (nothing else is writable). */
    async writeFile(uri: vscode.Uri, content: Uint8Array): Promise<void> {
        const conn = await this.connectionOf(uri);
        let patched: string[];
        try {
            patched = (await conn.request<{ patched: string[] }>('otrace/fs/writeFile',
                { path: oshPathOf(uri.path), text: new TextDecoder().decode(content) })).patched;
        } catch (e) {
            const message = (e as Error).message;
            const found = saveDiagnostics((e as { data?: unknown }).data);
            if (found.length) {
                this.diagnostics.set(uri, found.map((d) => this.diagnostic(uri, d)));
                throw vscode.FileSystemError.NoPermissions(`not patched: ${message}`);
            }
            this.diagnostics.delete(uri);
            if (isSafeModeRefusal(message)) {
                this.ui.error(message, conn.key);      // with its "Allow Code Execution..." button
            }
            throw vscode.FileSystemError.NoPermissions(message);
        }
        this.diagnostics.delete(uri);
        this.note(uri, true);
        this.changed.fire([{ type: vscode.FileChangeType.Changed, uri }]);
        this.ui.info(`patched ${patched.join(', ')} in ${conn.label}: the running code is your saved text `
            + '("otrace: Compare with Source" shows the change, "otrace: Discard Patch" undoes it)');
    }

    private diagnostic(uri: vscode.Uri, d: SaveDiagnostic): vscode.Diagnostic {
        const doc = vscode.workspace.textDocuments.find((t) => t.uri.toString() === uri.toString());
        const end = doc && d.line < doc.lineCount ? Math.max(d.column + 1, doc.lineAt(d.line).text.length) : d.column + 1;
        const diag = new vscode.Diagnostic(new vscode.Range(d.line, d.column, d.line, end), d.message, vscode.DiagnosticSeverity.Error);
        diag.source = 'otrace';
        return diag;
    }

    createDirectory(uri: vscode.Uri): never {
        throw vscode.FileSystemError.NoPermissions(`${uri.path}: /osh folders are made by the running program`);
    }

    delete(uri: vscode.Uri): never {
        throw vscode.FileSystemError.NoPermissions(`${uri.path}: nothing is deleted from /osh here (a patch is undone by "otrace: Discard Patch")`);
    }

    rename(uri: vscode.Uri): never {
        throw vscode.FileSystemError.NoPermissions(`${uri.path}: /osh entries cannot be renamed`);
    }

    provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
        if (uri.scheme !== OSH_SCHEME || !this.known.get(uri.toString())?.patched) {
            return undefined;
        }
        const d = new vscode.FileDecoration('P', 'live patch: the running code is not the repository\'s', new vscode.ThemeColor('gitDecoration.modifiedResourceForeground'));
        d.propagate = true;
        return d;
    }

    /** A patch was made or undone in `conn` (by anyone): list its folders again, re-read its open files. */
    private async patchesChanged(conn: OTraceConnection): Promise<void> {
        const authority = authorityOf(conn.key);
        const folders = [...this.listed.values()].filter((u) => u.authority === authority).slice(-RELISTED);
        const files = vscode.workspace.textDocuments.map((d) => d.uri).filter((u) => u.scheme === OSH_SCHEME && u.authority === authority);
        this.changed.fire([...folders, ...files].map((uri) => ({ type: vscode.FileChangeType.Changed, uri })));
        await Promise.all([
            ...folders.map((u) => this.readDirectory(u).catch(() => undefined)),
            ...files.map((u) => this.stat(u).catch(() => undefined)),
        ]);
    }

    dispose(): void {
        this.subs.forEach((s) => s.dispose());
        this.changed.dispose();
        this.decorationsChanged.dispose();
    }
}

/** The name ending of the workspace files "otrace: Open /osh as Folder" writes. */
const WORKSPACE_SUFFIX = '-osh.code-workspace';
const RELOADED_AT = 'otrace.oshWorkspaceReloadedAt';

/**
 * At activation: a window opened on a workspace file of "Open /osh as Folder" that came up with no
 * folder at all is reloaded once (a browser workbench can start while the window it replaces is
 * still closing, and then read the workspace as empty; the file itself lists the folders).
 */
export async function reopenEmptyOshWorkspace(state: vscode.Memento): Promise<void> {
    const file = vscode.workspace.workspaceFile;
    if (!file || !file.path.endsWith(WORKSPACE_SUFFIX) || vscode.workspace.workspaceFolders?.length) {
        return;
    }
    const last = state.get<number>(RELOADED_AT, 0);
    let listed = 0;
    try {
        listed = (JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(file))).folders ?? []).length;
    } catch {
        return;
    }
    if (listed && Date.now() - last > 60000) {
        await state.update(RELOADED_AT, Date.now());
        await vscode.commands.executeCommand('workbench.action.reloadWindow');
    }
}

/** The workspace file "otrace: Open /osh as Folder" writes for a window that is not a workspace yet. */
export function workspaceJson(folders: { uri: vscode.Uri; name?: string }[]): string {
    return JSON.stringify({
        folders: folders.map((f) => ({ ...(f.uri.scheme === 'file' ? { path: f.uri.fsPath } : { uri: f.uri.toString() }), ...(f.name ? { name: f.name } : {}) })),
    }, null, '\t') + '\n';
}

/**
 * "otrace: Open /osh as Folder": a workspace folder for every attached process that has none yet,
 * named so processes are told apart ("/osh · torna_trace.py (pid 1234)"). Resolves to the number added.
 * A multi-root workspace gets the folders at once. A window with one folder (or none) becomes a
 * workspace: its folders and the new ones are written to a workspace file in `storage` first, then
 * that workspace opens in this window (VS Code reloads it; the extension attaches again by itself).
 * (VS Code's own switch to an untitled workspace is not used: in a browser window it may read its
 * workspace file while that is still being written, and open with no folder at all.)
 */
export async function openOshFolders(conns: Connections, ui: Ui, storage: vscode.Uri): Promise<number> {
    const connected = conns.connected;
    if (!connected.length) {
        ui.error('not attached to a process: run "otrace: Attach to Process..." first');
        return 0;
    }
    const folders = vscode.workspace.workspaceFolders ?? [];
    const have = new Set(folders.map((f) => f.uri.toString()));
    const add = connected.filter((c) => !have.has(rootUri(c).toString()))
        .map((c) => ({ uri: rootUri(c), name: `/osh · ${c.label}` }));
    if (!add.length) {
        ui.info('/osh of every attached process is in the workspace already (Explorer)');
        return 0;
    }
    if (vscode.workspace.workspaceFile) {
        if (!vscode.workspace.updateWorkspaceFolders(folders.length, 0, ...add)) {
            ui.error('VS Code refused to add the /osh folder to the workspace');
            return 0;
        }
        await vscode.commands.executeCommand('workbench.view.explorer');
        return add.length;
    }
    const base = folders.length ? folders[0].name.replace(/[^\w.-]+/g, '_') : 'otrace';
    const file = vscode.Uri.joinPath(storage, `${base}${WORKSPACE_SUFFIX}`);
    await vscode.workspace.fs.createDirectory(storage);
    await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(workspaceJson([...folders, ...add])));
    await vscode.commands.executeCommand('vscode.openFolder', file, { forceReuseWindow: true });
    return add.length;
}
