import { strict as assert } from 'assert';
import { test } from 'node:test';
import * as vscode from 'vscode';
import { BrowserEvalView, BrowsersProvider, type BrowserNode } from '../src/browsersView';
import { statusText } from '../src/status';
import { heldLines, HeldLineDecorations, REMOVE_LIVE_HOLD } from '../src/editorFeatures';
import { holdDescription, HoldsProvider, type HoldsNode } from '../src/holdsView';
import { Answering } from './fakes';
import type { Hold, TraceContext, TraceSummary } from '../src/protocol';
import { contextKind, TracesProvider } from '../src/tracesView';
import { holdDirectory, isSafeModeRefusal, parseException, parseStatus, parseValue } from '../src/ui';

function hold(id: string, extra: Partial<Hold> = {}): Hold {
    return { id, number: 1, traceId: id, label: 'hold_check', function: 'GetHandler.get', file: '/app/demo.py', line: 71,
        since: 1000, age: 0, remaining: null, summary: { method: 'GET', uri: '/?number=77', remote_ip: '127.0.0.1' },
        webClient: null, ...extra };
}

/** A fake connection: holds, web clients, and canned answers to requests (counted). */
class FakeConn extends Answering {
    state = 'connected';
    error = '';
    webClients: { name: string; since: number; url: string; userAgent: string }[] = [];
    liveHolds: any[] = [];
    target = { host: '127.0.0.1', port: 1 };
    constructor(public key: string, public label: string, public holds: Hold[], answers: Record<string, (p: any) => unknown> = {}) {
        super(answers);
    }
    async refreshWebClients(): Promise<void> {}
}

/** A fake Connections: `all`, `connected`, `holds()`, `onDidChange`. */
class FakeConns {
    private emitter = new vscode.EventEmitter<{ conn: unknown; what: string }>();
    readonly onDidChange = this.emitter.event;
    constructor(public all: FakeConn[]) {}
    get connected() { return this.all.filter((c) => c.state === 'connected'); }
    holds() { return this.all.flatMap((conn) => conn.holds.map((h) => ({ conn, hold: h }))).sort((a, b) => a.hold.since - b.hold.since); }
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
        assert.equal(item.label, 'GET /?number=77');                 // the request first: not cut off
        assert.equal(item.description, 'hold_check · 12s · GetHandler.get · from 127.0.0.1');
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
    assert.equal(holdDescription(hold('h', { clientGone: true, summary: { method: 'GET', uri: '/', user: 'alice' } }), 1000),
        'client gone · hold_check · 0s · GetHandler.get · as alice');
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
        assert.match(String(items[2].description), /^exception · KeyError: 'k' · /);
        assert.equal(items[2].command, undefined);             // no file: nothing to open
        assert.equal((items[1].iconPath as vscode.ThemeIcon).id, 'error');
        assert.match(String(items[1].description), /^exception · ZeroDivisionError: float division by zero · /);
        assert.deepEqual(items[1].command?.arguments, ['/app/demo.py', 82]);
        const kids = await provider.getChildren(nodes[0]);
        assert.equal(provider.getTreeItem(kids[0]).label, 'number');
        provider.clear();                                          // this view only: newer contexts appear
        assert.deepEqual(await provider.getChildren(), []);
        traces.push({ traceId: 'f:hd-x:3', ctype: 'holds', label: 'hold_check', function: 'get', file: '/app/demo.py', line: 71,
            timestamp: 30, held: false, saved: false });
        const [resumed] = await provider.getChildren();
        assert.equal((provider.getTreeItem(resumed).iconPath as vscode.ThemeIcon).id, 'debug-continue');
        assert.match(String(provider.getTreeItem(resumed).description), /^resumed · hold_check · /);
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
    assert.equal(statusText([{ state: 'connected', holds: [], safeMode: true }]), '$(pass) otrace: attached · $(lock) safe mode');
    assert.equal(statusText([{ state: 'connected', holds: [1], safeMode: true }, { state: 'connected', holds: [2, 3], safeMode: false }]),
        '$(debug-pause) otrace: 3 held (2 processes) · $(unlock) code execution allowed in 1 of 2');
    assert.equal(statusText([{ state: 'connected', holds: [], safeMode: false }]), '$(pass) otrace: attached · $(unlock) code execution allowed');
    assert.equal(statusText([{ state: 'reconnecting', holds: [1] }, { state: 'connecting', holds: [] }]), '$(sync~spin) otrace: reconnecting');
    assert.equal(statusText([{ state: 'connecting', holds: [] }]), '$(sync~spin) otrace: connecting');   // the first connect
    const lines = heldLines([{ conn: {} as any, hold: hold('a') }, { conn: {} as any, hold: hold('b') }, { conn: {} as any, hold: hold('c', { file: '/other.py' }) }], '/app/demo.py');
    assert.deepEqual([...lines.keys()], [70]);
    assert.equal(lines.get(70)!.length, 2);
    assert.equal(parseValue('5'), 5);
    assert.equal(parseValue('abc'), 'abc');
    assert.deepEqual(parseStatus('503 Service Unavailable', [200, 599]), { status: 503, reason: 'Service Unavailable' });
    assert.deepEqual(parseStatus('404', [200, 599]), { status: 404 });
    assert.throws(() => parseStatus('101', [200, 599]), /from 200 to 599/);   // the server's statusRange
    assert.deepEqual(parseStatus('101', [100, 599]), { status: 101 });
    assert.equal(parseException(' myapp.errors.Conflict: taken '), 'myapp.errors.Conflict: taken');   // sent as typed
    assert.equal(parseException('KeyError'), 'KeyError');
    assert.throws(() => parseException('not an exception: x'), /an exception name/);
    assert.throws(() => parseException(''), /an exception name/);
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
    assert.deepEqual(md.isTrusted, { enabledCommands: ['otrace.holds.resume', REMOVE_LIVE_HOLD] });
    assert.ok(!md.value.includes('[pid'));         // one process attached: no process label
    const two = new FakeConns([new FakeConn('pid:1', 'x', [hold('a:1')]), new FakeConn('pid:2', 'y', [hold('c:3')])]);
    two.all[0].target = { ...two.all[0].target, pid: 1 } as any;
    const both = (HeldLineDecorations.prototype.provideHover.call({ conns: two } as any, doc as any, new vscode.Position(70, 3) as any)!
        .contents as unknown as vscode.MarkdownString).value;
    assert.ok(both.startsWith('\\[pid 1\\] $(debug-pause)'), both);   // several processes: each hold says whose it is
    assert.ok(both.includes('\\[y\\] $(debug-pause)'), both);
    assert.equal(HeldLineDecorations.prototype.provideHover.call({ conns } as any, doc as any, new vscode.Position(5, 0) as any), undefined);
});

test('Held Requests: a holds change that leaves the rows as they are redraws nothing (a click on a row keeps its row)', async () => {
    const conn = new FakeConn('pid:1', 'demo.py (pid 1)', [hold('h1'), hold('h2')]);
    const conns = new FakeConns([conn]);
    const provider = new HoldsProvider(conns as any, () => 1000);
    let redraws = 0;
    const sub = provider.onDidChangeTreeData(() => { redraws++; });
    try {
        conns.fire('holds');                        // first change: drawn
        assert.equal(redraws, 1);
        conns.fire('holds');                        // the same holds again (reply and notification)
        assert.equal(redraws, 1);
        conn.holds = [hold('h2')];                  // one resumed: drawn
        conns.fire('holds');
        assert.equal(redraws, 2);
        conn.holds = [{ ...hold('h2'), clientGone: true }];   // its client left: its row changes
        conns.fire('holds');
        assert.equal(redraws, 3);
        conns.fire('patches');                      // other changes always redraw
        assert.equal(redraws, 4);
    } finally {
        sub.dispose();
        provider.dispose();
    }
});

test('Live holds: a node per process above its holds, a row per live hold with its line, removable, and its line\'s hover', async () => {
    const conn = new FakeConn('pid:1', 'demo.py (pid 1)', [hold('h1')]);
    conn.liveHolds = [{ name: 'GetHandler.get', since: 5, liveHold: { label: 'live_get_66', file: '/app/demo.py', line: 66 } }];
    const conns = new FakeConns([conn]);
    const provider = new HoldsProvider(conns as any, () => 1000);
    try {
        const roots = (await provider.getChildren()) as HoldsNode[];
        assert.deepEqual(roots.map((n) => n.kind), ['liveHolds', 'hold']);
        assert.equal(provider.getTreeItem(roots[0]).label, 'Live holds');
        const [row] = (await provider.getChildren(roots[0])) as HoldsNode[];
        const item = provider.getTreeItem(row);
        assert.equal(item.label, 'demo.py:66');
        assert.equal(item.description, 'GetHandler.get · live_get_66');
        assert.equal(item.contextValue, 'liveHold');                  // its inline and context menu "Remove Live Hold"
        assert.deepEqual(item.command?.arguments, ['/app/demo.py', 66]);
        assert.equal(provider.getParent(row), roots[0]);
        conn.liveHolds = [];
        assert.deepEqual(((await provider.getChildren()) as HoldsNode[]).map((n) => n.kind), ['hold']);
    } finally {
        provider.dispose();
    }
    conn.liveHolds = [{ name: 'GetHandler.get', since: 5, liveHold: { label: 'live_get_66', file: '/app/demo.py', line: 66 } }];
    const doc = { uri: { fsPath: '/app/demo.py' }, lineAt: () => ({ text: 'x = 1' }) };
    const hover = HeldLineDecorations.prototype.provideHover.call({ conns } as any, doc as any, new vscode.Position(65, 0) as any)!;
    const md = hover.contents as unknown as vscode.MarkdownString;
    const links = [...md.value.matchAll(/\[([^\]]+)\]\(command:([\w.]+)\?([^)]+)\)/g)].map((m) => [m[1], m[2], JSON.parse(decodeURIComponent(m[3]))]);
    assert.deepEqual(links, [['Remove live hold', REMOVE_LIVE_HOLD, ['pid:1', 'GetHandler.get']]]);
    assert.ok(isSafeModeRefusal('exec: refused in safe mode; set safe_mode False to allow it'));
    assert.ok(!isSafeModeRefusal('unknown trace id'));
});

test('Trace Contexts say what each context is: held, resumed, exception, snapshot', () => {
    const t = (extra: Partial<TraceSummary>): TraceSummary => ({ traceId: 'a:b:c', ctype: 'holds', label: 'hold_check', function: 'get',
        file: '', line: 0, timestamp: 1, held: false, saved: false, ...extra });
    assert.deepEqual([t({ held: true }), t({}), t({ ctype: 'exceptions' }), t({ ctype: 'traces', label: 'snapshot_respond_75' }), t({ ctype: 'traces' })]
        .map((x) => [contextKind(x).word, contextKind(x).icon]),
    [['held', 'debug-pause'], ['resumed', 'debug-continue'], ['exception', 'error'], ['snapshot', 'device-camera'], ['trace', 'pulse']]);
});

test('Held Requests: a fleet is one group, every worker\'s holds in one list, oldest first, each led by its worker', async () => {
    const fleet = { id: 'ppid-100', name: 'torna_fleet.py' };
    const worker = (pid: number, holds: Hold[]) => Object.assign(new FakeConn(`pid:${pid}`, `torna_fleet.py (pid ${pid})`, holds),
        { target: { host: '127.0.0.1', port: pid, pid, fleet } });
    const w1 = worker(101, [hold('a:1', { since: 1003 })]);
    const w2 = worker(102, [hold('b:1', { since: 1001 }), hold('b:2', { since: 1005 })]);
    const alone = new FakeConn('pid:9', 'other.py (pid 9)', [hold('c:1')]);
    const provider = new HoldsProvider(new FakeConns([w1, w2]) as any, () => 1010);
    try {
        const rows = (await provider.getChildren()) as HoldsNode[];            // the fleet alone: its rows at the top
        assert.deepEqual(rows.map((r) => (r.kind === 'hold' ? r.hold.id : r.kind)), ['b:1', 'a:1', 'b:2']);
        assert.equal(provider.getTreeItem(rows[0]).description, 'worker 102 · hold_check · 9s · GetHandler.get · from 127.0.0.1');
        assert.match(String(provider.getTreeItem(rows[1]).description), /^worker 101 · /);
    } finally {
        provider.dispose();
    }
    const mixed = new HoldsProvider(new FakeConns([w1, alone, w2]) as any, () => 1010);
    try {
        const groups = (await mixed.getChildren()) as HoldsNode[];              // a fleet and a process: one node each
        assert.deepEqual(groups.map((g) => mixed.getTreeItem(g).label), ['torna_fleet.py — fleet of 2 workers', 'other.py (pid 9)']);
        assert.equal(mixed.getTreeItem(groups[0]).description, '3 held');
        const held = (await mixed.getChildren(groups[0])) as HoldsNode[];
        assert.equal(held.length, 3);
        assert.equal(mixed.getParent(held[0]), groups[0]);
        assert.equal(mixed.getTreeItem(((await mixed.getChildren(groups[1])) as HoldsNode[])[0]).description,
            'hold_check · 10s · GetHandler.get · from 127.0.0.1');              // a process alone: no worker label
    } finally {
        mixed.dispose();
    }
});

test('Trace Contexts: the same trace id in two workers of a fleet is two rows, each led by its worker', async () => {
    const fleet = { id: 'ppid-100', name: 'torna_fleet.py' };
    const trace: TraceSummary = { traceId: 'g:ex:1', ctype: 'exceptions', label: 'ex', function: 'respond', file: '/app/demo.py', line: 82,
        timestamp: 10, held: false, saved: false, exception: 'ZeroDivisionError: float division by zero' };
    const worker = (pid: number) => Object.assign(new FakeConn(`pid:${pid}`, `w${pid}`, [], { 'otrace/traces': () => ({ traces: [trace] }),
        'otrace/context': () => context }), { target: { host: '127.0.0.1', port: pid, pid, fleet } });
    const provider = new TracesProvider(new FakeConns([worker(101), worker(102)]) as any);
    try {
        const nodes = await provider.getChildren();
        const items = nodes.map((n) => provider.getTreeItem(n));
        assert.deepEqual(items.map((i) => String(i.description).split(' · ')[0]).sort(), ['worker 101', 'worker 102']);
        assert.equal(new Set(items.map((i) => i.id)).size, 2);
        const kids = await Promise.all(nodes.map((n) => provider.getChildren(n)));
        assert.equal(new Set(kids.map((k) => provider.getTreeItem(k[0]).id)).size, 2);   // their variables too
    } finally {
        provider.dispose();
    }
});
