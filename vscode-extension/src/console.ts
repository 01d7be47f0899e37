/**
 * "otrace: Open Console": a terminal (Pseudoterminal) running otrace's object shell in one
 * attached process through `otrace/command` on its own connection (`ShellSession`: its own cwd), with the server's prompt, line editing and history
 * (`LineEditor`), TAB completion from `otrace/complete` (a second TAB lists the choices), a
 * command's `repeat` re-run every `otrace.repeatIntervalMs` until a key is pressed, and
 * asynchronous output (`otrace/output`, trace events) printed above the line being typed; `edit NAME`
 * opens the running function in an editor, whose save patches it. Every
 * text from the server is written `visible` (escapes shown as text: `\x1b`), never raw.
 * A fleet's console (issue 20) addresses every worker: a session per worker, each line sent to all
 * of them with ONE `fleetOrder` id (a standing command such as `trace` is logged once for the
 * fleet), each worker's output led by "[pid N]"; completion asks the first worker.
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
import { fleetLabel, type FleetRef } from './discovery';
import { ledBy, newFleetOrder } from './fleet';
import { processTag } from './processScope';
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
    private sessions: { tag: string; session: ShellSession }[] = [];
    private closed = false;

    /**
     * A console of `members` (one process, or every worker of `fleet`); `initialLine` runs first
     * (e.g. `cd` to a hold's directory for "Open in Console").
     */
    constructor(private readonly members: OTraceConnection[], private readonly initialLine?: string, private readonly fleet?: FleetRef) {}

    private get title(): string {
        return this.fleet ? fleetLabel(this.fleet, this.members.length) : this.members[0].label;
    }

    open(): void {
        this.writer.fire(crlf(this.fleet
            ? `otrace object shell of ${this.title}: each line goes to every worker, their output led by [pid N] (TAB completes, Up/Down: history)\n`
            : `otrace object shell of ${this.title} (TAB completes, Up/Down: history)\n`));
        this.editor.setBusy(true);
        const print = (text: string) => this.writer.fire(this.editor.printAbove(text));
        void Promise.allSettled(this.members.map(async (conn) => {
            const tag = this.fleet ? processTag({ ...conn.target, label: conn.label }) : '';
            const { host, port, token } = conn.target;
            const session = await ShellSession.open({ host, port, token }, (t) => print(tag ? ledBy(tag, t) : t));
            return { tag, session, conn };
        })).then((results) => {
            const opened = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
            if (this.closed) {
                opened.forEach((o) => o.session.dispose());
                return;
            }
            const errors = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
            if (!opened.length) {
                this.writer.fire(crlf(`error: ${visible(errors[0] ?? 'no process', true)}\n(this console is not connected: close this terminal and open a new console to try again)\n`));
                return;
            }
            errors.forEach((e) => print(`error: ${visible(e, true)}`));
            this.sessions = opened.map(({ tag, session }) => ({ tag, session }));
            for (const { tag, session, conn } of opened) {
                session.onClose(() => {
                    this.sessions = this.sessions.filter((x) => x.session !== session);
                    print(`[${tag ? `${tag} ` : ''}${conn.label}: connection closed${this.sessions.length ? '' : '; open a new console to reconnect'}]`);
                });
            }
            void this.run(this.initialLine ?? '');
        });
    }

    close(): void {
        this.closed = true;
        this.stopRepeat();
        this.sessions.forEach((s) => s.session.dispose());
        this.sessions = [];
    }

    private request<T>(method: string, params: object): Promise<T> {
        const first = this.sessions[0];
        if (!first) {
            return Promise.reject(new Error('not connected'));
        }
        return first.session.request<T>(method, params);
    }

    /**
     * `otrace/command` with `line` on every session (one in a process's console); in a fleet's
     * console one fleet order id for all. The answers, each worker's output led by its tag; the
     * first answer gives the prompt, edit, repeat and quit.
     */
    private async command(line: string): Promise<{ first: CommandResult; output: string; error: boolean }> {
        if (!this.sessions.length) {
            throw new Error('not connected');
        }
        const params = this.fleet && line.trim() ? { line, fleetOrder: newFleetOrder() } : { line };
        const results = await Promise.allSettled(this.sessions.map((s) => s.session.request<CommandResult>('otrace/command', params)));
        const outputs: string[] = [];
        let first: CommandResult | undefined;
        let error = false;
        results.forEach((r, i) => {
            const tag = this.sessions[i]?.tag ?? '';
            const text = r.status === 'fulfilled' ? r.value.output : `error: ${(r.reason as Error).message}`;
            if (r.status === 'fulfilled') {
                first ??= r.value;
                error ||= r.value.error;
            }
            if (text) {
                outputs.push(tag ? ledBy(tag, text.endsWith('\n') ? text : text + '\n') : text);
            }
        });
        if (!first) {
            throw new Error((results[0] as PromiseRejectedResult).reason.message);
        }
        return { first, output: outputs.join(''), error };
    }

    /** Run `line` (serialised: one command at a time) and print its output and the next prompt. */
    run(line: string): Promise<void> {
        this.queue = this.queue.then(async () => {
            this.editor.setBusy(true);
            let out = '';
            try {
                const { first: r, output, error } = await this.command(line);
                this.editor.prompt = r.prompt || this.editor.prompt;
                out = output;
                if (error && isSafeModeRefusal(output)) {
                    out += `${out.endsWith('\n') ? '' : '\n'}(in VS Code: "otrace: Allow Code Execution (turn safe mode off)" in the command palette)`;
                }
                if (r.edit && this.fleet) {
                    out += `${out ? '\n' : ''}(edit: open a console of one worker to edit a function there)`;
                } else if (r.edit) {
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
                this.writer.fire(this.editor.printAbove((await this.command(line)).output));
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

/** Open a console terminal on `members` (one process, or every worker of `fleet`); `initialLine` runs first. */
export function openConsole(members: OTraceConnection[], initialLine?: string, fleet?: FleetRef): vscode.Terminal {
    const pty = new OTraceConsole(members, initialLine, fleet);
    const terminal = vscode.window.createTerminal({
        name: `otrace: ${fleet ? fleetLabel(fleet, members.length) : members[0].label}`,
        pty,
        iconPath: new vscode.ThemeIcon('terminal'),
    });
    terminal.show();
    return terminal;
}
