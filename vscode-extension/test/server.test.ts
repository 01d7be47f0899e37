/**
 * vscode-jsonrpc against the REAL language server of demos/torna_trace.py (started here with its own
 * discovery directory): the discovery file leads to the server, the token initializes, the object
 * shell answers, a held request is seen and resumed, and a wrong token is refused with -32004.
 * Needs the project's Python (OTRACE_PYTHON, default ../.venv/bin/python).
 */
import { strict as assert } from 'assert';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { after, before, test } from 'node:test';
import { createMessageConnection, MessageConnection, SocketMessageReader, SocketMessageWriter } from 'vscode-jsonrpc/node';
import { listProcesses, type ProcessInfo } from '../src/discovery';
import type { CommandResult, Hold, HoldsPage } from '../src/protocol';
import { HeldList, loadHolds } from '../src/heldList';
import { OTraceConsole } from '../src/console';
import { registerCommands, type Parts } from '../src/commands';
import type { Ui } from '../src/ui';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PYTHON = process.env.OTRACE_PYTHON || path.join(ROOT, '.venv', 'bin', 'python');
let demo: ChildProcess;
let info: ProcessInfo;
let httpPort = 0;
const open: MessageConnection[] = [];

function connect(p: ProcessInfo): Promise<MessageConnection> {
    return new Promise((resolve, reject) => {
        const sock = net.connect(p.lspPort, p.host, () => {
            const c = createMessageConnection(new SocketMessageReader(sock), new SocketMessageWriter(sock));
            c.listen();
            open.push(c);
            resolve(c);
        });
        sock.once('error', reject);
    });
}

function initialize(c: MessageConnection, token: string): Promise<any> {
    return c.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {},
        clientInfo: { name: 'node-test' }, initializationOptions: { token } });
}

before(async () => {
    const xdg = fs.mkdtempSync(path.join(os.tmpdir(), 'otrace-xdg-'));
    demo = spawn(PYTHON, [path.join(ROOT, 'demos', 'torna_trace.py'), '--port', '0', '--exit-on-stdin-eof'],
        { env: { ...process.env, XDG_RUNTIME_DIR: xdg, PYTHONPATH: ROOT }, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`demo did not start: ${out}`)), 20000);
        demo.stdout!.on('data', (d) => {
            out += d;
            const m = /Listening on http:\/\/[\d.]+:(\d+)/.exec(out);
            if (m && /otrace language server/.test(out)) {
                httpPort = Number(m[1]);
                clearTimeout(timer);
                resolve();
            }
        });
        demo.once('exit', () => reject(new Error(`demo exited: ${out}`)));
    });
    const found = listProcesses(path.join(xdg, 'otrace'));
    assert.equal(found.length, 1);
    info = found[0];
    assert.equal(info.pid, demo.pid);
});

after(() => {
    open.forEach((c) => c.dispose());
    demo?.stdin?.end();
});

test('the discovery token initializes; the shell answers ls; a hold is seen and resumed', { timeout: 30000 }, async () => {
    const c = await connect(info);
    const init = await initialize(c, info.token);
    assert.equal(init.serverInfo.name, 'otrace-server');
    assert.equal(init.otrace.pid, info.pid);
    c.sendNotification('initialized', {});
    const ls = await c.sendRequest<CommandResult>('otrace/command', { line: 'ls' });
    assert.equal(ls.error, false);
    assert.match(ls.output, /GetHandler/);
    assert.equal(ls.prompt, 'globals> ');
    const completion = await c.sendRequest<{ items: string[] }>('otrace/complete', { line: 'Request_st' });
    assert.deepEqual(completion.items, ['Request_stats']);

    const started = new Promise<Hold>((resolve) => c.onNotification('otrace/holdStarted', resolve));
    const body = new Promise<string>((resolve, reject) => http.get(`http://127.0.0.1:${httpPort}/?number=77`, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
    }).on('error', reject));
    const h = await started;
    assert.equal(h.label, 'hold_check');
    assert.deepEqual((await c.sendRequest<{ holds: Hold[] }>('otrace/holds')).holds.map((x) => x.id), [h.id]);
    assert.deepEqual(await c.sendRequest('otrace/resume', { ids: [h.id], value: 4 }), { resumed: [h.id] });
    assert.match(await body, /The reciprocal of 4\.0 is 0\.25/);
});

test('a wrong token is refused with -32004', { timeout: 15000 }, async () => {
    const c = await connect(info);
    await assert.rejects(initialize(c, 'not-the-token'), (e: any) => e.code === -32004 && /token/i.test(e.message));
});

test('the console: prompt, a command, TAB completion, its own shell session', { timeout: 20000 }, async () => {
    const fake = { label: 'demo', target: { host: info.host, port: info.lspPort, token: info.token } };
    const consoles = [new OTraceConsole([fake] as any), new OTraceConsole([fake] as any, 'cd /osh/recent')];
    const screens = consoles.map((c) => {
        const screen = { text: '' };
        c.onDidWrite((d) => (screen.text += d));
        c.open();
        return screen;
    });
    const until = async (i: number, re: RegExp) => {
        for (let n = 0; n < 200 && !re.test(screens[i].text); n++) {
            await new Promise((r) => setTimeout(r, 25));
        }
        assert.match(screens[i].text, re);
    };
    try {
        await until(0, /globals> $/);
        await until(1, /recent> $/);                       // the second console has its own cwd
        consoles[0].handleInput('ls\r');
        await until(0, /Request_stats[\s\S]*globals> $/);
        consoles[0].handleInput('Request_st\t');
        await until(0, /globals> Request_stats $/);        // completed from otrace/complete
        consoles[0].handleInput('\r');
        await until(0, /'count': /);
        consoles[1].handleInput('pwd\r');
        await until(1, /\/osh\/recent\r\n/);
        assert.doesNotMatch(screens[0].text, /\/osh\/recent\r\n/);
    } finally {
        consoles.forEach((c) => c.close());
    }
});

test('a fleet console sends each line to every worker, each output led by [pid N]', { timeout: 20000 }, async () => {
    // two sessions of the real server stand in for two workers of a fleet (their pids as the fleet's)
    const worker = (pid: number) => ({ label: `demo (pid ${pid})`, target: { host: info.host, port: info.lspPort, token: info.token, pid } });
    const console = new OTraceConsole([worker(101), worker(102)] as any, undefined, { id: 'f', name: 'torna_fleet.py' });
    let screen = '';
    console.onDidWrite((d) => (screen += d));
    console.open();
    const until = async (re: RegExp) => {
        for (let n = 0; n < 200 && !re.test(screen); n++) {
            await new Promise((r) => setTimeout(r, 25));
        }
        assert.match(screen, re);
    };
    try {
        await until(/torna_fleet\.py — fleet of 2 workers: each line goes to every worker[\s\S]*globals> $/);
        console.handleInput('pwd\r');
        await until(/\[pid 101\] \/osh\/globals\r\n\[pid 102\] \/osh\/globals\r\n[\s\S]*globals> $/);
    } finally {
        console.close();
    }
});

/** The part of OTraceConnection the commands use, over a plain vscode-jsonrpc connection to the real server. */
class RpcConn {
    state = 'connected';
    holds: Hold[] = [];
    key = `pid:${info.pid}`;
    label = 'demo';
    statusRange: [number, number] = [200, 599];
    target = { host: info.host, port: info.lspPort, token: info.token };
    constructor(private readonly c: MessageConnection) {}
    request<T>(method: string, params: object = {}): Promise<T> {
        return this.c.sendRequest<T>(method, params).catch((e: Error) => { throw new Error(e.message); });
    }
    resume(params: object): Promise<{ resumed: string[] }> { return this.request('otrace/resume', params); }
    async refreshHolds(): Promise<void> { this.holds = (await this.request<{ holds: Hold[] }>('otrace/holds')).holds; }
    forget(ids: string[]): void { this.holds = this.holds.filter((h) => !ids.includes(h.id)); }
}

/** A scripted Ui: answers prompts from `answers`, records messages. */
function scriptedUi(answers: string[]): Ui & { errors: string[]; infos: string[] } {
    const ui = {
        errors: [] as string[], infos: [] as string[],
        info: (m: string) => void ui.infos.push(m),
        error: (m: string) => void ui.errors.push(m),
        input: async (_p: string, _ph?: string, validate?: (v: string) => string | undefined) => {
            const a = answers.shift();
            const problem = a === undefined ? undefined : validate?.(a);
            if (problem) {
                ui.errors.push(`invalid input: ${problem}`);
                return undefined;                    // what the input box does: it cannot be accepted
            }
            return a;
        },
        pick: async () => undefined,
    };
    return ui as any;
}

function getRequest(query: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => http.get(`http://127.0.0.1:${httpPort}/${query}`, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject));
}

test('Held Requests commands on the real server: resume all, with a value, with a status; bad input and no process said in one line', { timeout: 30000 }, async () => {
    const vscode = require('vscode');
    const c = await connect(info);
    await initialize(c, info.token);
    c.sendNotification('initialized', {});
    const conn = new RpcConn(c);
    const list: RpcConn[] = [];
    const conns = {
        get all() { return list; }, get connected() { return list; }, get: (k: string) => list.find((x) => x.key === k),
        holds: () => list.flatMap((x) => x.holds.map((hold) => ({ conn: x, hold }))),
        ownerOf: (id: string) => list.flatMap((x) => x.holds.map((hold) => ({ conn: x, hold }))).find((h) => h.hold.id === id),
    };
    const ui = scriptedUi([]);
    const parts = { conns, ui } as unknown as Parts;
    const disposables = registerCommands(parts, { selection: [] } as any);
    const run = (id: string, ...args: unknown[]) => vscode.__commands.get(id)(...args);
    const holdOne = async (query: string) => {   // the demo holds ?number=77 only
        const started = new Promise<Hold>((resolve) => c.onNotification('otrace/holdStarted', resolve));
        const response = getRequest(query);
        const h = await started;
        await conn.refreshHolds();
        return { h, response };
    };
    try {
        await run('otrace.holds.resumeAll');                          // nothing attached
        assert.deepEqual(ui.errors, ['not attached to a process: run "otrace: Attach to Process..." first']);
        list.push(conn);
        await run('otrace.holds.resumeAll');                          // attached, nothing held
        assert.deepEqual(ui.infos, ['no request is held']);

        let { h, response } = await holdOne('?number=77');
        (ui as any).input = scriptedUi(['4']).input;
        await run('otrace.holds.resumeValue', h.id);
        assert.match((await response).body, /The reciprocal of 4\.0 is 0\.25/);
        assert.deepEqual(conn.holds, []);

        ({ h, response } = await holdOne('?number=77'));
        const statusUi = scriptedUi(['42 nope', '503 Busy']);
        (ui as any).input = statusUi.input;
        await run('otrace.holds.answerStatus', h.id);                 // 42: refused by the input box
        assert.deepEqual(statusUi.errors, ['invalid input: an HTTP status is a number from 200 to 599, optionally followed by a reason']);
        assert.equal(conn.holds.length, 1);                           // still held
        await run('otrace.holds.answerStatus', h.id);
        assert.equal((await response).status, 503);

        ui.errors.length = 0;
        await run('otrace.holds.resume', h.id);                       // resumed already
        assert.deepEqual(ui.errors, ['that request is no longer held']);
        ui.infos.length = 0;
        ({ h, response } = await holdOne('?number=77'));
        await run('otrace.holds.resumeAll');
        assert.match((await response).body, /The reciprocal of 77\.0/);
        assert.deepEqual(ui.infos, []);
    } finally {
        disposables.forEach((d) => d.dispose());
        await c.sendRequest('otrace/resume', { all: true }).catch(() => undefined);
    }
});

test('a console that cannot open (wrong token, nothing listening) says why in one line and what to do', { timeout: 20000 }, async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const targets = [{ host: info.host, port: info.lspPort, token: 'not-the-token' }, { host: '127.0.0.1', port: deadPort, token: 'x' }];
    for (const target of targets) {
        const console = new OTraceConsole([{ label: 'demo', target }] as any);
        let text = '';
        console.onDidWrite((d) => (text += d));
        console.open();
        for (let n = 0; n < 200 && !/open a new console/.test(text); n++) {
            await new Promise((r) => setTimeout(r, 25));
        }
        console.close();
        const lines = text.split('\r\n').filter(Boolean);
        assert.equal(lines.length, 3, text);                                    // banner, error, what to do
        assert.match(lines[1], target.port === deadPort ? /^error: cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED/ : /^error: .*token/i);
        assert.match(lines[2], /close this terminal and open a new console/);
    }
});

test('Held Requests load in otrace/holds pages and are kept from the notifications (HeldList, real server)', { timeout: 30000 }, async () => {
    const c = await connect(info);
    await initialize(c, info.token);
    c.sendNotification('initialized', {});
    const list = new HeldList();
    c.onNotification('otrace/holdStarted', (p: Hold) => list.started(p));
    c.onNotification('otrace/holdResumed', (p: { id: string }) => void list.resumed([p.id]));
    c.onNotification('otrace/holdsResumed', (p: { holds: { id: string }[] }) => void list.resumed(p.holds.map((h) => h.id)));
    const responses = [1, 2, 3, 4, 5].map((i) => getRequest(`?number=77&n=${i}`));
    const held = async (n: number) => {
        for (let i = 0; i < 200 && (await c.sendRequest<HoldsPage>('otrace/holds', { limit: 1 })).total !== n; i++) {
            await new Promise((r) => setTimeout(r, 25));
        }
    };
    await held(5);
    const pages: object[] = [];
    await loadHolds((params) => { pages.push(params); return c.sendRequest<HoldsPage>('otrace/holds', params); }, list, 2);
    const all = (await c.sendRequest<HoldsPage>('otrace/holds')).holds;
    assert.deepEqual(list.holds.map((h) => h.id), all.map((h) => h.id));          // oldest first, each once
    assert.equal(pages.length, 3);                                                  // 2 + 2 + 1
    assert.deepEqual(pages[1], { limit: 2, after: all[1].number });
    await c.sendRequest('otrace/resume', { ids: [all[0].id, all[3].id] });
    const more = getRequest('?number=77&n=6');
    for (let i = 0; i < 200 && list.size !== 4; i++) {
        await new Promise((r) => setTimeout(r, 25));
    }
    const now = (await c.sendRequest<HoldsPage>('otrace/holds')).holds;
    assert.deepEqual(list.holds.map((h) => h.id), now.map((h) => h.id));          // kept from notifications alone
    await c.sendRequest('otrace/resume', { all: true });
    await Promise.all([...responses, more]);
});
