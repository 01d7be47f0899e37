import { readableThreadName, rewriteAdapterMessage } from '../src/debugMessages';
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'node:test';
import * as vscode from 'vscode';
import { configuredPid, defaultAttachConfiguration, OTraceDebugAdapterFactory, OTraceDebugConfigurationProvider, type DebugEnv } from '../src/debug';
import { listProcesses, parseDiscovery, type ProcessInfo } from '../src/discovery';

function proc(pid: number, cwd: string, dapPort: number | null = 6000 + pid): ProcessInfo {
    return parseDiscovery(JSON.stringify({ pid, argv: [`${cwd}/app.py`], cwd, host: '127.0.0.2', lsp_port: 5000 + pid,
        dap_port: dapPort, token: `secret-${pid}`, started: pid }), `/d/otrace-${pid}.json`)!;
}

/** A scripted world: processes, workspace folders, a quick pick answering `choose` and the errors shown. */
function world(procs: ProcessInfo[], folders: string[], choose?: (labels: string[]) => string | undefined, attached: number[] = []) {
    const errors: string[] = [];
    const picks: string[][] = [];
    const env: DebugEnv = {
        processes: () => procs,
        folders: () => folders,
        attached: () => attached,
        ui: {
            info: () => undefined,
            error: (m) => { errors.push(m); },
            input: async () => undefined,
            pick: async (items) => {
                const labels = items.map((i) => i.label);
                picks.push(labels);
                const label = choose?.(labels);
                return items.find((i) => i.label === label);
            },
        },
    };
    return { provider: new OTraceDebugConfigurationProvider(env), errors, picks };
}

const resolve = (p: OTraceDebugConfigurationProvider, config: vscode.DebugConfiguration) =>
    p.resolveDebugConfigurationWithSubstitutedVariables(undefined, config);

test('the process of the workspace is attached without a pick; host, DAP port and token come from discovery', async () => {
    const { provider, errors, picks } = world([proc(11, '/other'), proc(12, '/ws')], ['/ws']);
    const cfg = await resolve(provider, { ...defaultAttachConfiguration(), token: 'typed-in-launch-json' });
    assert.deepEqual(cfg, { type: 'otrace', request: 'attach', name: 'otrace: Attach', pid: 12, host: '127.0.0.2',
        dapPort: 6012, token: 'secret-12' });   // the discovery token wins over one written in launch.json
    assert.deepEqual(picks, []);
    assert.deepEqual(errors, []);
});

test('the only attached process is debugged without a pick, even when two run from the workspace', async () => {
    const { provider, errors, picks } = world([proc(31, '/ws'), proc(32, '/ws')], ['/ws'], undefined, [32]);
    const cfg = await resolve(provider, defaultAttachConfiguration());
    assert.equal(cfg?.pid, 32);
    assert.equal(cfg?.dapPort, 6032);
    assert.deepEqual(picks, []);
    assert.deepEqual(errors, []);
});

test('several attached processes: the quick pick lists those only', async () => {
    const chosen = world([proc(41, '/ws'), proc(42, '/ws'), proc(43, '/ws')], ['/ws'], (labels) => labels[1], [41, 43]);
    const cfg = await resolve(chosen.provider, defaultAttachConfiguration());
    assert.deepEqual(chosen.picks, [['app.py (pid 41)', 'app.py (pid 43)']]);
    assert.equal(cfg?.pid, 43);
});

test('several processes and none from the workspace: a quick pick like Attach to Process; cancel aborts', async () => {
    const procs = [proc(21, '/a'), proc(22, '/b')];
    const chosen = world(procs, ['/ws'], (labels) => labels[1]);
    const cfg = await resolve(chosen.provider, defaultAttachConfiguration());
    assert.deepEqual(chosen.picks, [['app.py (pid 21)', 'app.py (pid 22)']]);
    assert.equal(cfg?.pid, 22);
    assert.equal(cfg?.token, 'secret-22');
    const cancelled = world(procs, ['/ws'], () => undefined);
    assert.equal(await resolve(cancelled.provider, defaultAttachConfiguration()), undefined);
    assert.deepEqual(cancelled.errors, []);   // a cancel is not an error
});

test('"pid" (a number, or text from ${command:otrace.pickProcess}) selects that process', async () => {
    const { provider, picks } = world([proc(31, '/ws'), proc(32, '/ws')], ['/ws']);
    assert.equal((await resolve(provider, { ...defaultAttachConfiguration(), pid: 32 }))?.dapPort, 6032);
    assert.equal((await resolve(provider, { ...defaultAttachConfiguration(), pid: ' 31 ' }))?.token, 'secret-31');
    assert.deepEqual(picks, []);
    assert.equal(configuredPid(''), undefined);
    assert.throws(() => configuredPid('${command:pickProcess}'), /^Error: "pid" must be a process id, not "\$\{command:pickProcess\}"$/);
    assert.throws(() => configuredPid(-3), /"pid" must be a process id/);
});

test('what cannot be attached is one clear error and the start is aborted', async () => {
    const cases: [ProcessInfo[], vscode.DebugConfiguration, string][] = [
        [[proc(41, '/ws')], { ...defaultAttachConfiguration(), pid: 99 }, 'no running otrace process with pid 99'],
        [[], defaultAttachConfiguration(), 'no running otrace process found: start the application with otrace first'],
        [[proc(42, '/ws', null)], defaultAttachConfiguration(), 'process 42 serves no DAP endpoint (otrace was started with dap_port=None)'],
        [[proc(43, '/ws')], { type: 'otrace', request: 'launch', name: 'x' }, 'otrace only attaches to a running application ("request": "attach", not "launch")'],
    ];
    for (const [procs, config, message] of cases) {
        const { provider, errors } = world(procs, ['/ws']);
        assert.equal(await resolve(provider, config), undefined, message);
        assert.deepEqual(errors, [message]);
    }
});

test('F5 without launch.json starts the default attach; launch.json gets it as its initial configuration', () => {
    const { provider } = world([], []);
    assert.deepEqual(provider.resolveDebugConfiguration(undefined, { type: '', request: '', name: '' }), defaultAttachConfiguration());
    const own = { type: 'otrace', request: 'attach', name: 'mine', pid: 5 };
    assert.equal(provider.resolveDebugConfiguration(undefined, own), own);
    assert.deepEqual(provider.provideDebugConfigurations(), [defaultAttachConfiguration()]);
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    const [dbg] = pkg.contributes.debuggers;
    assert.equal(dbg.type, 'otrace');
    assert.deepEqual(dbg.initialConfigurations, [defaultAttachConfiguration()]);
    assert.ok(dbg.configurationSnippets.length >= 1);
    for (const body of [...dbg.initialConfigurations, ...dbg.configurationSnippets.map((s: any) => s.body)]) {
        assert.ok(!('token' in body) && !('dapPort' in body), 'the token is never written to launch.json');
    }
    assert.deepEqual(pkg.contributes.breakpoints, [{ language: 'python' }]);   // gutter breakpoints in Python files
    assert.ok(pkg.contributes.commands.some((c: any) => c.command === 'otrace.attachDebugger' && c.title === 'Attach Debugger'));
});

test('a session connects to the resolved host:dapPort through a DebugAdapterServer', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otrace-dbg-'));
    fs.writeFileSync(path.join(dir, `otrace-${process.pid}.json`), JSON.stringify({ pid: process.pid, argv: ['/ws/app.py'],
        cwd: '/ws', host: '127.0.0.1', lsp_port: 4001, dap_port: 4002, token: 'tok', started: 1 }));
    const errors: string[] = [];
    const provider = new OTraceDebugConfigurationProvider({ processes: () => listProcesses(dir), folders: () => ['/ws'],
        ui: { info() {}, error(m) { errors.push(m); }, input: async () => undefined, pick: async () => undefined } });
    const configuration = await resolve(provider, defaultAttachConfiguration());
    const server = new OTraceDebugAdapterFactory().createDebugAdapterDescriptor({ configuration } as vscode.DebugSession);
    assert.ok(server instanceof vscode.DebugAdapterServer);
    assert.equal(server.port, 4002);
    assert.equal(server.host, '127.0.0.1');
    assert.equal(configuration?.token, 'tok');
    assert.deepEqual(errors, []);
    assert.throws(() => new OTraceDebugAdapterFactory().createDebugAdapterDescriptor({ configuration: defaultAttachConfiguration() } as vscode.DebugSession),
        /not resolved to a process/);
});

test('the adapter\'s messages made readable: threads lead with the request, short stop states, evaluate errors not toasts', () => {
    assert.equal(readableThreadName('GetHandler.get:hd-hold_check:21-06-24  GET /?number=77 from 127.0.0.1'),
        'GET /?number=77 from 127.0.0.1 · hold_check');
    assert.equal(readableThreadName('GetHandler.get:hd-bp_get_70:21-06-24.1  GET / (client gone)'), 'GET / · bp_get_70 (client gone)');
    assert.equal(readableThreadName('f:hd-x:1-2-3  [MainThread]'), 'x [MainThread]');
    assert.equal(readableThreadName('something else'), 'something else');
    const threads = { type: 'response', command: 'threads', success: true, body: { threads: [{ id: 1, name: 'A.b:hd-l:1  GET /x' }] } };
    rewriteAdapterMessage(threads);
    assert.equal(threads.body.threads[0].name, 'GET /x · l');
    const failed: any = { type: 'response', command: 'evaluate', success: false, message: 'x', body: { error: { id: 1, format: 'calls: refused', showUser: true } } };
    rewriteAdapterMessage(failed);
    assert.equal(failed.body.error.showUser, false);
    const other: any = { type: 'response', command: 'setBreakpoints', success: false, body: { error: { id: 1, format: 'x', showUser: true } } };
    rewriteAdapterMessage(other);
    assert.equal(other.body.error.showUser, true);                 // only evaluation errors stay out of toasts
    const stopped: any = { type: 'event', event: 'stopped', body: { reason: 'breakpoint', description: 'held: A.b:hd-l:1', threadId: 1 } };
    rewriteAdapterMessage(stopped);
    assert.equal(stopped.body.description, 'live hold');
});
