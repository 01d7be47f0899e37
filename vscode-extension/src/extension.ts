/**
 * The otrace VS Code extension: attaches to running otrace processes (discovery files or manual
 * settings) through their embedded language server, and shows held requests, trace contexts,
 * /osh/web browsers, a console, editor decorations, the `otrace` debug type (DAP), fleets of worker
 * processes as one (`fleet.ts`), processes of other hosts over SSH (`remoteCommand.ts`), /osh as `otrace:`
 * workspace folders, live patches as diffs and tests from contexts (`oshFileSystem.ts`, `patchCommands.ts`,
 * `testgen.ts`). Every disposable goes to
 * `context.subscriptions`. When `OTRACE_VSCODE_MARKER` is set, activation and each connection
 * change are written to that file (tests use it to know the extension is live).
 */
import * as fs from 'fs';
import * as vscode from 'vscode';
import { BrowserEvalView, BrowsersProvider, type BrowserNode } from './browsersView';
import { attachTo, currentDiscoveryDir, manualTarget, processTarget, registerCommands, type Parts } from './commands';
import { Connections } from './connections';
import { registerDebugging } from './debug';
import { StatusBar } from './status';
import { autoAttachGroup, listProcesses, runsFrom } from './discovery';
import { HeldLineDecorations } from './editorFeatures';
import { HoldsProvider, type HoldsNode } from './holdsView';
import { OshFileSystem, reopenEmptyOshWorkspace } from './oshFileSystem';
import { authorityOf, OSH_SCHEME } from './oshPaths';
import { registerPatchCommands } from './patchCommands';
import { registerRemote } from './remoteCommand';
import { PatchesProvider } from './patchesView';
import { registerTestgen } from './testgen';
import { TracesProvider } from './tracesView';
import { windowUi } from './ui';

let connections: Connections | undefined;

function writeMarker(conns: Connections): void {
    const file = process.env.OTRACE_VSCODE_MARKER;
    if (!file) {
        return;
    }
    const state = conns.all.map((c) => ({
        key: c.key, state: c.state, fleet: c.target.fleet?.id, remote: c.target.remote, holds: c.holds.length, webClients: c.webClients.length, safeMode: c.safeMode,
        liveHolds: c.liveHolds.map((p) => p.name),
    }));
    try {
        // written aside and renamed over: a test reading it never sees a half-written file
        fs.writeFileSync(`${file}.tmp`, JSON.stringify({ activated: true, connections: state }));
        fs.renameSync(`${file}.tmp`, file);
    } catch {
        // a test helper only: never fail activation for it
    }
}

/** The workspace's folders on disk (an `otrace:` folder of /osh runs no process). */
function fileFolders(): string[] {
    return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
}

/**
 * Attach to the only process (or fleet: all its workers) running from the workspace (or to the
 * manual settings when nothing is attached), unless one from the workspace is attached already.
 * Called at activation and every 2 s, so a restarted app is found again.
 */
async function autoAttach(parts: Parts, log: vscode.LogOutputChannel, polling: boolean): Promise<void> {
    const cfg = vscode.workspace.getConfiguration('otrace');
    if (!cfg.get<boolean>('autoAttach', true)) {
        return;
    }
    const manual = manualTarget();
    if (manual) {
        if (!polling && !parts.conns.all.length) {
            await attachTo(parts, manual, true);   // once, at activation: a failure is shown
        }
        return;
    }
    const folders = fileFolders();
    const procs = listProcesses(currentDiscoveryDir());
    const attachedKeys = new Set(parts.conns.all.map((c) => c.key));
    if (procs.some((p) => attachedKeys.has(processTarget(p).key) && runsFrom(p, folders))) {
        return;
    }
    const candidate = autoAttachGroup(procs, folders);
    if (candidate) {
        // retried every 2 s: failures go to the log, not to a popup each time
        const attached = candidate.kind === 'process' ? parts.conns.attach(processTarget(candidate.proc))
            : parts.conns.attachFleet(candidate.fleet, candidate.workers.map(processTarget));
        await attached.catch((e: Error) => log.warn(`auto-attach: ${e.message}`));
    }
}

/** Attach the workers of the attached fleets that appeared since (a respawned or added worker). */
async function followFleets(conns: Connections): Promise<void> {
    if (conns.fleets.size) {
        await conns.syncFleets(listProcesses(currentDiscoveryDir()).map(processTarget));
    }
}

export function activate(context: vscode.ExtensionContext): void {
    const channel = vscode.window.createOutputChannel('otrace', { log: true });
    const conns = new Connections(channel);
    connections = conns;
    const holds = new HoldsProvider(conns);
    const traces = new TracesProvider(conns);
    const browsers = new BrowsersProvider(conns);
    const holdsView = vscode.window.createTreeView<HoldsNode>('otrace.holds', { treeDataProvider: holds, showCollapseAll: true });
    const tracesView = vscode.window.createTreeView('otrace.traces', { treeDataProvider: traces });
    const browsersView = vscode.window.createTreeView<BrowserNode>('otrace.browsers', { treeDataProvider: browsers, canSelectMany: true });
    const evalView = new BrowserEvalView(browsers, () => browsersView.selection, (message, key) => windowUi.error(message, key));
    const parts: Parts = { conns, ui: windowUi, traces, browsers, browsersView, evalView };
    const oshDiagnostics = vscode.languages.createDiagnosticCollection('otrace-patch');
    const osh = new OshFileSystem(conns, oshDiagnostics, windowUi, async (authority) => {
        // the process of an otrace: folder of the workspace (a discovered one, or the manual settings')
        const found = listProcesses(currentDiscoveryDir()).map(processTarget).find((t) => authorityOf(t.key) === authority);
        const target = found ?? [manualTarget()].find((t) => t && authorityOf(t.key) === authority);
        if (!target) {
            return false;
        }
        await conns.attach(target).catch((e: Error) => channel.warn(`attaching the process of otrace://${authority}/: ${e.message}`));
        return true;
    });
    const patches = new PatchesProvider(conns);
    let attaching = false;
    const poll = setInterval(() => {
        if (!attaching) {
            attaching = true;
            void followFleets(conns).then(() => autoAttach(parts, channel, true)).finally(() => { attaching = false; });
        }
    }, 2000);

    context.subscriptions.push(
        channel, holds, traces, browsers, holdsView, tracesView, browsersView, evalView,
        vscode.window.registerWebviewViewProvider(BrowserEvalView.viewId, evalView, { webviewOptions: { retainContextWhenHidden: true } }),
        browsersView.onDidChangeSelection(() => evalView.updateTargets()),
        conns.onDidChange(({ conn, what }) => {
            if (what === 'webClients') {
                evalView.updateTargets();
            }
            if (what === 'state' && conn.state === 'closed' && conn.exited && !conn.target.fleet) {   // a fleet's worker: quietly
                windowUi.info(`${conn.label} exited; detached from it (an app started again from the workspace is attached by itself)`);
            }
            writeMarker(conns);
        }),
        new StatusBar(conns),
        new HeldLineDecorations(conns, context.extensionUri),
        ...registerCommands(parts, holdsView),
        registerRemote(parts, context.globalState, channel),
        oshDiagnostics, osh, patches,
        vscode.workspace.registerFileSystemProvider(OSH_SCHEME, osh, { isCaseSensitive: true }),
        vscode.window.registerFileDecorationProvider(osh),
        vscode.window.createTreeView('otrace.patches', { treeDataProvider: patches }),
        ...registerPatchCommands(conns, osh, windowUi, context.globalStorageUri),
        registerTestgen(conns, windowUi),
        ...registerDebugging({
            processes: () => listProcesses(currentDiscoveryDir()),
            folders: fileFolders,
            attached: () => conns.connected.flatMap((c) => (c.target.pid === undefined || c.target.remote ? [] : [c.target.pid])),
            ui: windowUi,
        }),
        { dispose: () => clearInterval(poll) },
        { dispose: () => void conns.dispose() },
    );
    writeMarker(conns);
    void autoAttach(parts, channel, false);
    void reopenEmptyOshWorkspace(context.globalState);
}

export async function deactivate(): Promise<void> {
    await connections?.dispose();
    connections = undefined;
}
