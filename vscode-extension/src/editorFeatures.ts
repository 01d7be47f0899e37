/**
 * Editor features of the extension itself (the language server adds CodeLens, code actions,
 * diagnostics and variable hovers): a gutter icon on every line where a request is held now, another
 * (a purple diamond) on every line with a live hold ("Hold here live"), and a hover on those lines
 * offering Resume / Resume all / Remove live hold (each led by its process, "[pid 1234]", while
 * several processes are attached). (VS Code gives extensions no hover of the gutter
 * itself: the hover is the line's, from its first column on.)
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { OTraceConnection } from './connection';
import type { Connections, OwnedHold } from './connections';
import { escapeMarkdown, holdTitle, type LivePatch } from './holdsView';
import { processTag } from './processScope';

/** The command removing a live hold: arguments `[connectionKey, name]`, a Held Requests node, or none (a quick pick). */
export const REMOVE_LIVE_HOLD = 'otrace.liveHolds.remove';

export interface OwnedLiveHold { conn: OTraceConnection; patch: LivePatch }

/** The live holds of every attached process whose file is `file`, grouped by 0-based line. */
export function liveHoldLines(conns: { all: OTraceConnection[] }, file: string): Map<number, OwnedLiveHold[]> {
    const lines = new Map<number, OwnedLiveHold[]>();
    const want = path.resolve(file);
    const seen = new Set<string>();       // a fleet's live hold is every worker's: listed once
    for (const conn of conns.all) {
        for (const patch of conn.liveHolds ?? []) {
            const once = `${conn.target?.fleet?.id ?? conn.key}\n${patch.name}`;
            if (path.resolve(patch.liveHold.file) === want && !seen.has(once)) {
                seen.add(once);
                const line = Math.max(0, patch.liveHold.line - 1);
                lines.set(line, [...(lines.get(line) ?? []), { conn, patch }]);
            }
        }
    }
    return lines;
}

/** The holds whose file is `file` (absolute path), grouped by 0-based line. */
export function heldLines(holds: OwnedHold[], file: string): Map<number, OwnedHold[]> {
    const lines = new Map<number, OwnedHold[]>();
    const want = path.resolve(file);
    for (const h of holds) {
        if (h.hold.file && path.resolve(h.hold.file) === want) {
            const line = Math.max(0, h.hold.line - 1);
            lines.set(line, [...(lines.get(line) ?? []), h]);
        }
    }
    return lines;
}

function commandLink(title: string, command: string, args: unknown[]): string {
    return `[${title}](command:${command}?${encodeURIComponent(JSON.stringify(args))})`;
}

export class HeldLineDecorations implements vscode.HoverProvider, vscode.Disposable {
    private readonly type: vscode.TextEditorDecorationType;
    private readonly liveType: vscode.TextEditorDecorationType;
    private readonly subs: vscode.Disposable[] = [];

    constructor(private readonly conns: Connections, extensionUri: vscode.Uri) {
        this.type = vscode.window.createTextEditorDecorationType({
            gutterIconPath: vscode.Uri.joinPath(extensionUri, 'media', 'held.svg'),
            gutterIconSize: '80%',
            isWholeLine: true,
            backgroundColor: new vscode.ThemeColor('editor.stackFrameHighlightBackground'),
            overviewRulerColor: new vscode.ThemeColor('debugIcon.pauseForeground'),
            overviewRulerLane: vscode.OverviewRulerLane.Left,
        });
        this.liveType = vscode.window.createTextEditorDecorationType({
            gutterIconPath: vscode.Uri.joinPath(extensionUri, 'media', 'live-hold.svg'),
            gutterIconSize: '80%',
            overviewRulerColor: new vscode.ThemeColor('debugIcon.breakpointForeground'),
            overviewRulerLane: vscode.OverviewRulerLane.Right,
        });
        this.subs.push(
            this.type,
            this.liveType,
            conns.onDidChange(({ what }) => {
                if (what === 'holds' || what === 'removed' || what === 'state' || what === 'patches') {
                    this.update();
                }
            }),
            vscode.window.onDidChangeVisibleTextEditors(() => this.update()),
            vscode.languages.registerHoverProvider({ scheme: 'file', language: 'python' }, this),
        );
        this.update();
    }

    update(): void {
        const holds = this.conns.holds();
        for (const editor of vscode.window.visibleTextEditors) {
            if (editor.document.uri.scheme !== 'file') {
                continue;
            }
            const lines = heldLines(holds, editor.document.uri.fsPath);
            const ranges = [...lines.keys()]                  // (the line's hover is provideHover's)
                .filter((line) => line < editor.document.lineCount)
                .map((line) => new vscode.Range(line, 0, line, 0));
            editor.setDecorations(this.type, ranges);
            const live = [...liveHoldLines(this.conns, editor.document.uri.fsPath).keys()]
                .filter((line) => line < editor.document.lineCount)
                .map((line) => new vscode.Range(line, 0, line, 0));
            editor.setDecorations(this.liveType, live);
        }
    }

    provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
        const hs = heldLines(this.conns.holds(), doc.uri.fsPath).get(pos.line) ?? [];
        const live = liveHoldLines(this.conns, doc.uri.fsPath).get(pos.line) ?? [];
        if (!hs.length && !live.length) {
            return undefined;
        }
        const md = new vscode.MarkdownString(undefined, true);
        md.isTrusted = { enabledCommands: ['otrace.holds.resume', REMOVE_LIVE_HOLD] };
        const several = this.conns.all.length > 1;
        const tag = (conn: OTraceConnection) => (several ? `${escapeMarkdown(processTag({ ...conn.target, label: conn.label }))} ` : '');
        // several processes: a hold is named with its process (trace ids are per process)
        const ref = (h: OwnedHold) => (several ? { conn: h.conn.key, id: h.hold.id } : h.hold.id);
        for (const h of hs) {
            md.appendMarkdown(`${tag(h.conn)}$(debug-pause) **${escapeMarkdown(holdTitle(h.hold))}** held in ${h.hold.function}`
                + `${h.hold.clientGone ? ' (client gone)' : ''} — ${commandLink('Resume', 'otrace.holds.resume', [ref(h)])}\n\n`);
        }
        if (hs.length > 1) {
            md.appendMarkdown(`${commandLink(`Resume all ${hs.length}`, 'otrace.holds.resume', [hs.map(ref)])}\n\n`);
        }
        for (const { conn, patch } of live) {
            md.appendMarkdown(`${tag(conn)}$(debug-breakpoint-log) live hold in **${patch.name}** (${patch.liveHold.label}): every request reaching this line waits — `
                + `${commandLink('Remove live hold', REMOVE_LIVE_HOLD, [conn.key, patch.name])}\n\n`);
        }
        return new vscode.Hover(md, new vscode.Range(pos.line, 0, pos.line, doc.lineAt(pos.line).text.length));
    }

    dispose(): void {
        this.subs.forEach((d) => d.dispose());
    }
}
