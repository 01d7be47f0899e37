/**
 * Editor features of the extension itself (the language server adds CodeLens, code actions,
 * diagnostics and variable hovers): a gutter icon on every line where a request is held now, and a
 * hover on that line offering Resume / Resume all.
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { Connections, OwnedHold } from './connections';

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
        this.subs.push(
            this.type,
            conns.onDidChange(({ what }) => {
                if (what === 'holds' || what === 'removed' || what === 'state') {
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
            const ranges = [...lines.entries()]
                .filter(([line]) => line < editor.document.lineCount)
                .map(([line, hs]) => ({
                    range: new vscode.Range(line, 0, line, 0),
                    hoverMessage: `otrace: ${hs.length} request(s) held here`,
                }));
            editor.setDecorations(this.type, ranges);
        }
    }

    provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
        const hs = heldLines(this.conns.holds(), doc.uri.fsPath).get(pos.line);
        if (!hs?.length) {
            return undefined;
        }
        const md = new vscode.MarkdownString(undefined, true);
        md.isTrusted = { enabledCommands: ['otrace.holds.resume'] };
        for (const { hold } of hs) {
            md.appendMarkdown(`$(debug-pause) **${hold.function}** held (${hold.label}) — ${commandLink('Resume', 'otrace.holds.resume', [hold.id])}\n\n`);
        }
        if (hs.length > 1) {
            md.appendMarkdown(commandLink(`Resume all ${hs.length}`, 'otrace.holds.resume', [hs.map((h) => h.hold.id)]));
        }
        return new vscode.Hover(md, new vscode.Range(pos.line, 0, pos.line, doc.lineAt(pos.line).text.length));
    }

    dispose(): void {
        this.subs.forEach((d) => d.dispose());
    }
}
