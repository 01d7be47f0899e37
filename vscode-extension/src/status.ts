/**
 * The status-bar item: connection state, the number of held requests of every attached process
 * and their safe mode ("code execution allowed" while one has `safe_mode` off, following
 * `otrace/settingChanged` from any client); clicking it focuses Held Requests (or attaches when
 * nothing is attached).
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import type { Connections } from './connections';
import { fleetLabel, type FleetRef } from './discovery';

/**
 * The status-bar text for the current connections: "$(debug-pause) otrace: 2 held · $(lock) safe
 * mode", "$(sync~spin) otrace: connecting" (first connect) or "reconnecting" (after a drop), etc.;
 * the workers of one fleet: "(torna_fleet.py — fleet of 3 workers)".
 */
export function statusText(conns: { state: string; holds: unknown[]; safeMode?: boolean; target?: { fleet?: FleetRef } }[]): string {
    if (!conns.length) {
        return '$(debug-disconnect) otrace';
    }
    if (conns.some((c) => c.state === 'reconnecting')) {
        return '$(sync~spin) otrace: reconnecting';
    }
    if (conns.some((c) => c.state === 'connecting')) {
        return '$(sync~spin) otrace: connecting';
    }
    const held = conns.reduce((n, c) => n + c.holds.length, 0);
    const fleet = conns[0].target?.fleet;
    const oneFleet = fleet && conns.every((c) => c.target?.fleet?.id === fleet.id);
    const procs = oneFleet ? ` (${fleetLabel(fleet, conns.length)})` : conns.length > 1 ? ` (${conns.length} processes)` : '';
    const unsafe = conns.filter((c) => c.safeMode === false).length;
    const mode = !unsafe ? '$(lock) safe mode'
        : `$(unlock) code execution allowed${conns.length > 1 ? ` in ${unsafe} of ${conns.length}` : ''}`;
    return `${held ? `$(debug-pause) otrace: ${held} held` : '$(pass) otrace: attached'}${procs} · ${mode}`;
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
            ? all.map((c) => `${c.label} ${c.target.host}:${c.target.port}: ${c.state}${c.error ? ` (${c.error})` : ''}, `
                + `${c.holds.length} held, ${c.safeMode ? 'safe mode (no code execution)' : 'code execution allowed (safe mode off)'}`).join('\n')
                + '\n\notrace: Allow Code Execution / otrace: Turn Safe Mode On switch it'
            : 'otrace: not attached. Click to attach to a process.';
        void vscode.commands.executeCommand('setContext', 'otrace.connected', this.conns.connected.length > 0);
    }

    dispose(): void {
        this.sub.dispose();
        this.item.dispose();
    }
}
