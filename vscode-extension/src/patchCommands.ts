/**
 * Live patches as diffs (issue 19, point 2), and "otrace: Open /osh as Folder":
 * - "otrace: Compare with Source": VS Code's diff editor, the repository file (as the editor has
 *   it) on the left, the same file with the function's live code in place of its own on the right
 *   (`otrace/patchDiff`; an `otrace-live:` document, kept up to date while the patches change);
 * - "otrace: Promote Patch to Source": the live code written into the source file as a
 *   WorkspaceEdit (`otrace/promotePatch`): undoable, unsaved until the user saves, after which the
 *   file and the running code agree;
 * - "otrace: Discard Patch": `otrace/unpatch` (allowed in safe mode: it only puts the loaded code back).
 * Each takes a Live Patches row, a Held Requests live-hold row, an `otrace:` function file (editor
 * title: its URI), `[connectionKey, name]`, or nothing (the active `otrace:` editor, else a quick pick);
 * for a function that is not patched each says so and asks the process nothing.
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import type { OTraceConnection } from './connection';
import type { Connections } from './connections';
import type { HoldsNode } from './holdsView';
import { openOshFolders, type OshFileSystem } from './oshFileSystem';
import { authorityOf, baseName, LIVE_SCHEME, OSH_SCHEME, withLiveCode } from './oshPaths';
import type { PatchesNode } from './patchesView';
import type { Ui } from './ui';

/** `otrace/patchDiff` result (lines 1-based, inclusive: the function in `file`). */
interface PatchDiff { name: string; file: string; startLine: number; endLine: number; original: string; live: string; diff: string }
/** `otrace/promotePatch` result: replace lines `startLine`..`endLine` of `file` with `newText`. */
interface Promotion { file: string; startLine: number; endLine: number; newText: string }

export interface PatchTarget { conn: OTraceConnection; name: string }

export const COMPARE = 'otrace.comparePatch';
export const PROMOTE = 'otrace.promotePatch';
export const DISCARD = 'otrace.discardPatch';
export const OPEN_OSH = 'otrace.openOshFolder';

function isUri(x: unknown): x is vscode.Uri {
    return !!x && typeof (x as vscode.Uri).scheme === 'string' && typeof (x as vscode.Uri).path === 'string';
}

/**
 * The patch a command was invoked on (see the module docstring); `pick` asks the user when nothing
 * names one. Undefined (and said) when there is none.
 */
export async function patchTarget(conns: Connections, fs: OshFileSystem, ui: Ui, args: unknown[],
    activeUri: vscode.Uri | undefined, pickTitle: string): Promise<PatchTarget | undefined> {
    const [a, b] = args;
    if (typeof a === 'string' && typeof b === 'string') {
        const conn = conns.get(a);
        return conn ? { conn, name: b } : undefined;
    }
    const node = a as HoldsNode | PatchesNode | undefined;
    if (node && typeof node === 'object' && 'kind' in node) {
        if (node.kind === 'liveHold' || node.kind === 'patch') {
            return { conn: node.conn, name: node.patch.name };
        }
    }
    const uri = isUri(a) ? a : activeUri;
    if (uri?.scheme === OSH_SCHEME) {
        const conn = await fs.connectionOf(uri);
        if (!fs.nameOf(uri)) {
            await fs.readFile(uri);     // learns the function's name, if it is one
        }
        const name = fs.nameOf(uri);
        if (!name) {
            ui.error(`${uri.path} is not a function's file: only functions and methods are patched`);
            return undefined;
        }
        return { conn, name };
    }
    const all = conns.connected.flatMap((conn) => conn.patches.map((patch) => ({ conn, patch })));
    if (!all.length) {
        ui.info(conns.connected.length ? 'no live patch: save a function\'s file under an otrace: folder ("otrace: Open /osh as Folder") to make one'
            : 'not attached to a process: run "otrace: Attach to Process..." first');
        return undefined;
    }
    const picked = await ui.pick(all.map(({ conn, patch }) => ({
        label: patch.name,
        description: patch.liveHold ? `live hold, line ${patch.liveHold.line}` : 'edited',
        detail: conns.connected.length > 1 ? conn.label : undefined,
        target: { conn, name: patch.name },
    })), pickTitle);
    return picked?.target;
}

/**
 * The right side of "Compare with Source": the source file with one function's live code in it,
 * `otrace-live://<authority>/<file>?<name>`; read-only, refreshed when the process's patches change.
 */
export class LiveCode implements vscode.TextDocumentContentProvider, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<vscode.Uri>();
    readonly onDidChange = this.changed.event;
    private readonly texts = new Map<string, string>();
    private readonly subs: vscode.Disposable[];

    constructor(private readonly conns: Connections) {
        this.subs = [
            conns.onDidChange(({ conn, what }) => {
                if (what === 'patches') {
                    const authority = authorityOf(conn.key);
                    vscode.workspace.textDocuments.filter((d) => d.uri.scheme === LIVE_SCHEME && d.uri.authority === authority)
                        .forEach((d) => void this.update(conn, d.uri.query, d.uri).catch(() => undefined));
                }
            }),
            vscode.workspace.onDidCloseTextDocument((d) => this.texts.delete(d.uri.toString())),
        ];
    }

    /** The URI of `name`'s live code in its file (`diff.file`), with its text made now. */
    async show(conn: OTraceConnection, diff: PatchDiff): Promise<vscode.Uri> {
        const uri = vscode.Uri.from({ scheme: LIVE_SCHEME, authority: authorityOf(conn.key), path: diff.file, query: diff.name });
        this.texts.set(uri.toString(), await this.text(diff));
        this.changed.fire(uri);
        return uri;
    }

    private async text(diff: PatchDiff): Promise<string> {
        const file = new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.file(diff.file)));
        return withLiveCode(file, diff.startLine, diff.endLine, diff.live);
    }

    private async update(conn: OTraceConnection, name: string, uri: vscode.Uri): Promise<void> {
        let text: string;
        try {
            text = await this.text(await conn.request<PatchDiff>('otrace/patchDiff', { name }));
        } catch {
            // no longer patched: the process runs the code it loaded, which is the file's
            text = new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.file(uri.path)));
        }
        this.texts.set(uri.toString(), text);
        this.changed.fire(uri);
    }

    provideTextDocumentContent(uri: vscode.Uri): string {
        return this.texts.get(uri.toString()) ?? '';
    }

    dispose(): void {
        this.subs.forEach((d) => d.dispose());
        this.changed.dispose();
    }
}

/** "Compare with Source": the diff editor, the source file vs the same file running the live code. */
async function compare(live: LiveCode, { conn, name }: PatchTarget): Promise<void> {
    const diff = await conn.request<PatchDiff>('otrace/patchDiff', { name });
    const right = await live.show(conn, diff);
    const title = `${baseName(diff.file)} ↔ live ${name} (${conn.label})`;
    await vscode.commands.executeCommand('vscode.diff', vscode.Uri.file(diff.file), right, title, { preview: true });
}

/** "Promote Patch to Source": the live code into the file as one undoable edit, left unsaved. */
async function promote(ui: Ui, { conn, name }: PatchTarget): Promise<void> {
    const p = await conn.request<Promotion>('otrace/promotePatch', { name });
    const uri = vscode.Uri.file(p.file);
    const doc = await vscode.workspace.openTextDocument(uri);
    const start = new vscode.Position(Math.max(0, p.startLine - 1), 0);
    const atEnd = p.endLine >= doc.lineCount;
    const end = atEnd ? doc.lineAt(doc.lineCount - 1).range.end : new vscode.Position(p.endLine, 0);
    const eol = doc.eol === vscode.EndOfLine.CRLF ? '\r\n' : '\n';
    const body = p.newText.replace(/\r?\n$/, '').replace(/\r?\n/g, eol);
    const edit = new vscode.WorkspaceEdit();
    edit.replace(uri, new vscode.Range(start, end), atEnd ? body : body + eol);
    if (!await vscode.workspace.applyEdit(edit)) {
        throw new Error(`could not edit ${p.file}`);
    }
    const last = start.line + body.split(eol).length - 1;
    await vscode.window.showTextDocument(doc, { selection: new vscode.Range(start, new vscode.Position(last, 0)), preview: false });
    ui.info(`${name}: its live code is now in ${baseName(p.file)} (unsaved): save the file to keep it, Undo to take it back`);
}

/** "Discard Patch": the loaded code runs again. */
async function discard(ui: Ui, { conn, name }: PatchTarget): Promise<void> {
    await conn.unpatch(name);
    ui.info(`discarded the patch of ${name}: ${conn.label} runs its loaded code again`);
}

/** Register the commands and the live-code documents (`storage`: where a new workspace file goes); returns their disposables. */
export function registerPatchCommands(conns: Connections, fs: OshFileSystem, ui: Ui, storage: vscode.Uri): vscode.Disposable[] {
    const live = new LiveCode(conns);
    const reg = (id: string, pickTitle: string, fn: (t: PatchTarget) => Promise<void>) =>
        vscode.commands.registerCommand(id, async (...args: unknown[]) => {
            let target: PatchTarget | undefined;
            try {
                target = await patchTarget(conns, fs, ui, args, vscode.window.activeTextEditor?.document.uri, pickTitle);
                if (target && !target.conn.patches.some((p) => p.name === target!.name)) {
                    ui.info(`${target.name} is not patched: ${target.conn.label} runs its loaded code (save its file under /osh to patch it)`);
                } else if (target) {
                    await fn(target);
                }
            } catch (e) {
                ui.error((e as Error).message, target?.conn.key);
            }
        });
    return [
        live,
        vscode.workspace.registerTextDocumentContentProvider(LIVE_SCHEME, live),
        reg(COMPARE, 'Compare a live patch with its source', (t) => compare(live, t)),
        reg(PROMOTE, 'Promote a live patch to its source file', (t) => promote(ui, t)),
        reg(DISCARD, 'Discard a live patch (the loaded code runs again)', (t) => discard(ui, t)),
        vscode.commands.registerCommand(OPEN_OSH, () => openOshFolders(conns, ui, storage).catch((e: Error) => {
            ui.error(e.message);
            return 0;
        })),
    ];
}
