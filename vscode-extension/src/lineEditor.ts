/**
 * The console's line editor: turns terminal input (keys and escape sequences, as a Pseudoterminal
 * receives them) into edits of one input line with history, and produces the ANSI text that shows
 * it. Asynchronous output is printed *above* the line being typed (`printAbove`), which is redrawn
 * after it, so typing is never broken. Pure (no `vscode` import); the caller writes the strings
 * this returns to the terminal. Text that is not the editor's own (output, prompt, the typed or
 * completed line) is written `visible`: it cannot move the cursor, change colours or reorder text.
 */

/** What the caller must do after a key: nothing more, run a line, complete, or interrupt. */
export type EditorAction =
    | { kind: 'none' }
    | { kind: 'submit'; line: string }
    | { kind: 'complete'; line: string; cursor: number }
    | { kind: 'interrupt' };

/** The result of feeding input: terminal output to write, and actions to perform in order. */
export interface FeedResult {
    output: string;
    actions: EditorAction[];
}

const CSI = '\x1b[';

/**
 * What `visible` escapes: the server's rule (otrace_server/core/reprs.py `HIDDEN`): C0 controls
 * but newline and tab, DEL, C1 controls, bidi controls and invisible format characters, tag
 * characters, lone surrogates (the `u` flag: a surrogate pair is one code point, not matched).
 */
const HIDDEN = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/gu;
const HIDDEN_ONE_LINE = new RegExp(`[\\t\\n]|${HIDDEN.source}`, 'gu');
const SHORT: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function escapeChar(ch: string): string {
    const short = SHORT[ch];
    if (short) {
        return short;
    }
    const code = ch.codePointAt(0) ?? 0;
    const hex = (width: number) => code.toString(16).padStart(width, '0');
    return code < 0x100 ? `\\x${hex(2)}` : code < 0x10000 ? `\\u${hex(4)}` : `\\U${hex(8)}`;
}

/**
 * `text` safe to write to a terminal: each character the server's `core.reprs.visible` escapes
 * becomes the same Python escape (`\x1b`, `\u202e`, `\r`); with `oneLine`, newline and tab too.
 */
export function visible(text: string, oneLine = false): string {
    return text.replace(oneLine ? HIDDEN_ONE_LINE : HIDDEN, escapeChar);
}

/** Normalise output text for a terminal: bare `\n` becomes `\r\n`. */
export function crlf(text: string): string {
    return text.replace(/\r?\n/g, '\r\n');
}

/** One line of input with a cursor, a prompt and a history (oldest first). */
export class LineEditor {
    prompt: string;
    buffer = '';
    cursor = 0;
    readonly history: string[] = [];
    private historyIndex = -1;   // -1: editing a new line
    private draft = '';
    private busy = false;

    constructor(prompt = '> ', private readonly maxHistory = 500) {
        this.prompt = prompt;
    }

    /** The prompt and the line (`visible`), with the cursor placed: what a redraw writes after `\r`. */
    render(): string {
        const back = visible(this.buffer.slice(this.cursor), true).length;
        return `\r${CSI}K${visible(this.prompt, true)}${visible(this.buffer, true)}${back > 0 ? `${CSI}${back}D` : ''}`;
    }

    /** While busy (a command runs) input is ignored and nothing is redrawn after output. */
    setBusy(busy: boolean): void {
        this.busy = busy;
    }

    /** Output printed above the line being typed (`visible`): clears the line, prints, redraws
     * prompt and line. */
    printAbove(text: string): string {
        if (!text) {
            return '';
        }
        const body = crlf(visible(text.endsWith('\n') ? text : text + '\n'));
        return `\r${CSI}K${body}${this.busy ? '' : this.render()}`;
    }

    /** Replace the line (e.g. after a completion) and return its redraw. */
    setLine(line: string, cursor = line.length): string {
        this.buffer = line;
        this.cursor = Math.max(0, Math.min(cursor, line.length));
        return this.render();
    }

    private addHistory(line: string): void {
        if (line.trim() && this.history[this.history.length - 1] !== line) {
            this.history.push(line);
            if (this.history.length > this.maxHistory) {
                this.history.shift();
            }
        }
        this.historyIndex = -1;
        this.draft = '';
    }

    private recall(delta: number): string {
        if (!this.history.length) {
            return '';
        }
        if (this.historyIndex === -1) {
            if (delta > 0) {
                return '';
            }
            this.draft = this.buffer;
            this.historyIndex = this.history.length;
        }
        const next = this.historyIndex + delta;
        if (next < 0) {
            return '';
        }
        this.historyIndex = next;
        const line = next >= this.history.length ? this.draft : this.history[next];
        if (next >= this.history.length) {
            this.historyIndex = -1;
        }
        return this.setLine(line);
    }

    /** Feed terminal input (may hold several keys, or pasted text). */
    feed(data: string): FeedResult {
        let out = '';
        const actions: EditorAction[] = [];
        let i = 0;
        while (i < data.length) {
            if (this.busy) {
                if (data[i] === '\x03') {
                    actions.push({ kind: 'interrupt' });
                }
                i++;
                continue;
            }
            const rest = data.slice(i);
            const esc = /^\x1b(?:\[(\d*)(?:;\d+)?([A-Za-z~])|O([A-Za-z]))/.exec(rest);
            if (esc) {
                out += this.escape(esc[2] ?? esc[3], esc[1] ?? '');
                i += esc[0].length;
                continue;
            }
            const ch = data[i++];
            switch (ch) {
                case '\r':
                case '\n': {
                    if (ch === '\n' && i >= 2 && data[i - 2] === '\r') {
                        break;   // \r\n pasted: one line end
                    }
                    const line = this.buffer;
                    out += `\r${CSI}K${visible(this.prompt, true)}${visible(line, true)}\r\n`;
                    this.addHistory(line);
                    this.buffer = '';
                    this.cursor = 0;
                    actions.push({ kind: 'submit', line });
                    break;
                }
                case '\x7f':
                case '\b':
                    if (this.cursor > 0) {
                        this.buffer = this.buffer.slice(0, this.cursor - 1) + this.buffer.slice(this.cursor);
                        this.cursor--;
                        out += this.render();
                    }
                    break;
                case '\t':
                    actions.push({ kind: 'complete', line: this.buffer, cursor: this.cursor });
                    break;
                case '\x03':   // Ctrl-C: drop the line
                    out += `^C\r\n`;
                    this.buffer = '';
                    this.cursor = 0;
                    this.historyIndex = -1;
                    out += this.render();
                    actions.push({ kind: 'interrupt' });
                    break;
                case '\x01':   // Ctrl-A
                    this.cursor = 0;
                    out += this.render();
                    break;
                case '\x05':   // Ctrl-E
                    this.cursor = this.buffer.length;
                    out += this.render();
                    break;
                case '\x15':   // Ctrl-U: delete to start
                    this.buffer = this.buffer.slice(this.cursor);
                    this.cursor = 0;
                    out += this.render();
                    break;
                case '\x0b':   // Ctrl-K: delete to end
                    this.buffer = this.buffer.slice(0, this.cursor);
                    out += this.render();
                    break;
                default:
                    if (ch >= ' ') {
                        this.buffer = this.buffer.slice(0, this.cursor) + ch + this.buffer.slice(this.cursor);
                        this.cursor++;
                        out += this.cursor === this.buffer.length && visible(ch) === ch ? ch : this.render();
                    }
            }
        }
        return { output: out, actions };
    }

    /** The cursor moved over `ch`: one column, unless `ch` is shown as its escape (redraw). */
    private moved(ch: string, direction: 'C' | 'D'): string {
        return visible(ch, true) === ch ? `${CSI}${direction}` : this.render();
    }

    private escape(final: string, param: string): string {
        switch (final) {
            case 'A': return this.recall(-1);
            case 'B': return this.recall(1);
            case 'C':
                if (this.cursor < this.buffer.length) {
                    this.cursor++;
                    return this.moved(this.buffer[this.cursor - 1], 'C');
                }
                return '';
            case 'D':
                if (this.cursor > 0) {
                    this.cursor--;
                    return this.moved(this.buffer[this.cursor], 'D');
                }
                return '';
            case 'H': this.cursor = 0; return this.render();
            case 'F': this.cursor = this.buffer.length; return this.render();
            case '~':
                if (param === '3' && this.cursor < this.buffer.length) {   // Delete
                    this.buffer = this.buffer.slice(0, this.cursor) + this.buffer.slice(this.cursor + 1);
                    return this.render();
                }
                if (param === '1' || param === '7') { this.cursor = 0; return this.render(); }
                if (param === '4' || param === '8') { this.cursor = this.buffer.length; return this.render(); }
                return '';
            default: return '';
        }
    }
}

/** The longest common prefix of `items` ('' for none). */
export function commonPrefix(items: string[]): string {
    if (!items.length) {
        return '';
    }
    let p = items[0];
    for (const s of items) {
        while (!s.startsWith(p)) {
            p = p.slice(0, -1);
        }
    }
    return p;
}

/**
 * Apply completion `items` to the word before `cursor` in `line`: one item replaces the word; several
 * extend it to their common prefix. Returns the new line and cursor, and whether to list the items.
 * The server returns whole words (e.g. `GetHandler`) or paths (`/osh/recent/`) for the last word.
 */
export function applyCompletion(line: string, cursor: number, items: string[]): { line: string; cursor: number; list: boolean } {
    const before = line.slice(0, cursor);
    const start = before.search(/\S*$/);
    const word = before.slice(start);
    const candidates = items.filter((s) => s.startsWith(word) || !word);
    const use = candidates.length ? candidates : items;
    if (!use.length) {
        return { line, cursor, list: false };
    }
    const replacement = use.length === 1 ? use[0] + (use[0].includes('/') ? '' : ' ') : commonPrefix(use);
    if (use.length > 1 && replacement.length <= word.length) {
        return { line, cursor, list: true };
    }
    const next = line.slice(0, start) + replacement + line.slice(cursor);
    return { line: next, cursor: start + replacement.length, list: false };
}
