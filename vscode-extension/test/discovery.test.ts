import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'node:test';
import { autoAttachCandidate, describe, discoveryDir, formatAge, listProcesses, parseDiscovery, processRoot, runsFrom, type ProcessInfo } from '../src/discovery';

function record(pid: number, extra: object = {}): string {
    return JSON.stringify({ pid, argv: ['/app/demo.py', '--port', '0'], cwd: '/app', host: '127.0.0.1', lsp_port: 4000 + (pid % 1000),
        dap_port: null, token: `t${pid}`, started: 1000 + pid, ...extra });
}

test('discoveryDir: XDG_RUNTIME_DIR, else ~/.cache; the setting wins', () => {
    assert.equal(discoveryDir({ XDG_RUNTIME_DIR: '/run/user/1' }), '/run/user/1/otrace');
    assert.equal(discoveryDir({}), path.join(os.homedir(), '.cache', 'otrace'));
    assert.equal(discoveryDir({ XDG_RUNTIME_DIR: '/x' }, '/custom'), '/custom');
});

test('listProcesses keeps live, well-formed otrace-<pid>.json records, oldest first', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otrace-disc-'));
    fs.writeFileSync(path.join(dir, 'otrace-300.json'), record(300));
    fs.writeFileSync(path.join(dir, 'otrace-200.json'), record(200));
    fs.writeFileSync(path.join(dir, 'otrace-999.json'), record(999));                  // dead pid
    fs.writeFileSync(path.join(dir, 'otrace-400.json'), '{not json');                  // half-written
    fs.writeFileSync(path.join(dir, 'otrace-500.json'), JSON.stringify({ pid: 500 }));  // no port/token
    fs.writeFileSync(path.join(dir, 'otrace-300.audit.log'), 'x');                      // not a record
    const live = new Set([200, 300, 400, 500]);
    const found = listProcesses(dir, (pid) => live.has(pid));
    assert.deepEqual(found.map((p) => p.pid), [200, 300]);
    assert.equal(found[0].token, 't200');
    assert.equal(found[0].lspPort, 4200);
    assert.equal(found[0].dapPort, null);                                              // dap_port null: no DAP
    assert.equal(parseDiscovery(record(7, { dap_port: 5007 }), '')!.dapPort, 5007);
    assert.equal(found[0].file, path.join(dir, 'otrace-200.json'));
    assert.deepEqual(listProcesses(path.join(dir, 'missing')), []);
});

test('listProcesses checks pids for real by default', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otrace-disc-'));
    fs.writeFileSync(path.join(dir, `otrace-${process.pid}.json`), record(process.pid));
    fs.writeFileSync(path.join(dir, 'otrace-2147483000.json'), record(2147483000));
    assert.deepEqual(listProcesses(dir).map((p) => p.pid), [process.pid]);
});

test('describe: script and pid, cwd, command line and age', () => {
    const p = parseDiscovery(record(42), '/d/otrace-42.json')!;
    const d = describe(p, p.started + 125);
    assert.equal(d.label, 'demo.py (pid 42)');
    assert.equal(d.description, '/app');
    assert.match(d.detail, /^\/app\/demo\.py --port 0 — 127\.0\.0\.1:4042, started 2m 5s ago$/);
    assert.equal(formatAge(7300), '2h 1m');
});

test('autoAttachCandidate: only when exactly one process runs from the workspace', () => {
    const p = (pid: number, cwd: string, script: string): ProcessInfo =>
        ({ ...parseDiscovery(record(pid), '')!, cwd, argv: [script] });
    const inWs = p(1, '/ws', 'app.py');
    const scriptInWs = p(2, '/elsewhere', '/ws/sub/serve.py');
    const outside = p(3, '/other', '/other/x.py');
    assert.ok(runsFrom(scriptInWs, ['/ws']));
    assert.ok(!runsFrom(p(4, '/wsx', 'a.py'), ['/ws']));     // a prefix is not a parent folder
    assert.equal(autoAttachCandidate([inWs, outside], ['/ws']), inWs);
    assert.equal(autoAttachCandidate([inWs, scriptInWs, outside], ['/ws']), undefined);
    assert.equal(autoAttachCandidate([outside], ['/ws']), undefined);
});

test('processRoot: the common folder of the cwd and the script', () => {
    const p = (cwd: string, argv: string[]): ProcessInfo => ({ ...parseDiscovery(record(1), '')!, cwd, argv });
    assert.equal(processRoot(p('/ws', ['app.py', '--port', '0'])), '/ws');
    assert.equal(processRoot(p('/ws/sub', ['../demos/x.py'])), '/ws');
    assert.equal(processRoot(p('/home/u', ['/srv/app/main.py'])), '/');
    assert.equal(processRoot(p('/ws', ['/usr/bin/python3', '-m', 'pkg'])), '/ws');
    assert.equal(processRoot(p('', ['x.py'])), undefined);
});
