/**
 * Every command of the extension (package.json `contributes.commands`), registered in one place:
 * attaching (discovery quick pick, manual settings), detaching, the console, the Held Requests
 * actions (resume with/without value, fail, answer with status, open in console, show browser,
 * resume all), opening a location, and `otrace.serverCommand` (the server's code-lens and
 * code-action commands, routed to the process that produced them). Errors are shown as one line.
 */
import * as vscode from 'vscode';
import type { OTraceConnection, Target } from './connection';
import type { Connections, OwnedHold } from './connections';
import { openConsole } from './console';
import { describe, discoveryDir, listProcesses, processRoot, type ProcessInfo } from './discovery';
import type { HoldsNode } from './holdsView';
import type { BrowsersProvider, BrowserNode, BrowserEvalView } from './browsersView';
import type { TracesProvider } from './tracesView';
import { holdDirectory, parseStatus, parseValue, type Ui } from './ui';
import { SERVER_COMMAND, type ResumeParams } from './protocol';

export interface Parts {
    conns: Connections;
    ui: Ui;
    traces: TracesProvider;
    browsers: BrowsersProvider;
    browsersView: vscode.TreeView<BrowserNode>;
    evalView: BrowserEvalView;
}

/** The Target of a discovered process; its editor features cover `processRoot(p)`. */
export function processTarget(p: ProcessInfo): Target {
    return {
        key: `pid:${p.pid}`, label: describe(p).label, host: p.host, port: p.lspPort, token: p.token,
        pid: p.pid, cwd: p.cwd, discoveryFile: p.file, root: processRoot(p),
    };
}

/** The Target of the manual settings `otrace.host/port/token`, or undefined when not set. */
export function manualTarget(): Target | undefined {
    const cfg = vscode.workspace.getConfiguration('otrace');
    const host = cfg.get<string>('host', '') || '127.0.0.1';
    const port = cfg.get<number>('port', 0);
    if (!port) {
        return undefined;
    }
    return { key: `tcp:${host}:${port}`, label: `${host}:${port}`, host, port, token: cfg.get<string>('token', '') };
}

export function currentDiscoveryDir(): string {
    return discoveryDir(process.env, vscode.workspace.getConfiguration('otrace').get<string>('discoveryDirectory', ''));
}

/** Attach and report: a success message unless `quiet`, a one-line error on failure. */
export async function attachTo(parts: Parts, target: Target, quiet = false): Promise<OTraceConnection | undefined> {
    try {
        const conn = await parts.conns.attach(target);
        if (!quiet) {
            parts.ui.info(`attached to ${conn.label}`);
        }
        return conn;
    } catch (e) {
        parts.ui.error((e as Error).message);
        return undefined;
    }
}

/** The holds a command was invoked on: a tree node, a trace id, a list of ids, or the tree selection. */
function holdsOf(parts: Parts, arg: unknown, selection: readonly HoldsNode[]): OwnedHold[] {
    const ids: string[] = [];
    const add = (x: unknown) => {
        if (typeof x === 'string') {
            ids.push(x);
        } else if (Array.isArray(x)) {
            x.forEach(add);
        } else if (x && typeof x === 'object' && (x as HoldsNode).kind === 'hold') {
            ids.push((x as Extract<HoldsNode, { kind: 'hold' }>).hold.id);
        }
    };
    add(arg);
    if (!ids.length) {
        selection.forEach(add);
    }
    return ids.map((id) => parts.conns.ownerOf(id)).filter((h): h is OwnedHold => !!h);
}

async function resume(parts: Parts, holds: OwnedHold[], extra: Omit<ResumeParams, 'ids' | 'all'> = {}): Promise<void> {
    if (!holds.length) {
        parts.ui.error('that request is no longer held');
        return;
    }
    const byConn = new Map<OTraceConnection, string[]>();
    holds.forEach(({ conn, hold }) => byConn.set(conn, [...(byConn.get(conn) ?? []), hold.id]));
    for (const [conn, ids] of byConn) {
        try {
            await conn.resume({ ids, ...extra });
        } catch (e) {
            parts.ui.error((e as Error).message);
        }
        await conn.refreshHolds();
    }
}

const NOT_ATTACHED = 'not attached to a process: run "otrace: Attach to Process..." first';

async function pickConnection(parts: Parts): Promise<OTraceConnection | undefined> {
    const conns = parts.conns.connected;
    if (conns.length <= 1) {
        if (!conns.length) {
            parts.ui.error(NOT_ATTACHED);
        }
        return conns[0];
    }
    const picked = await parts.ui.pick(conns.map((c) => ({ label: c.label, description: `${c.target.host}:${c.target.port}`, conn: c })), 'otrace process');
    return picked?.conn;
}

/** Register every command; returns their disposables. */
export function registerCommands(parts: Parts, holdsView: vscode.TreeView<HoldsNode>): vscode.Disposable[] {
    const { conns, ui } = parts;
    const reg = (id: string, fn: (...args: any[]) => unknown) => vscode.commands.registerCommand(id, async (...args: any[]) => {
        try {
            return await fn(...args);
        } catch (e) {
            ui.error((e as Error).message);
            return undefined;
        }
    });
    return [
        reg('otrace.attach', async () => {
            const procs = listProcesses(currentDiscoveryDir());
            const manual = manualTarget();
            const items: (vscode.QuickPickItem & { target: Target })[] = procs.map((p) => ({ ...describe(p), target: processTarget(p) }));
            if (manual) {
                items.push({ label: `${manual.label} (settings)`, description: 'otrace.host / otrace.port / otrace.token', target: manual });
            }
            if (!items.length) {
                ui.error(`no running otrace process found in ${currentDiscoveryDir()}; set otrace.host/otrace.port/otrace.token to attach by hand`);
                return;
            }
            const picked = await ui.pick(items, 'Attach to a running otrace process');
            if (picked) {
                await attachTo(parts, picked.target);
            }
        }),
        reg('otrace.attachManual', async () => {
            const target = manualTarget();
            if (!target) {
                ui.error('set otrace.port (and otrace.host, otrace.token) first');
                return;
            }
            await attachTo(parts, target);
        }),
        reg('otrace.detach', async () => {
            const conn = await pickConnection(parts);
            if (conn) {
                await conns.detach(conn.key);
            }
        }),
        reg('otrace.openConsole', async () => {
            const conn = await pickConnection(parts);
            if (conn) {
                openConsole(conn);
            }
        }),
        reg('otrace.refresh', async () => {
            parts.traces.refresh();
            parts.browsers.refresh();
            await Promise.all(conns.connected.map((c) => c.refreshHolds()));
        }),
        reg('otrace.holds.resume', (arg?: unknown) => resume(parts, holdsOf(parts, arg, holdsView.selection))),
        reg('otrace.holds.resumeValue', async (arg?: unknown) => {
            const holds = holdsOf(parts, arg, holdsView.selection);
            const text = await ui.input('Value that `await traceassert(...)` returns (JSON, else text)', '5');
            if (text !== undefined) {
                await resume(parts, holds, { value: parseValue(text) });
            }
        }),
        reg('otrace.holds.fail', async (arg?: unknown) => {
            const holds = holdsOf(parts, arg, holdsView.selection);
            const text = await ui.input('Exception raised in the held code', 'ValueError: bad input',
                (v) => (v.trim() ? undefined : 'an exception, e.g. ValueError: bad input'));
            if (text !== undefined) {
                await resume(parts, holds, { raise: text.trim() });
            }
        }),
        reg('otrace.holds.answerStatus', async (arg?: unknown) => {
            const holds = holdsOf(parts, arg, holdsView.selection);
            const text = await ui.input('HTTP status (and reason) to answer the request with', '503 Service Unavailable', (v) => {
                try {
                    parseStatus(v);
                    return undefined;
                } catch (e) {
                    return (e as Error).message;
                }
            });
            if (text !== undefined) {
                await resume(parts, holds, parseStatus(text));
            }
        }),
        reg('otrace.holds.openConsole', (arg?: unknown) => {
            const [h] = holdsOf(parts, arg, holdsView.selection);
            if (!h) {
                ui.error('that request is no longer held');
                return;
            }
            openConsole(h.conn, `cd ${holdDirectory(h.hold.id)}`);
        }),
        reg('otrace.holds.openWebClient', async (arg?: unknown) => {
            const [h] = holdsOf(parts, arg, holdsView.selection);
            const node = h?.hold.webClient ? parts.browsers.find(h.conn, h.hold.webClient) : undefined;
            if (!node) {
                ui.error(h?.hold.webClient ? `browser ${h.hold.webClient} is not connected` : 'this request has no known browser');
                return;
            }
            await parts.browsersView.reveal(node, { select: true, focus: true });
            await vscode.commands.executeCommand('otrace.browserEval.focus');
            parts.evalView.updateTargets();
        }),
        reg('otrace.holds.resumeAll', async () => {
            const attached = conns.connected;
            if (!attached.length) {
                ui.error(NOT_ATTACHED);
                return;
            }
            let resumed = 0;
            for (const conn of attached) {
                try {
                    resumed += (await conn.resume({ all: true })).resumed.length;
                } catch (e) {
                    ui.error((e as Error).message);
                }
                await conn.refreshHolds();
            }
            if (!resumed) {
                ui.info('no request is held');
            }
        }),
        reg('otrace.openLocation', async (file: string, line: number) => {
            const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
            const pos = new vscode.Position(Math.max(0, line - 1), 0);
            await vscode.window.showTextDocument(doc, { selection: new vscode.Range(pos, pos), preserveFocus: true, preview: true });
        }),
        reg(SERVER_COMMAND, async (key: string, command: string, ...args: unknown[]) => {
            const conn = conns.get(key);
            if (!conn) {
                throw new Error('that process is no longer attached');
            }
            const result = await conn.executeServerCommand<any>(command, args);
            if (command === 'otrace.traceFunction') {
                ui.info(`tracing ${result?.name ?? args[1]}`);
            } else if (command === 'otrace.holdHere') {
                ui.info(`${result?.name} now holds before line ${result?.line} (label ${result?.label}); otrace/unpatch undoes it`);
            } else if (command === 'otrace.showTraces') {
                const ids: string[] = result?.traceIds ?? [];
                if (!ids.length) {
                    ui.info('no stored context was recorded at this line');
                } else {
                    await vscode.commands.executeCommand('otrace.traces.focus');
                    parts.traces.refresh();
                    ui.info(`${ids.length} stored context(s) at this line: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''}`);
                }
            } else {
                await conn.refreshHolds();
            }
            return result;
        }),
    ];
}
