import { strict as assert } from 'assert';
import { test } from 'node:test';
import { attachConfiguration, chooseProcess, type DebugEnv } from '../src/debug';
import { autoAttachGroup, describeGroup, fleetLabel, fleetWorkers, groupProcesses, parseDiscovery, type ProcessInfo } from '../src/discovery';
import { firstAnswer, fleetOrderOf, groupByFleet, hitTitle, hitsOf, ledBy, newFleetOrder, sumHits, within } from '../src/fleet';
import { statusText } from '../src/status';
import { ALONE, heldHover, holdItem, scopeFor, type Peer } from '../src/processScope';

const FLEET = { id: 'ppid-100', name: 'torna_fleet.py' };

function proc(pid: number, started: number, fleet: unknown = FLEET, extra: object = {}): ProcessInfo {
    return parseDiscovery(JSON.stringify({ pid, ppid: 100, argv: ['/ws/torna_fleet.py', '--workers', '3'], cwd: '/ws', host: '127.0.0.1',
        lsp_port: 4000 + pid, dap_port: 5000 + pid, token: `t${pid}`, started, fleet, ...extra }), `/d/otrace-${pid}.json`)!;
}

test('discovery records: ppid and fleet read; a record before fleets, or a malformed fleet, is a process alone', () => {
    const p = proc(101, 5);
    assert.equal(p.ppid, 100);
    assert.deepEqual(p.fleet, FLEET);
    const old = parseDiscovery(JSON.stringify({ pid: 7, lsp_port: 1, token: 't' }), '')!;
    assert.equal(old.ppid, null);
    assert.equal(old.fleet, null);
    assert.equal(proc(8, 1, { name: 'x' }).fleet, null);                         // no id
    assert.equal(proc(9, 1, 'fleet').fleet, null);
    assert.deepEqual(proc(10, 1, { id: 'web' }).fleet, { id: 'web', name: 'web' });   // the name defaults to the id
});

test('groupProcesses: a fleet is one entry (its workers by start, then pid), at its oldest worker; others alone', () => {
    const alone = proc(50, 2, null, { argv: ['/ws/other.py'] });
    const groups = groupProcesses([proc(103, 9), alone, proc(102, 4), proc(101, 4), proc(200, 1, { id: 'api', name: 'api' })]);
    assert.deepEqual(groups.map((g) => (g.kind === 'process' ? g.proc.pid : `${g.fleet.id}:${g.workers.map((w) => w.pid)}`)),
        ['api:200', 50, 'ppid-100:101,102,103']);
    const item = describeGroup(groups[2], 10);
    assert.equal(item.label, 'torna_fleet.py — fleet of 3 workers');
    assert.equal(item.description, '/ws');
    assert.match(item.detail, /^workers 101, 102, 103 — /);
    assert.equal(describeGroup(groups[1], 10).label, 'other.py (pid 50)');
    assert.equal(fleetLabel(FLEET, 1), 'torna_fleet.py — fleet of 1 worker');
    assert.deepEqual(fleetWorkers([proc(103, 9), alone, proc(101, 4)], FLEET.id).map((w) => w.pid), [101, 103]);
});

test('auto-attach: the only fleet running from the workspace is attached whole; a fleet and a process: neither', () => {
    const g = autoAttachGroup([proc(101, 1), proc(102, 2)], ['/ws']);
    assert.equal(g?.kind, 'fleet');
    assert.equal(autoAttachGroup([proc(101, 1), proc(50, 2, null)], ['/ws']), undefined);
    assert.equal(autoAttachGroup([proc(101, 1)], ['/elsewhere']), undefined);
});

test('the workers of a fleet answer for a file once (the first that loaded it); each shows its own holds, labelled', () => {
    const w = (pid: number): Peer => ({ key: `pid:${pid}`, label: `torna_fleet.py (pid ${pid})`, pid, root: '/ws', fleet: FLEET });
    const workers = [w(101), w(102), w(103)];
    assert.deepEqual(scopeFor('pid:101', workers, [true, true, true]), { serves: true, tag: '', primary: true, worker: '[pid 101]', fleet: FLEET.id });
    assert.deepEqual(scopeFor('pid:102', workers, [true, true, true]), { serves: false, tag: '', primary: false, worker: '[pid 102]', fleet: FLEET.id });
    // the first worker has not loaded it (yet): the next one that did answers
    assert.equal(scopeFor('pid:102', workers, [false, true, true]).serves, true);
    assert.equal(scopeFor('pid:101', workers, [false, true, true]).serves, false);
    // a fleet and another process that loaded the file: two answers, the fleet's labelled by its name, once
    const other: Peer = { key: 'pid:900', label: 'app.py (pid 900)', pid: 900, root: '/ws' };
    const all = [...workers, other];
    assert.deepEqual(scopeFor('pid:101', all, [true, true, true, true]),
        { serves: true, tag: '[torna_fleet.py fleet]', primary: true, worker: '[pid 101]', fleet: FLEET.id });
    assert.deepEqual(scopeFor('pid:900', all, [true, true, true, true]), { serves: true, tag: '[pid 900]', primary: false });
    // only the other process loaded the file: the fleet says nothing, not even its holds
    assert.deepEqual(scopeFor('pid:103', all, [false, false, false, true]), { serves: false, tag: '', primary: false });
    assert.deepEqual(scopeFor('pid:900', all, [false, false, false, true]), ALONE);
    assert.ok(holdItem({ command: 'otrace.resume' }) && !holdItem({ command: 'otrace.resumeAll' }) && !holdItem(undefined));
    assert.ok(heldHover('**n** = `77` (str)\n\nheld: a:b:1') && !heldHover('**n** = `77` (str)\n\nwas held: a:b:1'));
});

test('fleet orders: trace and Hold here live get {fleetOrder} last; untrace and unpatch go as requests; the rest is one worker\'s', () => {
    assert.deepEqual(fleetOrderOf('otrace.traceFunction', ['file:///ws/a.py', 'GetHandler.get'], 'o1'),
        { kind: 'execute', command: 'otrace.traceFunction', args: ['file:///ws/a.py', 'GetHandler.get', { fleetOrder: 'o1' }] });
    assert.deepEqual(fleetOrderOf('otrace.holdHere', ['u', 3], 'o2'), { kind: 'execute', command: 'otrace.holdHere', args: ['u', 3, { fleetOrder: 'o2' }] });
    assert.deepEqual(fleetOrderOf('otrace.untrace', ['GetHandler.get'], 'o3'),
        { kind: 'request', method: 'otrace/untrace', params: { name: 'GetHandler.get', fleetOrder: 'o3' } });
    assert.deepEqual(fleetOrderOf('otrace.unpatch', ['GetHandler.get'], 'o4'),
        { kind: 'request', method: 'otrace/unpatch', params: { name: 'GetHandler.get', fleetOrder: 'o4' } });
    for (const one of ['otrace.resume', 'otrace.resumeAll', 'otrace.showTraces', 'otrace.debugpy']) {
        assert.equal(fleetOrderOf(one, ['x'], 'o'), undefined);
    }
    const a = newFleetOrder();
    assert.match(a, /^[0-9a-f-]{36}$/);
    assert.notEqual(a, newFleetOrder());
});

test('the fleet console leads every line of a worker\'s output with its tag; the first answer wins, errors when none', () => {
    assert.equal(ledBy('[pid 1]', 'a\nb\n'), '[pid 1] a\n[pid 1] b\n');
    assert.equal(ledBy('[pid 1]', 'one'), '[pid 1] one');
    assert.equal(ledBy('[pid 1]', ''), '');
    const failed: string[] = [];
    assert.equal(firstAnswer([{ status: 'rejected', reason: new Error('down') }, { status: 'fulfilled', value: 2 }], (m) => failed.push(m)), 2);
    assert.deepEqual(failed, ['down']);
    assert.throws(() => firstAnswer([{ status: 'rejected', reason: new Error('down') }]), /down/);
    assert.throws(() => firstAnswer([]), /no worker/);
});

test('groupByFleet: connections of one fleet together, in order of first appearance', () => {
    const c = (key: string, fleet?: object) => ({ key, target: { fleet } as any });
    const groups = groupByFleet([c('a', FLEET), c('x'), c('b', FLEET), c('y')]);
    assert.deepEqual(groups.map((g) => [g.fleet?.id ?? '-', g.conns.map((x) => x.key).join()]), [['ppid-100', 'a,b'], ['-', 'x'], ['-', 'y']]);
});

test('the debugger: an attached fleet is debugged through its first worker, attached with fleet: true', async () => {
    const procs = [proc(102, 2), proc(101, 1), proc(50, 0, null)];
    const env: DebugEnv = {
        processes: () => procs, folders: () => [], attached: () => [101, 102],
        ui: { info: () => undefined, error: () => undefined, input: async () => undefined, pick: async () => { throw new Error('no pick expected'); } },
    };
    const p = (await chooseProcess(env, undefined))!;
    assert.equal(p.pid, 101);
    const config = attachConfiguration({ type: 'otrace', request: 'attach', name: 'x' }, p);
    assert.equal(config.fleet, true);
    assert.equal(config.dapPort, 5101);
    assert.equal(attachConfiguration({ type: 'otrace', request: 'attach', name: 'x' }, procs[2]).fleet, undefined);
});

test('the status bar names the one attached fleet, else counts processes', () => {
    const w = (fleet?: object) => ({ state: 'connected', holds: [1], safeMode: true, target: { fleet: fleet as any } });
    assert.equal(statusText([w(FLEET), w(FLEET), w(FLEET)]), '$(debug-pause) otrace: 3 held (torna_fleet.py — fleet of 3 workers) · $(lock) safe mode');
    assert.equal(statusText([w(FLEET), w()]), '$(debug-pause) otrace: 2 held (2 processes) · $(lock) safe mode');
    assert.equal(statusText([w(FLEET)]), '$(debug-pause) otrace: 1 held (torna_fleet.py — fleet of 1 worker) · $(lock) safe mode');
});

test('traceassert counts: read from a lens\'s data, summed per line over the workers\' answers, titled as the server does', () => {
    const lens = (line: number, data?: unknown) => ({ range: { start: { line, character: 0 }, end: { line, character: 0 } }, command: { title: 't' }, data });
    assert.deepEqual(hitsOf({ violations: 2, holds: 1 }), { violations: 2, holds: 1 });
    assert.equal(hitsOf(undefined), undefined);
    assert.equal(hitsOf({ violations: '2', holds: 1 }), undefined);
    const sums = sumHits([[lens(4, { violations: 1, holds: 2 }), lens(9)], [lens(4, { violations: 0, holds: 3 }), lens(7, { violations: 1, holds: 0 })],
        null, 'garbage', [null, { data: { violations: 1, holds: 1 } }]]);
    assert.deepEqual([...sums.entries()].sort(), [[4, { violations: 1, holds: 5 }], [7, { violations: 1, holds: 0 }]]);
    assert.equal(hitTitle({ violations: 1, holds: 5 }), 'traceassert: 1 violation, 5 holds');
    assert.equal(hitTitle({ violations: 0, holds: 1 }), 'traceassert: 0 violations, 1 hold');
});

test('within: the answer when it comes in time, a one-line rejection when it does not', async () => {
    assert.equal(await within(Promise.resolve(7), 1000), 7);
    await assert.rejects(within(Promise.reject(new Error('refused')), 1000), /refused/);
    await assert.rejects(within(new Promise(() => undefined), 20), /no answer within 20 ms/);
});
