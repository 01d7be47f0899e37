/**
 * The "Live Patches" tree (issue 19, point 2): every live patch of every attached process
 * (`otrace/patches`, followed through `otrace/patchesChanged`: saves under an `otrace:` folder, the
 * console's `edit`, "Hold here live", DAP breakpoints), grouped by process when several are
 * attached. Selecting one compares it with its source; its inline actions are Compare with Source,
 * Promote Patch to Source (not for a live hold: that would write the hold into the file) and
 * Discard Patch (`patchCommands.ts`).
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import type { OTraceConnection } from './connection';
import type { Connections } from './connections';
import { formatAge } from './discovery';
import type { Patch } from './protocol';

export type PatchesNode =
    | { kind: 'process'; conn: OTraceConnection }
    | { kind: 'patch'; conn: OTraceConnection; patch: Patch };

/** What follows a patch's name: "live hold · line 71" or "edited 12s ago". */
export function patchDescription(patch: Patch, nowSeconds: number): string {
    return patch.liveHold ? `live hold · line ${patch.liveHold.line}` : `edited ${formatAge(nowSeconds - patch.since)} ago`;
}

export class PatchesProvider implements vscode.TreeDataProvider<PatchesNode>, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<PatchesNode | undefined>();
    readonly onDidChangeTreeData = this.changed.event;
    private readonly sub: vscode.Disposable;

    constructor(private readonly conns: Connections, private readonly now = () => Date.now() / 1000) {
        this.sub = conns.onDidChange(({ what }) => {
            if (what === 'patches' || what === 'state' || what === 'removed') {
                this.changed.fire(undefined);
            }
        });
    }

    private patchesOf(conn: OTraceConnection): PatchesNode[] {
        return conn.patches.map((patch) => ({ kind: 'patch', conn, patch }));
    }

    getChildren(node?: PatchesNode): PatchesNode[] {
        if (node) {
            return node.kind === 'process' ? this.patchesOf(node.conn) : [];
        }
        const conns = this.conns.all;
        return conns.length > 1 ? conns.map((conn) => ({ kind: 'process', conn })) : conns.flatMap((c) => this.patchesOf(c));
    }

    getTreeItem(node: PatchesNode): vscode.TreeItem {
        if (node.kind === 'process') {
            const item = new vscode.TreeItem(node.conn.label, vscode.TreeItemCollapsibleState.Expanded);
            item.id = `patches:${node.conn.key}`;
            item.description = `${node.conn.patches.length} live`;
            item.iconPath = new vscode.ThemeIcon('server-process');
            item.contextValue = 'process';
            return item;
        }
        const { conn, patch } = node;
        const item = new vscode.TreeItem(patch.name, vscode.TreeItemCollapsibleState.None);
        item.id = `patch:${conn.key}:${patch.name}`;
        item.description = patchDescription(patch, this.now());
        item.tooltip = patch.liveHold
            ? `"Hold here live" in ${patch.name}: requests reaching ${patch.liveHold.file}:${patch.liveHold.line} wait. Discard removes it.`
            : `${patch.name} runs patched code in ${conn.label}. Click to compare it with its source; `
              + 'Promote writes it into the source file (undoable, you save), Discard puts the loaded code back.';
        item.iconPath = new vscode.ThemeIcon(patch.liveHold ? 'debug-breakpoint-log' : 'diff-modified');
        item.contextValue = patch.liveHold ? 'patch.liveHold' : 'patch';
        item.command = { title: 'Compare with Source', command: 'otrace.comparePatch', arguments: [node] };
        return item;
    }

    dispose(): void {
        this.sub.dispose();
        this.changed.dispose();
    }
}
