import { strict as assert } from 'assert';
import { test } from 'node:test';
import * as vscode from 'vscode';
import { BrowserEvalView, BrowsersProvider, type BrowserNode } from '../src/browsersView';
import { statusText } from '../src/status';
import { heldLines, HeldLineDecorations } from '../src/editorFeatures';
import { holdDescription, HoldsProvider, type HoldsNode } from '../src/holdsView';
import type { Hold, TraceContext, TraceSummary } from '../src/protocol';
import { TracesProvider } from '../src/tracesView';
import { holdDirectory, parseStatus, parseValue } from '../src/ui';

function hold(id: string, extra: Partial<Hold> = {}): Hold {
    return { id, number: 1, traceId: id, label: 'hold_check', function: 'GetHandler.get', file: '/app/demo.py', line: 71,
        since: 1000, age: 0, remaining: null, summary: { method: 'GET', uri: '/?number=77', remote_ip: '127.0.0.1' },
        webClient: null, ...extra };
}

/** A fake connection: holds, web clients, and canned answers to requests (counted). */
class FakeConn {
    state = 'connected';
    error = '';
    webClients: { name: string; since: number; url: string; userAgent: string }[] = [];
    requests: [string, any][] = [];
    target = { host: '127.0.0.1', port: 1 };
    constructor(public key: string, public label: string, public holds: Hold[], private answers: Record<string, (p: any) => unknown> = {}) {}
    async request(method: string, params: any): Promise<unknown> {
        this.requests.push([method, params]);
        const a = this.answers[method];
        if (!a) {
            throw new Error(`refused: ${method}`);
        }
        return a(params);
    }
    async refreshWebClients(): Promise<void> {}
}

/** A fake Connections: `all`, `connected`, `holds()`, `onDidChange`. */
class FakeConns {
    private emitter = new vscode.EventEmitter<{ conn: unknown; what: string }>();
    readonly onDidChange = this.emitter.event;
    constructor(public all: FakeConn[]) {}
    get connected() { return this.all.filter((c) => c.state === 'connected'); }
    holds() { return this.all.flatMap((conn) => conn.holds.map((h) => ({ conn, hold: h }))); }
    fire(what: string) { this.emitter.fire({ conn: this.all[0], what }); }
}

const context: TraceContext = { traceId: 'h1', where: 'get', stack: [], variables: [{ name: 'number', repr: "'77'", type: 'str' }] };

test('Held Requests: one node per hold, labelled, opening the holding line, variables fetched lazily once', async () => {
    const conn = new FakeConn('pid:1', 'demo.py (pid 1)', [hold('h1')], { 'otrace/context': () => context });
    const provider = new HoldsProvider(new FakeConns([conn]) as any, () => 1012);
    try {
        const roots = (await provider.getChildren()) as HoldsNode[];
        assert.equal(roots.length, 1);
        const item = provider.getTreeItem(roots[0]);
        assert.equal(item.label, 'GetHandler.get');
        assert.equal(item.description, 'hold_check · 12s · GET /?number=77 from 127.0.0.1');
        assert.equal(item.contextValue, 'hold');
        assert.deepEqual(item.command?.arguments, ['/app/demo.py', 71]);
        assert.equal(conn.requests.length, 0);                       // nothing fetched before expanding
        const kids = (await provider.getChildren(roots[0])) as HoldsNode[];
        const v = provider.getTreeItem(kids[0]);
        assert.equal(v.label, 'number');
        assert.equal(v.description, "'77'");
        await provider.getChildren(roots[0]);
        assert.deepEqual(conn.requests, [['otrace/context', { traceId: 'h1' }]]);
        assert.equal((await provider.getChildren())![0], roots[0]);   // same node object: view state kept
    } finally {
        provider.dispose();
    }
});

test('Held Requests: a countdown with hold_timeout, a browser action with a web client, grouping by process', async () => {
    assert.equal(holdDescription(hold('h', { age: 10, remaining: 20, summary: null }), 1015), 'hold_check · resumes in 15s');
    const a = new FakeConn('pid:1', 'a.py (pid 1)', [hold('h1', { webClient: 'user1' })]);
    const b = new FakeConn('pid:2', 'b.py (pid 2)', [hold('h2'), hold('h3')]);
    const provider = new HoldsProvider(new FakeConns([a, b]) as any, () => 1000);
    try {
        const procs = (await provider.getChildren()) as HoldsNode[];
        assert.deepEqual(procs.map((p) => provider.getTreeItem(p).label), ['a.py (pid 1)', 'b.py (pid 2)']);
        assert.equal(provider.getTreeItem(procs[1]).description, 'connected, 2 held');
        const [h1] = (await provider.getChildren(procs[0])) as HoldsNode[];
        assert.equal(provider.getTreeItem(h1).contextValue, 'hold.web');
        assert.equal(provider.getParent(h1), procs[0]);
    } finally {
        provider.dispose();
    }
});

test('Held Requests: a failed context fetch shows its one-line error and is retried next time', async () => {
    const conn = new FakeConn('pid:1', 'x', [hold('h1')]);
    const provider = new HoldsProvider(new FakeConns([conn]) as any);
    try {
        const [root] = (await provider.getChildren()) as HoldsNode[];
        const [msg] = (await provider.getChildren(root)) as HoldsNode[];
        assert.equal(provider.getTreeItem(msg).label, 'refused: otrace/context');
        await provider.getChildren(root);
        assert.equal(conn.requests.length, 2);
    } finally {
        provider.dispose();
    }
});

test('Trace Contexts: newest first, icon by type, exception text, opens the raising line', async () => {
    const traces: TraceSummary[] = [
        { traceId: 'f:ex:1', ctype: 'exceptions', label: 'ex', function: 'respond', file: '/app/demo.py', line: 82, timestamp: 10,
            held: false, saved: false, exception: 'ZeroDivisionError: float division by zero' },
        { traceId: 'f:as:2', ctype: 'asserts', label: 'check', function: 'get', file: '/app/demo.py', line: 71, timestamp: 20, held: false, saved: true },
        { traceId: 'f:ex:0', ctype: 'exceptions', label: 'ex', function: 'old', file: '', line: 0, timestamp: 5,
            held: false, saved: false, exception: { type: 'KeyError', message: "'k'" } },
    ];
    const conn = new FakeConn('pid:1', 'x', [], { 'otrace/traces': () => ({ traces }), 'otrace/context': () => context });
    const provider = new TracesProvider(new FakeConns([conn]) as any);
    try {
        const nodes = await provider.getChildren();
        const items = nodes.map((n) => provider.getTreeItem(n));
        assert.deepEqual(items.map((i) => i.label), ['get', 'respond', 'old']);
        assert.match(String(items[2].description), /^exceptions · KeyError: 'k' · /);
        assert.equal(items[2].command, undefined);             // no file: nothing to open
        assert.equal((items[1].iconPath as vscode.ThemeIcon).id, 'error');
        assert.match(String(items[1].description), /^exceptions · ZeroDivisionError: float division by zero · /);
        assert.deepEqual(items[1].command?.arguments, ['/app/demo.py', 82]);
        const kids = await provider.getChildren(nodes[0]);
        assert.equal(provider.getTreeItem(kids[0]).label, 'number');
    } finally {
        provider.dispose();
    }
});

test('Browsers: nodes per web client; JavaScript goes to the selection, else the only browser', async () => {
    const conn = new FakeConn('pid:1', 'chat', [], {
        'otrace/webEval': (p) => (p.client === 'user2' ? { error: 'ReferenceError: x is not defined' }
            : p.expression === 'evil' ? { value: 'a\x1b[2J\u202eb' } : { value: '"red"' }),
    });
    conn.webClients = [{ name: 'user1', since: 1, url: 'http://h/\x1b]0;t\x07', userAgent: 'UA\u202e' }];
    const browsers = new BrowsersProvider(new FakeConns([conn]) as any);
    let selection: BrowserNode[] = [];
    const panel = new BrowserEvalView(browsers, () => selection);
    try {
        const [node] = browsers.getChildren();
        assert.equal(browsers.getTreeItem(node).label, 'user1');
        assert.deepEqual(await panel.evaluate('document.body.style.background = "red"'), [{ client: 'user1', value: '"red"' }]);
        // the browser's text is shown escaped: its URL, user agent and answers
        assert.equal(browsers.getTreeItem(node).description, 'http://h/\\x1b]0;t\\x07');
        assert.equal(browsers.getTreeItem(node).tooltip, 'user1\nhttp://h/\\x1b]0;t\\x07\nUA\\u202e');
        assert.deepEqual(await panel.evaluate('evil'), [{ client: 'user1', value: 'a\\x1b[2J\\u202eb' }]);
        conn.webClients = [{ name: 'user1', since: 1, url: 'http://h/', userAgent: 'UA' },
            { name: 'user2', since: 2, url: 'http://h/', userAgent: 'UA' }];
        assert.throws(() => panel.targets(), /select the browser\(s\)/);
        selection = browsers.getChildren();
        assert.deepEqual(await panel.evaluate('x'), [{ client: 'user1', value: '"red"' }, { client: 'user2', error: 'ReferenceError: x is not defined' }]);
        conn.webClients = [];
        assert.deepEqual(await (selection = [], panel.evaluate('1')), [{ client: '', error: 'no browser is connected to /osh/web' }]);
    } finally {
        panel.dispose();
        browsers.dispose();
    }
});

test('status text, held lines, resume inputs and hold directories', () => {
    assert.equal(statusText([]), '$(debug-disconnect) otrace');
    assert.equal(statusText([{ state: 'connected', holds: [] }]), '$(pass) otrace: attached');
    assert.equal(statusText([{ state: 'connected', holds: [1] }, { state: 'connected', holds: [2, 3] }]), '$(debug-pause) otrace: 3 held (2 processes)');
    assert.equal(statusText([{ state: 'reconnecting', holds: [1] }]), '$(sync~spin) otrace: reconnecting');
    const lines = heldLines([{ conn: {} as any, hold: hold('a') }, { conn: {} as any, hold: hold('b') }, { conn: {} as any, hold: hold('c', { file: '/other.py' }) }], '/app/demo.py');
    assert.deepEqual([...lines.keys()], [70]);
    assert.equal(lines.get(70)!.length, 2);
    assert.equal(parseValue('5'), 5);
    assert.equal(parseValue('abc'), 'abc');
    assert.deepEqual(parseStatus('503 Service Unavailable'), { status: 503, reason: 'Service Unavailable' });
    assert.deepEqual(parseStatus('404'), { status: 404 });
    assert.throws(() => parseStatus('99'), /100 to 599/);
    assert.equal(holdDirectory('GetHandler.get:hd-hold_check:21-06-24'), '/osh/recent/holds/GetHandler.get/hd-hold_check/21-06-24');
});

test('hovering a held line offers Resume (and Resume all for several holds) as trusted command links', () => {
    const conns = new FakeConns([new FakeConn('pid:1', 'x', [hold('a:1'), hold('b:2')])]);
    const doc = { uri: { fsPath: '/app/demo.py' }, lineAt: () => ({ text: 'await traceassert(...)' }) };
    const hover = HeldLineDecorations.prototype.provideHover.call({ conns } as any, doc as any, new vscode.Position(70, 3) as any)!;
    const md = hover.contents as unknown as vscode.MarkdownString;
    const links = [...md.value.matchAll(/\[([^\]]+)\]\(command:([\w.]+)\?([^)]+)\)/g)].map((m) => [m[1], m[2], JSON.parse(decodeURIComponent(m[3]))]);
    assert.deepEqual(links, [
        ['Resume', 'otrace.holds.resume', ['a:1']],
        ['Resume', 'otrace.holds.resume', ['b:2']],
        ['Resume all 2', 'otrace.holds.resume', [['a:1', 'b:2']]],
    ]);
    assert.deepEqual(md.isTrusted, { enabledCommands: ['otrace.holds.resume'] });
    assert.equal(HeldLineDecorations.prototype.provideHover.call({ conns } as any, doc as any, new vscode.Position(5, 0) as any), undefined);
});
