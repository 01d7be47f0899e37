/**
 * The thin wrapper over the `vscode` window API that commands use to talk to the user: one place
 * for the "otrace: " prefix of messages and for prompts, so command logic can be unit-tested with
 * a scripted `Ui` instead of a real window.
 */
import * as vscode from 'vscode';

export interface Ui {
    info(message: string): void;
    /**
     * A one-line error. A safe-mode refusal ("... refused in safe mode ...; set safe_mode False to
     * allow it") gets a button running "otrace: Allow Code Execution" (on process `connKey` when given).
     */
    error(message: string, connKey?: string): void;
    /** A modal question; resolves true when the user pressed `action`. */
    confirm?(message: string, detail: string, action: string): Thenable<boolean>;
    input(prompt: string, placeHolder?: string, validate?: (v: string) => string | undefined): Thenable<string | undefined>;
    pick<T extends vscode.QuickPickItem>(items: T[], placeHolder: string): Thenable<T | undefined>;
}

/** The command turning safe mode off (after a modal confirmation); argument: a connection key. */
export const SAFE_MODE_OFF = 'otrace.safeModeOff';
/** The button a safe-mode refusal gets. */
export const ALLOW_BUTTON = 'Allow Code Execution...';

/** True for the server's safe-mode refusal ("<what>: refused in safe mode[ (<why>)]; set safe_mode False to allow it"). */
export function isSafeModeRefusal(message: string): boolean {
    return /refused in safe mode\b/.test(message);
}

/** The real window. */
export const windowUi: Ui = {
    info: (m) => void vscode.window.showInformationMessage(`otrace: ${m}`),
    error: (m, connKey) => {
        if (!isSafeModeRefusal(m)) {
            void vscode.window.showErrorMessage(`otrace: ${m}`);
            return;
        }
        void vscode.window.showErrorMessage(`otrace: ${m}`, ALLOW_BUTTON).then((b) => {
            if (b === ALLOW_BUTTON) {
                void vscode.commands.executeCommand(SAFE_MODE_OFF, connKey);
            }
        });
    },
    confirm: async (message, detail, action) =>
        (await vscode.window.showWarningMessage(message, { modal: true, detail }, action)) === action,
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

/**
 * "503 Service Unavailable" -> {status: 503, reason}; throws a one-line Error for a status outside
 * `range` (the server's `statusRange`, inclusive).
 */
export function parseStatus(text: string, range: readonly [number, number]): { status: number; reason?: string } {
    const m = /^\s*(\d{3})\s*(.*)$/.exec(text);
    const status = m ? Number(m[1]) : NaN;
    if (!m || status < range[0] || status > range[1]) {
        throw new Error(`an HTTP status is a number from ${range[0]} to ${range[1]}, optionally followed by a reason`);
    }
    return m[2].trim() ? { status, reason: m[2].trim() } : { status };
}

/** The shell directory of a hold or context: `A:B:C` -> `/osh/recent/holds/A/B/C`. */
export function holdDirectory(traceId: string, ctype = 'holds'): string {
    return `/osh/recent/${ctype}/${traceId.split(':').join('/')}`;
}

/**
 * The exception of *Fail Request* as typed: `Name` or `Name: message`, where Name may be dotted
 * (`myapp.errors.Conflict`) for the server to resolve in the application; throws a one-line Error
 * for anything else. The text is sent as it is (`otrace/resume`'s `raise`).
 */
export function parseException(text: string): string {
    const t = text.trim();
    if (!/^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*\s*(:.*)?$/s.test(t)) {
        throw new Error('an exception name, optionally followed by ": message" (e.g. ValueError: bad input)');
    }
    return t;
}
