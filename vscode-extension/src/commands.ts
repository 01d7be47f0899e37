/**
 * Every command of the extension (package.json `contributes.commands`), registered in one place:
 * attaching (discovery quick pick, manual settings), detaching, the console, the Held Requests
 * actions (resume with/without value, fail, answer with status, open in console, show browser,
 * resume all), live holds (Remove Live Hold: from its row, its line's hover, or a quick pick),
 * safe mode (Allow Code Execution after a modal confirmation, Turn Safe Mode On), opening a
 * location, and `otrace.serverCommand` (the server's code-lens and code-action commands, routed to
 * the process that produced them; those of a fleet worker that apply fleet-wide go to every worker
 * as one fleet order, `fleet.ts`). A fleet is attached, detached and given a console as one
 * entry (the console can also address one worker). Errors are shown as one line; a safe-mode
 * refusal gets a button that allows code execution.
 */
import * as vscode from 'vscode';
import type { OTraceConnection, Target } from './connection';
import type { Connections, OwnedHold } from './connections';
import { openConsole } from './console';
import { describe, describeGroup, discoveryDir, fleetLabel, groupProcesses, listProcesses, processRoot, type FleetRef, type ProcessGroup, type ProcessInfo } from './discovery';
import { firstAnswer, fleetOrderOf, newFleetOrder } from './fleet';
import { REMOVE_LIVE_HOLD } from './editorFeatures';
import type { HoldsNode } from './holdsView';
import type { BrowsersProvider, BrowserNode, BrowserEvalView } from './browsersView';
import type { TracesProvider } from './tracesView';
import { holdDirectory, parseException, parseStatus, parseValue, SAFE_MODE_OFF, type Ui } from './ui';
import { DEFAULT_STATUS_RANGE, SERVER_COMMAND, type ResumeParams } from './protocol';

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
        pid: p.pid, cwd: p.cwd, discoveryFile: p.file, root: processRoot(p), started: p.started,
        ...(p.fleet ? { fleet: p.fleet } : {}),
    };
}

/** Attach a pick's group (a process, or every worker of a fleet) and report as `attachTo` does. */
export async function attachGroup(parts: Parts, g: ProcessGroup, quiet = false): Promise<void> {
    if (g.kind === 'process') {
        await attachTo(parts, processTarget(g.proc), quiet);
        return;
    }
    try {
        const conns = await parts.conns.attachFleet(g.fleet, g.workers.map(processTarget));
        if (!quiet) {
            parts.ui.info(`attached to ${fleetLabel(g.fleet, conns.length)}`);
        }
    } catch (e) {
        parts.ui.error((e as Error).message);
    }
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

/**
 * The holds a command was invoked on: a tree node (its own process), `{conn: key, id}`, a trace
 * id, a list of those, or the tree selection. A trace id is looked up in every attached process (trace ids are per process).
 */
function holdsOf(parts: Parts, arg: unknown, selection: readonly HoldsNode[]): OwnedHold[] {
    const found: OwnedHold[] = [];
    const add = (x: unknown) => {
        if (typeof x === 'string') {
            const owned = parts.conns.ownerOf(x);
            if (owned) {
                found.push(owned);
            }
        } else if (Array.isArray(x)) {
            x.forEach(add);
        } else if (x && typeof (x as { conn?: unknown }).conn === 'string' && typeof (x as { id?: unknown }).id === 'string') {
            const { conn, id } = x as { conn: string; id: string };    // {conn: key, id} (the held-line hover)
            const hold = parts.conns.get(conn)?.held.get(id);
            if (hold) {
                found.push({ conn: parts.conns.get(conn)!, hold });
            }
        } else if (x && typeof x === 'object' && (x as HoldsNode).kind === 'hold') {
            const node = x as Extract<HoldsNode, { kind: 'hold' }>;
            if (node.conn.held.get(node.hold.id)) {      // still held
                found.push({ conn: node.conn, hold: node.hold });
            }
        }
    };
    add(arg);
    if (!found.length) {
        selection.forEach(add);
    }
    return found;
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
            conn.forget((await conn.resume({ ids, ...extra })).resumed);   // the notification may come later
        } catch (e) {
            parts.ui.error((e as Error).message, conn.key);
        }
    }
}

/** An input box's validator from a parser that throws a one-line Error. */
function validator(parse: (v: string) => unknown): (v: string) => string | undefined {
    return (v) => {
        try {
            parse(v);
            return undefined;
        } catch (e) {
            return (e as Error).message;
        }
    };
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

/**
 * The process or fleet a command addresses: the only attached one, else a quick pick of each
 * fleet (as one entry) and each other process; `workers`: each worker of a fleet is offered too
 * (the console may address one worker).
 */
async function pickAddress(parts: Parts, workers: boolean): Promise<{ conn?: OTraceConnection; fleet?: FleetRef } | undefined> {
    const items: (vscode.QuickPickItem & { conn?: OTraceConnection; fleet?: FleetRef })[] = [];
    for (const g of parts.conns.groups()) {
        const live = g.conns.filter((c) => c.state === 'connected');
        if (!live.length) {
            continue;
        }
        if (!g.fleet) {
            items.push({ label: live[0].label, description: `${live[0].target.host}:${live[0].target.port}`, conn: live[0] });
            continue;
        }
        items.push({ label: fleetLabel(g.fleet, live.length), description: 'every worker', fleet: g.fleet });
        if (workers) {
            items.push(...parts.conns.workersOf(g.fleet.id).map((c) => ({ label: `worker ${c.target.pid}`, description: `of ${g.fleet!.name}`, conn: c })));
        }
    }
    if (items.length <= 1) {
        if (!items.length) {
            parts.ui.error(NOT_ATTACHED);
        }
        return items[0];
    }
    return parts.ui.pick(items, workers ? 'otrace process, fleet (every worker) or one worker' : 'otrace process or fleet');
}

/** What turning safe mode off allows, said in its confirmation. */
export const SAFE_MODE_OFF_DETAIL = 'Safe mode off lets every client of this process (this editor, other editors, consoles) '
    + 'run code in the application: exec and run in the console, calls and assignments in expressions (hovers, Watch, '
    + 'Debug Console, resume values), edit (patching functions), Unix commands, debugpy, conditional breakpoints and '
    + 'logpoints, and JavaScript in the connected browsers (/osh/web). The change is audited; '
    + '"otrace: Turn Safe Mode On" turns it back on.';

/** The live hold a command was invoked on: `[connectionKey, name]` (hover, code action) or a Held Requests node. */
function liveHoldOf(parts: Parts, args: unknown[]): { conn: OTraceConnection; name: string } | undefined {
    const [a, b] = args;
    if (typeof a === 'string' && typeof b === 'string') {
        const conn = parts.conns.get(a);
        return conn ? { conn, name: b } : undefined;
    }
    const node = a as HoldsNode | undefined;
    return node?.kind === 'liveHold' ? { conn: node.conn, name: node.patch.name } : undefined;
}

/** Remove the live hold `name` of `conn` (`otrace/unpatch`, allowed in safe mode) and say so. */
async function removeLiveHold(parts: Parts, conn: OTraceConnection, name: string): Promise<void> {
    const where = conn.liveHolds.find((p) => p.name === name)?.liveHold;
    const fleet = conn.target.fleet;
    if (fleet) {         // a fleet order: every worker, and the workers that start later
        const order = newFleetOrder();
        firstAnswer(await Promise.allSettled(parts.conns.workersOf(fleet.id).map((c) => c.unpatch(name, order))));
    } else {
        await conn.unpatch(name);
    }
    parts.ui.info(`removed the live hold of ${name}${where ? ` (line ${where.line})` : ''}${fleet ? ` in every worker of ${fleet.name}` : ''}: requests reaching it no longer wait`);
}

/**
 * Send a fleet order to every connected worker of `fleet` at once (the same id: logged once,
 * applied once per worker); the first worker's answer, or its error when no worker took it.
 */
async function sendFleetOrder(parts: Parts, fleet: FleetRef, order: NonNullable<ReturnType<typeof fleetOrderOf>>): Promise<any> {
    const workers = parts.conns.workersOf(fleet.id);
    const results = await Promise.allSettled(workers.map((c) => (order.kind === 'execute'
        ? c.executeServerCommand(order.command, order.args) : c.request(order.method, order.params))));
    return firstAnswer(results);      // a worker that missed it applies it from the fleet's order log
}

/**
 * `otrace/resume {all: true}` to every connection of `targets` at once (a fleet's workers in
 * parallel); errors are shown one each. Resolves to the number of requests resumed.
 */
async function resumeAll(parts: Parts, targets: OTraceConnection[]): Promise<number> {
    const counts = await Promise.all(targets.map(async (conn) => {
        try {
            const ids = (await conn.resume({ all: true })).resumed;
            conn.forget(ids);
            return ids.length;
        } catch (e) {
            parts.ui.error((e as Error).message, conn.key);
            return 0;
        }
    }));
    return counts.reduce((a, b) => a + b, 0);
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
            const groups = groupProcesses(listProcesses(currentDiscoveryDir()));
            const manual = manualTarget();
            const items: (vscode.QuickPickItem & { group?: ProcessGroup; target?: Target })[] = groups.map((g) => ({ ...describeGroup(g), group: g }));
            if (manual) {
                items.push({ label: `${manual.label} (settings)`, description: 'otrace.host / otrace.port / otrace.token', target: manual });
            }
            if (!items.length) {
                ui.error(`no running otrace process found in ${currentDiscoveryDir()}; set otrace.host/otrace.port/otrace.token to attach by hand`);
                return;
            }
            const picked = await ui.pick(items, 'Attach to a running otrace process (a fleet: every worker)');
            if (picked?.group) {
                await attachGroup(parts, picked.group);
            } else if (picked?.target) {
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
            const picked = await pickAddress(parts, false);
            if (picked?.fleet) {
                await conns.detachFleet(picked.fleet.id);
            } else if (picked?.conn) {
                await conns.detach(picked.conn.key);
            }
        }),
        reg('otrace.openConsole', async () => {
            const picked = await pickAddress(parts, true);
            if (picked?.fleet) {
                openConsole(conns.workersOf(picked.fleet.id), undefined, picked.fleet);
            } else if (picked?.conn) {
                openConsole([picked.conn]);
            }
        }),
        reg('otrace.refresh', async () => {
            parts.traces.refresh();
            parts.browsers.refresh();
            await Promise.all(conns.connected.map((c) => c.refreshHolds()));
        }),
        reg('otrace.traces.clear', () => parts.traces.clear()),
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
            const text = await ui.input('Exception raised in the held code: a builtin or the application\'s own class (Name or module.Name), then ": message"',
                'ValueError: bad input', validator(parseException));
            if (text !== undefined) {
                await resume(parts, holds, { raise: parseException(text) });   // as typed: the server resolves the name
            }
        }),
        reg('otrace.holds.answerStatus', async (arg?: unknown) => {
            const holds = holdsOf(parts, arg, holdsView.selection);
            const range = holds[0]?.conn.statusRange ?? DEFAULT_STATUS_RANGE;   // the server's statusRange
            const text = await ui.input(`HTTP status (${range[0]}-${range[1]}) and reason to answer the request with`,
                '503 Service Unavailable', validator((v) => parseStatus(v, range)));
            if (text !== undefined) {
                await resume(parts, holds, parseStatus(text, range));
            }
        }),
        reg('otrace.holds.openConsole', (arg?: unknown) => {
            const [h] = holdsOf(parts, arg, holdsView.selection);
            if (!h) {
                ui.error('that request is no longer held');
                return;
            }
            openConsole([h.conn], `cd ${holdDirectory(h.hold.id)}`);
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
            if (!(await resumeAll(parts, attached))) {
                ui.info('no request is held');
            }
        }),
        ...[REMOVE_LIVE_HOLD, 'otrace.removeLiveHold'].map((id) => reg(id, async (...args: unknown[]) => {
            let target = liveHoldOf(parts, args);
            if (!target) {
                const all = conns.connected.flatMap((conn) => conn.liveHolds.map((patch) => ({ conn, patch })));
                if (!all.length) {
                    ui.info(conns.connected.length ? 'no live hold is set ("Hold here live" sets one)' : NOT_ATTACHED);
                    return;
                }
                const picked = await ui.pick(all.map(({ conn, patch }) => ({
                    label: `${patch.name} (line ${patch.liveHold.line})`,
                    description: `${patch.liveHold.label} · ${patch.liveHold.file}`,
                    detail: conns.connected.length > 1 ? conn.label : undefined,
                    conn, name: patch.name,
                })), 'Remove a live hold (the loaded code is put back)');
                target = picked && { conn: picked.conn, name: picked.name };
            }
            if (target) {
                await removeLiveHold(parts, target.conn, target.name);
            }
        })),
        reg(SAFE_MODE_OFF, async (key?: unknown) => {
            const conn = (typeof key === 'string' && conns.get(key)) || await pickConnection(parts);
            if (!conn) {
                return;
            }
            if (!conn.safeMode) {
                ui.info(`code execution is allowed already in ${conn.label} (safe mode is off)`);
                return;
            }
            const ok = await ui.confirm?.(`Allow code execution in ${conn.label}? (turn safe mode off)`, SAFE_MODE_OFF_DETAIL, 'Allow Code Execution');
            if (ok) {
                await conn.setSafeMode(false);
                ui.info(`code execution allowed in ${conn.label} (safe mode off); "otrace: Turn Safe Mode On" turns it back on`);
            }
        }),
        reg('otrace.safeModeOn', async (key?: unknown) => {
            const conn = (typeof key === 'string' && conns.get(key)) || await pickConnection(parts);
            if (conn) {
                await conn.setSafeMode(true);
                ui.info(`safe mode on in ${conn.label}: no code execution (expressions run no application code)`);
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
            const fleet = conn.target.fleet;
            let result: any;
            try {
                if (fleet && command === 'otrace.resumeAll') {    // "Resume all in the fleet": every worker's holds
                    await resumeAll(parts, conns.workersOf(fleet.id));
                    return undefined;
                }
                const order = fleet ? fleetOrderOf(command, args, newFleetOrder()) : undefined;
                result = order ? await sendFleetOrder(parts, fleet!, order) : await conn.executeServerCommand<any>(command, args);
            } catch (e) {
                ui.error((e as Error).message, key);
                return undefined;
            }
            const everywhere = fleet ? ` in every worker of ${fleet.name}` : '';
            if (command === 'otrace.traceFunction') {
                ui.info(`tracing ${result?.name ?? args[1]}${everywhere}`);
            } else if (command === 'otrace.holdHere') {
                await Promise.all((fleet ? conns.workersOf(fleet.id) : [conn]).map((c) => c.refreshPatches()));
                ui.info(`every request reaching line ${result?.line} of ${result?.name}${everywhere} now waits (live hold ${result?.label}); `
                    + 'remove it with "otrace: Remove Live Hold...", its trash button under Held Requests > Live holds, or the lightbulb on that line');
            } else if (command === 'otrace.unpatch') {
                await Promise.all((fleet ? conns.workersOf(fleet.id) : [conn]).map((c) => c.refreshPatches()));
                ui.info(`removed the live hold of ${args[0]}${everywhere}: requests reaching it no longer wait`);
            } else if (command === 'otrace.untrace') {
                ui.info(`${args[0]} is no longer traced${everywhere}`);
            } else if (command === 'otrace.showTraces') {
                const ids: string[] = result?.traceIds ?? [];
                if (!ids.length) {
                    ui.info('no stored context was recorded at this line');
                } else {
                    await vscode.commands.executeCommand('otrace.traces.focus');
                    parts.traces.refresh();
                    ui.info(`${ids.length} stored context(s) at this line: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''}`);
                }
            } else if (Array.isArray(result?.resumed)) {     // otrace.resume, otrace.resumeAll
                conn.forget(result.resumed);
            }
            return result;
        }),
    ];
}
