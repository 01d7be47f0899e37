/**
 * "otrace: Open Console": a terminal (Pseudoterminal) running otrace's object shell in one
 * attached process through `otrace/command` on its own connection (`ShellSession`: its own cwd), with the server's prompt, line editing and history
 * (`LineEditor`), TAB completion from `otrace/complete` (a second TAB lists the choices), a
 * command's `repeat` re-run every `otrace.repeatIntervalMs` until a key is pressed, and
 * asynchronous output (`otrace/output`, trace events) printed above the line being typed; `edit NAME`
 * opens the running function in an editor, whose save patches it. Every
 * text from the server is written `visible` (escapes shown as text: `\x1b`), never raw.
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import type { OTraceConnection } from './connection';
import { ShellSession } from './shellSession';
import { applyCompletion, crlf, LineEditor, visible } from './lineEditor';
import type { CommandResult } from './protocol';
import { isSafeModeRefusal } from './ui';

export class OTraceConsole implements vscode.Pseudoterminal {
    private readonly writer = new vscode.EventEmitter<string>();
    private readonly closer = new vscode.EventEmitter<number | void>();
    readonly onDidWrite = this.writer.event;
    readonly onDidClose = this.closer.event;
    private readonly editor = new LineEditor('otrace> ');
    private queue: Promise<void> = Promise.resolve();
    private lastTab = '';
    private repeatTimer: NodeJS.Timeout | undefined;
    private session: ShellSession | undefined;
    private closed = false;

    /** `initialLine` runs first (e.g. `cd` to a hold's directory for "Open in Console"). */
    constructor(private readonly conn: OTraceConnection, private readonly initialLine?: string) {}

    open(): void {
        this.writer.fire(crlf(`otrace object shell of ${this.conn.label} (TAB completes, Up/Down: history)\n`));
        this.editor.setBusy(true);
        const { host, port, token } = this.conn.target;
        const print = (text: string) => this.writer.fire(this.editor.printAbove(text));
        ShellSession.open({ host, port, token }, print).then((session) => {
            if (this.closed) {
                session.dispose();
                return;
            }
            this.session = session;
            session.onClose(() => {
                this.session = undefined;
                print(`[${this.conn.label}: connection closed; open a new console to reconnect]`);
            });
            void this.run(this.initialLine ?? '');
        }, (e: Error) => this.writer.fire(crlf(`error: ${visible(e.message, true)}\n(this console is not connected: close this terminal and open a new console to try again)\n`)));
    }

    close(): void {
        this.closed = true;
        this.stopRepeat();
        this.session?.dispose();
        this.session = undefined;
    }

    private request<T>(method: string, params: object): Promise<T> {
        if (!this.session) {
            return Promise.reject(new Error('not connected'));
        }
        return this.session.request<T>(method, params);
    }

    /** Run `line` (serialised: one command at a time) and print its output and the next prompt. */
    run(line: string): Promise<void> {
        this.queue = this.queue.then(async () => {
            this.editor.setBusy(true);
            let out = '';
            try {
                const r = await this.request<CommandResult>('otrace/command', { line });
                this.editor.prompt = r.prompt || this.editor.prompt;
                out = r.output;
                if (r.error && isSafeModeRefusal(r.output)) {
                    out += `${out.endsWith('\n') ? '' : '\n'}(in VS Code: "otrace: Allow Code Execution (turn safe mode off)" in the command palette)`;
                }
                if (r.edit) {
                    const where = await this.openEdit(r.edit.name, r.edit.source);
                    out += `${out ? '\n' : ''}(edit: ${r.edit.name} is open in the editor (${where}): save it to patch the running function, close it unsaved to cancel)`;
                }
                if (r.repeat) {
                    this.startRepeat(line);
                }
                if (r.quit) {
                    out += `${out ? '\n' : ''}(quit: the connection stays open; close this terminal to leave)`;
                }
            } catch (e) {
                out = `error: ${(e as Error).message}`;
            }
            this.editor.setBusy(false);
            this.writer.fire((out ? crlf(visible(out.endsWith('\n') ? out : out + '\n')) : '') + this.editor.render());
        });
        return this.queue;
    }

    /**
     * The shell's `edit NAME`: the running function's source in an editor (a file of its own in the
     * temporary directory); saving it sends `edit NAME` with the text (the server patches, with its
     * safe_mode rules and audit), shows the answer, and closes the editor on success. Returns the
     * file's name.
     */
    private async openEdit(name: string, source: string): Promise<string> {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otrace-edit-'));
        const file = path.join(dir, `${name.replace(/[^\w.-]/g, '_')}.py`);
        fs.writeFileSync(file, source);
        const doc = await vscode.workspace.openTextDocument(file);
        await vscode.window.showTextDocument(doc, { preview: false });
        const saved = vscode.workspace.onDidSaveTextDocument(async (d) => {
            if (d.uri.fsPath !== file) {
                return;
            }
            try {
                const r = await this.request<CommandResult>('otrace/command', { line: `edit ${name}`, stdin: d.getText() });
                this.writer.fire(this.editor.printAbove(r.output));
                if (r.error) {
                    void vscode.window.showErrorMessage(`otrace: ${r.output} (fix it and save again)`);
                    return;
                }
                saved.dispose();
                void vscode.window.showInformationMessage(`otrace: ${r.output}`);
                for (const tab of vscode.window.tabGroups.all.flatMap((g) => g.tabs)) {
                    if (tab.input instanceof vscode.TabInputText && tab.input.uri.fsPath === file) {
                        await vscode.window.tabGroups.close(tab);
                    }
                }
            } catch (e) {
                void vscode.window.showErrorMessage(`otrace: edit ${name}: ${(e as Error).message}`);
            }
        });
        return path.basename(file);
    }

    private startRepeat(line: string): void {
        this.stopRepeat();
        const ms = vscode.workspace.getConfiguration('otrace').get<number>('repeatIntervalMs', 1000);
        this.repeatTimer = setInterval(async () => {
            try {
                const r = await this.request<CommandResult>('otrace/command', { line });
                this.writer.fire(this.editor.printAbove(r.output));
            } catch (e) {
                this.stopRepeat();
                this.writer.fire(this.editor.printAbove(`error: ${(e as Error).message}`));
            }
        }, Math.max(200, ms));
    }

    private stopRepeat(): boolean {
        if (!this.repeatTimer) {
            return false;
        }
        clearInterval(this.repeatTimer);
        this.repeatTimer = undefined;
        return true;
    }

    handleInput(data: string): void {
        if (this.stopRepeat()) {
            this.writer.fire(this.editor.printAbove('(repeat stopped)'));
            return;
        }
        const { output, actions } = this.editor.feed(data);
        if (output) {
            this.writer.fire(output);
        }
        for (const a of actions) {
            if (a.kind !== 'complete') {
                this.lastTab = '';
            }
            if (a.kind === 'submit') {
                void this.run(a.line);
            } else if (a.kind === 'complete') {
                void this.complete(a.line, a.cursor);
            }
        }
    }

    private async complete(line: string, cursor: number): Promise<void> {
        let items: string[];
        try {
            items = (await this.request<{ items: string[] }>('otrace/complete', { line, cursor })).items;
        } catch {
            return;
        }
        const r = applyCompletion(line, cursor, items);
        if (r.list) {
            // like readline: the second TAB on the same line lists the choices
            if (this.lastTab === line) {
                this.writer.fire(this.editor.printAbove(items.join('  ')));
            }
            this.lastTab = line;
            return;
        }
        this.lastTab = '';
        this.writer.fire(this.editor.setLine(r.line, r.cursor));
    }
}

/** Open a console terminal on `conn`; `initialLine` runs first. */
export function openConsole(conn: OTraceConnection, initialLine?: string): vscode.Terminal {
    const terminal = vscode.window.createTerminal({
        name: `otrace: ${conn.label}`,
        pty: new OTraceConsole(conn, initialLine),
        iconPath: new vscode.ThemeIcon('terminal'),
    });
    terminal.show();
    return terminal;
}
