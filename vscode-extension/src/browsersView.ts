/**
 * The "Browsers" tree (the /osh/web clients of every attached process, multi-select) and the
 * "Browser JavaScript" side panel (a webview view) that evaluates JavaScript in the selected
 * browser(s) through `otrace/webEval`: an input with history (Up/Down), results and errors, and a
 * "monitor" toggle that re-evaluates the expression every `otrace.repeatIntervalMs` (like the
 * shell's `repeat`). With no selection and exactly one browser connected, that one is used.
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import type { OTraceConnection } from './connection';
import type { Connections } from './connections';
import { visible } from './lineEditor';
import { isSafeModeRefusal } from './ui';

export interface BrowserNode { conn: OTraceConnection; name: string; url: string; userAgent: string; since: number }

export class BrowsersProvider implements vscode.TreeDataProvider<BrowserNode>, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<void>();
    readonly onDidChangeTreeData = this.changed.event;
    private readonly nodes = new Map<string, BrowserNode>();
    private readonly sub: vscode.Disposable;

    constructor(private readonly conns: Connections) {
        this.sub = conns.onDidChange(({ what }) => {
            if (what === 'webClients' || what === 'state' || what === 'removed') {
                this.changed.fire();
            }
        });
    }

    refresh(): void {
        for (const c of this.conns.connected) {
            void c.refreshWebClients();
        }
    }

    /** Every browser node now (stable objects, so the tree view can reveal them). */
    all(): BrowserNode[] {
        const live: BrowserNode[] = [];
        for (const conn of this.conns.all) {
            for (const c of conn.webClients) {
                const key = `${conn.key}/${c.name}`;
                let node = this.nodes.get(key);
                if (!node || node.conn !== conn) {
                    node = { conn, name: c.name, url: c.url, userAgent: c.userAgent, since: c.since };
                    this.nodes.set(key, node);
                }
                live.push(node);
            }
        }
        return live;
    }

    find(conn: OTraceConnection, name: string): BrowserNode | undefined {
        return this.all().find((n) => n.conn === conn && n.name === name);
    }

    getChildren(node?: BrowserNode): BrowserNode[] {
        return node ? [] : this.all();
    }

    getParent(): undefined {
        return undefined;
    }

    getTreeItem(node: BrowserNode): vscode.TreeItem {
        const item = new vscode.TreeItem(node.name, vscode.TreeItemCollapsibleState.None);
        item.id = `web:${node.conn.key}/${node.name}`;
        item.description = visible(node.url, true) + (this.conns.all.length > 1 ? ` (${node.conn.label})` : '');
        item.tooltip = `${node.name}\n${visible(node.url, true)}\n${visible(node.userAgent, true)}`;   // the browser's text
        item.iconPath = new vscode.ThemeIcon('globe');
        item.contextValue = 'browser';
        return item;
    }

    dispose(): void {
        this.sub.dispose();
        this.changed.dispose();
    }
}

/** Messages from the panel's page. */
type PanelMessage = { type: 'eval'; expression: string } | { type: 'monitor'; expression: string; on: boolean } | { type: 'ready' };

export class BrowserEvalView implements vscode.WebviewViewProvider, vscode.Disposable {
    static readonly viewId = 'otrace.browserEval';
    private view: vscode.WebviewView | undefined;
    private monitor: NodeJS.Timeout | undefined;

    /**
     * `refused(message, connKey)` is told of a safe-mode refusal of an evaluation the user asked for
     * (not of the monitor's repeats), so it can offer to allow code execution.
     */
    constructor(private readonly browsers: BrowsersProvider, private readonly selection: () => readonly BrowserNode[],
        private readonly refused: (message: string, connKey: string) => void = () => undefined) {}

    /** The browsers to evaluate in: the selection, else the only browser; throws a one-line Error. */
    targets(): BrowserNode[] {
        const sel = [...this.selection()];
        if (sel.length) {
            return sel;
        }
        const all = this.browsers.all();
        if (all.length === 1) {
            return all;
        }
        throw new Error(all.length ? 'select the browser(s) in the Browsers view' : 'no browser is connected to /osh/web');
    }

    /** Evaluate in every target; posts one result line per browser to the panel and returns them. */
    async evaluate(expression: string, tag: 'result' | 'monitor' = 'result'): Promise<{ client: string; value?: string; error?: string }[]> {
        let targets: BrowserNode[];
        try {
            targets = this.targets();
        } catch (e) {
            const r = [{ client: '', error: (e as Error).message }];
            this.post({ type: tag, expression, results: r });
            return r;
        }
        const results = await Promise.all(targets.map(async (b) => {
            try {
                const r = await b.conn.request<{ value?: unknown; error?: string }>('otrace/webEval', { client: b.name, expression });
                return r.error !== undefined && r.error !== null   // the browser's text: shown visible
                    ? { client: b.name, error: visible(String(r.error)) }
                    : { client: b.name, value: visible(typeof r.value === 'string' ? r.value : JSON.stringify(r.value)) };
            } catch (e) {
                if (tag === 'result' && isSafeModeRefusal((e as Error).message)) {
                    this.refused((e as Error).message, b.conn.key);
                }
                return { client: b.name, error: (e as Error).message };
            }
        }));
        this.post({ type: tag, expression, results });
        return results;
    }

    private post(msg: object): void {
        void this.view?.webview.postMessage(msg);
    }

    /** Show which browsers the next evaluation goes to. */
    updateTargets(): void {
        let text: string;
        try {
            text = this.targets().map((b) => b.name).join(', ');
        } catch (e) {
            text = (e as Error).message;
        }
        this.post({ type: 'targets', text });
    }

    private setMonitor(expression: string, on: boolean): void {
        if (this.monitor) {
            clearInterval(this.monitor);
            this.monitor = undefined;
        }
        if (on && expression.trim()) {
            const ms = vscode.workspace.getConfiguration('otrace').get<number>('repeatIntervalMs', 1000);
            void this.evaluate(expression, 'monitor');
            this.monitor = setInterval(() => void this.evaluate(expression, 'monitor'), Math.max(200, ms));
        }
    }

    resolveWebviewView(view: vscode.WebviewView): void {
        this.view = view;
        view.webview.options = { enableScripts: true };
        view.webview.html = panelHtml(nonce());
        view.webview.onDidReceiveMessage((m: PanelMessage) => {
            if (m.type === 'eval') {
                void this.evaluate(m.expression);
            } else if (m.type === 'monitor') {
                this.setMonitor(m.expression, m.on);
            } else if (m.type === 'ready') {
                this.updateTargets();
            }
        });
        view.onDidDispose(() => {
            this.setMonitor('', false);
            this.view = undefined;
        });
    }

    dispose(): void {
        this.setMonitor('', false);
    }
}

function nonce(): string {
    return Array.from({ length: 24 }, () => Math.floor(Math.random() * 36).toString(36)).join('');
}

function panelHtml(n: string): string {
    return `<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${n}';">
<style>
 body { padding: 4px 8px; font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); }
 #expr { width: 100%; box-sizing: border-box; font-family: var(--vscode-editor-font-family); background: var(--vscode-input-background);
         color: var(--vscode-input-foreground); border: 1px solid var(--vscode-input-border, transparent); padding: 3px; resize: vertical; }
 .row { display: flex; gap: 8px; align-items: center; margin: 4px 0; }
 button { background: var(--vscode-button-background); color: var(--vscode-button-foreground); border: none; padding: 3px 10px; cursor: pointer; }
 #targets { opacity: .8; font-size: 90%; }
 #log { font-family: var(--vscode-editor-font-family); white-space: pre-wrap; word-break: break-all; }
 .expr { opacity: .7; margin-top: 4px; } .err { color: var(--vscode-errorForeground); }
 #monitorOut { border-left: 2px solid var(--vscode-focusBorder); padding-left: 4px; font-family: var(--vscode-editor-font-family); white-space: pre-wrap; }
</style></head>
<body>
 <div id="targets">no browser</div>
 <textarea id="expr" rows="2" placeholder="JavaScript (Enter: evaluate, Shift+Enter: new line, Up/Down: history)" aria-label="JavaScript expression"></textarea>
 <div class="row"><button id="run">Evaluate</button><label><input type="checkbox" id="monitor"> monitor</label></div>
 <div id="monitorOut" hidden></div>
 <div id="log" role="log"></div>
<script nonce="${n}">
 const vscode = acquireVsCodeApi();
 const st = vscode.getState() || { history: [] };
 let idx = st.history.length, draft = '';
 const $ = (id) => document.getElementById(id);
 const expr = $('expr'), log = $('log'), mon = $('monitor'), monOut = $('monitorOut');
 function run() {
   const e = expr.value.trim(); if (!e) return;
   if (st.history[st.history.length - 1] !== e) st.history.push(e);
   st.history = st.history.slice(-200); idx = st.history.length; vscode.setState(st);
   vscode.postMessage({ type: 'eval', expression: e });
   if (mon.checked) vscode.postMessage({ type: 'monitor', expression: e, on: true });
 }
 function line(results) {
   return results.map(r => (r.client ? r.client + ': ' : '') + (r.error !== undefined ? 'Error: ' + r.error : r.value));
 }
 $('run').onclick = run;
 mon.onchange = () => { monOut.hidden = !mon.checked; vscode.postMessage({ type: 'monitor', expression: expr.value.trim(), on: mon.checked }); };
 expr.addEventListener('keydown', (ev) => {
   if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); run(); }
   else if (ev.key === 'ArrowUp' && !expr.value.slice(0, expr.selectionStart).includes('\\n') && idx > 0) {
     if (idx === st.history.length) draft = expr.value; expr.value = st.history[--idx]; ev.preventDefault(); }
   else if (ev.key === 'ArrowDown' && !expr.value.slice(expr.selectionEnd).includes('\\n') && idx < st.history.length) {
     idx++; expr.value = idx === st.history.length ? draft : st.history[idx]; ev.preventDefault(); }
 });
 window.addEventListener('message', ({ data }) => {
   if (data.type === 'targets') { $('targets').textContent = 'in: ' + data.text; }
   else if (data.type === 'monitor') { monOut.textContent = data.expression + '\\n' + line(data.results).join('\\n'); }
   else if (data.type === 'result') {
     const d = document.createElement('div'); d.className = 'expr'; d.textContent = '> ' + data.expression; log.prepend(d);
     for (const r of data.results.slice().reverse()) {
       const o = document.createElement('div'); o.className = 'result' + (r.error !== undefined ? ' err' : '');
       o.textContent = line([r])[0]; d.after(o);
     }
   }
 });
 vscode.postMessage({ type: 'ready' });
</script></body></html>`;
}
