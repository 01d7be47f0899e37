/**
 * The status-bar item: connection state and the number of held requests of every attached
 * process; clicking it focuses Held Requests (or attaches when nothing is attached).
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import type { Connections } from './connections';

/** The status-bar text for the current connections: "$(debug-pause) otrace: 2 held", etc. */
export function statusText(conns: { state: string; holds: unknown[] }[]): string {
    if (!conns.length) {
        return '$(debug-disconnect) otrace';
    }
    if (conns.some((c) => c.state === 'reconnecting' || c.state === 'connecting')) {
        return '$(sync~spin) otrace: reconnecting';
    }
    const held = conns.reduce((n, c) => n + c.holds.length, 0);
    const procs = conns.length > 1 ? ` (${conns.length} processes)` : '';
    return held ? `$(debug-pause) otrace: ${held} held${procs}` : `$(pass) otrace: attached${procs}`;
}

/** The status-bar item; clicking it focuses Held Requests (or attaches when nothing is attached). */
export class StatusBar implements vscode.Disposable {
    private readonly item = vscode.window.createStatusBarItem('otrace.status', vscode.StatusBarAlignment.Left, 50);
    private readonly sub: vscode.Disposable;

    constructor(private readonly conns: Connections) {
        this.item.name = 'otrace';
        this.sub = conns.onDidChange(() => this.update());
        this.update();
        this.item.show();
    }

    update(): void {
        const all = this.conns.all;
        this.item.text = statusText(all);
        this.item.command = all.length ? 'otrace.holds.focus' : 'otrace.attach';
        this.item.tooltip = all.length
            ? all.map((c) => `${c.label} ${c.target.host}:${c.target.port}: ${c.state}${c.error ? ` (${c.error})` : ''}, ${c.holds.length} held`).join('\n')
            : 'otrace: not attached. Click to attach to a process.';
        void vscode.commands.executeCommand('setContext', 'otrace.connected', this.conns.connected.length > 0);
    }

    dispose(): void {
        this.sub.dispose();
        this.item.dispose();
    }
}
