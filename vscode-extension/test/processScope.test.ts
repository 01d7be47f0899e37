import { strict as assert } from 'assert';
import { test } from 'node:test';
import { ALONE, firstDefLine, labelled, processIndependent, processTag, saysNotLoaded, scopeFor, underRoot, type Peer } from '../src/processScope';

const a: Peer = { key: 'pid:101', label: 'app.py (pid 101)', pid: 101, root: '/ws' };
const b: Peer = { key: 'pid:202', label: 'app.py (pid 202)', pid: 202, root: '/ws' };

test('two processes that loaded the file: both answer, labelled by pid; the first alone gives document edits', () => {
    assert.deepEqual(scopeFor(a.key, [b, a], [true, true]), { serves: true, tag: '[pid 101]', primary: true });
    assert.deepEqual(scopeFor(b.key, [b, a], [true, true]), { serves: true, tag: '[pid 202]', primary: false });
});

test('only the process that loaded the file answers, unlabelled; the other says nothing', () => {
    assert.deepEqual(scopeFor(b.key, [a, b], [false, true]), ALONE);
    assert.deepEqual(scopeFor(a.key, [a, b], [false, true]), { serves: false, tag: '', primary: false });
});

test('a file no process loaded: the first answers alone (its actions say "not loaded"), not each of them', () => {
    assert.deepEqual(scopeFor(a.key, [b, a], [false, false]), ALONE);
    assert.equal(scopeFor(b.key, [b, a], [false, false]).serves, false);
});

test('labels, roots, the probe line and its answer', () => {
    assert.equal(labelled('Hold here live', processTag(a)), '[pid 101] Hold here live');
    assert.equal(labelled('Hold here live', ''), 'Hold here live');
    assert.equal(processTag({ key: 'manual', label: '127.0.0.1:4000' }), '[127.0.0.1:4000]');
    assert.ok(underRoot('/ws', '/ws/pkg/m.py') && underRoot(undefined, '/x.py') && !underRoot('/ws', '/wsx/m.py'));
    assert.equal(firstDefLine(['import x', '', 'class A:', '    async def get(self):', 'def f():']), 3);
    assert.equal(firstDefLine(['x = 1']), -1);
    assert.ok(saysNotLoaded([{ title: 'Insert traceassert hold here' },
        { title: 'Trace this function (f)', disabled: { reason: 'm.py is not loaded in the running process' } }]));
    assert.ok(!saysNotLoaded([{ title: 'Trace this function (f)', command: {} }]) && !saysNotLoaded(null));
    assert.ok(processIndependent({ edit: {} }) && !processIndependent({ edit: {}, command: {} }) && !processIndependent({ command: {} }));
});
