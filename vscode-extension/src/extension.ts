/**
 * The otrace VS Code extension: attaches to running otrace processes (discovery files or manual
 * settings) through their embedded language server, and shows held requests, trace contexts,
 * /osh/web browsers, a console and editor decorations. Every disposable goes to
 * `context.subscriptions`. When `OTRACE_VSCODE_MARKER` is set, activation and each connection
 * change are written to that file (tests use it to know the extension is live).
 */
import * as fs from 'fs';
import * as vscode from 'vscode';
import { BrowserEvalView, BrowsersProvider, type BrowserNode } from './browsersView';
import { attachTo, currentDiscoveryDir, manualTarget, processTarget, registerCommands, type Parts } from './commands';
import { Connections } from './connections';
import { StatusBar } from './status';
import { autoAttachCandidate, listProcesses } from './discovery';
import { HeldLineDecorations } from './editorFeatures';
import { HoldsProvider, type HoldsNode } from './holdsView';
import { TracesProvider } from './tracesView';
import { windowUi } from './ui';

let connections: Connections | undefined;

function writeMarker(conns: Connections): void {
    const file = process.env.OTRACE_VSCODE_MARKER;
    if (!file) {
        return;
    }
    const state = conns.all.map((c) => ({ key: c.key, state: c.state, holds: c.holds.length, webClients: c.webClients.length }));
    try {
        fs.writeFileSync(file, JSON.stringify({ activated: true, connections: state }));
    } catch {
        // a test helper only: never fail activation for it
    }
}

/** Attach to the only process running from the workspace (or the manual settings), if any. */
async function autoAttach(parts: Parts): Promise<void> {
    const cfg = vscode.workspace.getConfiguration('otrace');
    if (parts.conns.all.length || !cfg.get<boolean>('autoAttach', true)) {
        return;
    }
    const manual = manualTarget();
    if (manual) {
        await attachTo(parts, manual, true);
        return;
    }
    const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    const candidate = autoAttachCandidate(listProcesses(currentDiscoveryDir()), folders);
    if (candidate) {
        await attachTo(parts, processTarget(candidate), true);
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
    const evalView = new BrowserEvalView(browsers, () => browsersView.selection);
    const parts: Parts = { conns, ui: windowUi, traces, browsers, browsersView, evalView };
    let attaching = false;
    const poll = setInterval(() => {
        if (!conns.all.length && !attaching) {
            attaching = true;
            void autoAttach(parts).finally(() => { attaching = false; });
        }
    }, 2000);

    context.subscriptions.push(
        channel, holds, traces, browsers, holdsView, tracesView, browsersView, evalView,
        vscode.window.registerWebviewViewProvider(BrowserEvalView.viewId, evalView, { webviewOptions: { retainContextWhenHidden: true } }),
        browsersView.onDidChangeSelection(() => evalView.updateTargets()),
        conns.onDidChange(({ what }) => {
            if (what === 'webClients') {
                evalView.updateTargets();
            }
            writeMarker(conns);
        }),
        new StatusBar(conns),
        new HeldLineDecorations(conns, context.extensionUri),
        ...registerCommands(parts, holdsView),
        { dispose: () => clearInterval(poll) },
        { dispose: () => void conns.dispose() },
    );
    writeMarker(conns);
    void autoAttach(parts);
}

export async function deactivate(): Promise<void> {
    await connections?.dispose();
    connections = undefined;
}
