/**
 * The thin wrapper over the `vscode` window API that commands use to talk to the user: one place
 * for the "otrace: " prefix of messages and for prompts, so command logic can be unit-tested with
 * a scripted `Ui` instead of a real window.
 */
import * as vscode from 'vscode';

export interface Ui {
    info(message: string): void;
    error(message: string): void;
    input(prompt: string, placeHolder?: string, validate?: (v: string) => string | undefined): Thenable<string | undefined>;
    pick<T extends vscode.QuickPickItem>(items: T[], placeHolder: string): Thenable<T | undefined>;
}

/** The real window. */
export const windowUi: Ui = {
    info: (m) => void vscode.window.showInformationMessage(`otrace: ${m}`),
    error: (m) => void vscode.window.showErrorMessage(`otrace: ${m}`),
    input: (prompt, placeHolder, validate) => vscode.window.showInputBox({
        prompt, placeHolder, ignoreFocusOut: true, validateInput: validate ? (v) => validate(v) ?? null : undefined,
    }),
    pick: (items, placeHolder) => vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true, matchOnDetail: true }),
};

/** A resume value typed by the user: JSON when it parses (5, "x", [1], null), else the text itself. */
export function parseValue(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

/** "503 Service Unavailable" -> {status: 503, reason}; throws a one-line Error for a bad status. */
export function parseStatus(text: string): { status: number; reason?: string } {
    const m = /^\s*(\d{3})\s*(.*)$/.exec(text);
    const status = m ? Number(m[1]) : NaN;
    if (!m || status < 100 || status > 599) {
        throw new Error('an HTTP status is a number from 100 to 599, optionally followed by a reason');
    }
    return m[2].trim() ? { status, reason: m[2].trim() } : { status };
}

/** The shell directory of a hold or context: `A:B:C` -> `/osh/recent/holds/A/B/C`. */
export function holdDirectory(traceId: string, ctype = 'holds'): string {
    return `/osh/recent/${ctype}/${traceId.split(':').join('/')}`;
}
