/**
 * "otrace: Generate Test" (issue 19, point 4, in VS Code): a pytest test from a recorded context
 * (`otrace/testgen`) of a Trace Contexts row, or one picked from the process's recent contexts. The
 * test opens unsaved, named as the server suggests in the `tests/` folder beside the context's file
 * (else in that file's workspace folder); saving it is the user's choice. A message says what it
 * rebuilt and what it could not (its TODOs fail until filled in).
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { OTraceConnection } from './connection';
import type { Connections } from './connections';
import { inside } from './discovery';
import type { TraceSummary } from './protocol';
import type { TracesNode } from './tracesView';
import type { Ui } from './ui';

/** `otrace/testgen` result. */
interface GeneratedTest { text: string; suggestedName: string; literal: string[]; rebuilt: string[]; todo: string[] }

export const GENERATE_TEST = 'otrace.traces.generateTest';

/**
 * Where the test of a context recorded in `contextFile` goes: `tests/<name>` in the workspace
 * folder holding that file when that folder has a `tests` directory, else in the folder itself (the
 * first folder when none holds the file); `_2`, `_3`, ... before `.py` while the name is taken.
 */
export function testPath(folders: string[], contextFile: string, name: string, exists: (p: string) => boolean): string | undefined {
    const folder = folders.find((f) => contextFile && inside(contextFile, f)) ?? folders[0];
    if (!folder) {
        return undefined;
    }
    const dir = exists(path.join(folder, 'tests')) ? path.join(folder, 'tests') : folder;
    let candidate = path.join(dir, name);
    for (let n = 2; exists(candidate); n++) {
        candidate = path.join(dir, name.replace(/\.py$/, `_${n}.py`));
    }
    return candidate;
}

/** The one-line summary of a generated test. */
export function testSummary(fn: string, t: GeneratedTest): string {
    const parts = [t.literal.length && `${t.literal.join(', ')} written literally`, t.rebuilt.length && `${t.rebuilt.join(', ')} rebuilt`].filter(Boolean);
    const todo = t.todo.length ? `; ${t.todo.length} TODO${t.todo.length > 1 ? 's' : ''} fail until filled in: ${t.todo[0]}${t.todo.length > 1 ? ' ...' : ''}` : '';
    return `a test of ${fn} pinning the recorded outcome (unsaved)${parts.length ? `: ${parts.join(', ')}` : ''}${todo}`;
}

async function contextOf(conns: Connections, ui: Ui, arg: unknown): Promise<{ conn: OTraceConnection; trace: TraceSummary } | undefined> {
    const node = arg as TracesNode | undefined;
    if (node && typeof node === 'object' && node.kind === 'trace') {
        return { conn: node.conn, trace: node.trace };
    }
    const all = (await Promise.all(conns.connected.map(async (conn) => {
        const r = await conn.request<{ traces: TraceSummary[] }>('otrace/traces', { limit: 50 }).catch(() => ({ traces: [] as TraceSummary[] }));
        return r.traces.map((trace) => ({ conn, trace }));
    }))).flat().sort((a, b) => b.trace.timestamp - a.trace.timestamp);
    if (!all.length) {
        ui.info(conns.connected.length ? 'no recorded context: trace a function (or wait for an exception) first' : 'not attached to a process');
        return undefined;
    }
    const picked = await ui.pick(all.map((c) => ({
        label: c.trace.function || c.trace.label,
        description: typeof c.trace.exception === 'string' ? c.trace.exception : c.trace.ctype,
        detail: `${c.trace.traceId}${conns.connected.length > 1 ? ` · ${c.conn.label}` : ''}`,
        ctx: c,
    })), 'Generate a pytest test from a recorded context');
    return picked?.ctx;
}

/** Register "Generate Test"; returns its disposable. */
export function registerTestgen(conns: Connections, ui: Ui): vscode.Disposable {
    return vscode.commands.registerCommand(GENERATE_TEST, async (arg?: unknown) => {
        let conn: OTraceConnection | undefined;
        try {
            const ctx = await contextOf(conns, ui, arg);
            if (!ctx) {
                return;
            }
            conn = ctx.conn;
            const test = await ctx.conn.request<GeneratedTest>('otrace/testgen', { traceId: ctx.trace.traceId });
            const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
            const where = testPath(folders, ctx.trace.file, test.suggestedName, fs.existsSync);
            const doc = where ? await vscode.workspace.openTextDocument(vscode.Uri.file(where).with({ scheme: 'untitled' }))
                : await vscode.workspace.openTextDocument({ language: 'python' });
            const editor = await vscode.window.showTextDocument(doc, { preview: false });
            await editor.edit((b) => b.replace(new vscode.Range(0, 0, doc.lineCount, 0), test.text));
            ui.info(testSummary(ctx.trace.function || ctx.trace.label, test));
        } catch (e) {
            ui.error((e as Error).message, conn?.key);
        }
    });
}
