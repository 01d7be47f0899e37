import { strict as assert } from 'assert';
import { test } from 'node:test';
import { coalesced } from '../src/coalesce';

/** A refresh whose runs are counted and finished by hand. */
function manual() {
    const runs: { finish: (error?: Error) => void; snapshot: number }[] = [];
    let state = 0;
    const refresh = coalesced(() => new Promise<void>((resolve, reject) => {
        runs.push({ finish: (error) => (error ? reject(error) : resolve()), snapshot: state });
    }));
    return { runs, refresh, change: () => { state += 1; } };
}

const tick = () => new Promise((r) => setImmediate(r));

test('a burst of calls makes one run in flight and exactly one more after it', async () => {
    const { runs, refresh, change } = manual();
    const first = refresh();
    const burst = Array.from({ length: 1000 }, () => { change(); return refresh(); });
    await tick();
    assert.equal(runs.length, 1);                      // the burst waits for the run in flight
    runs[0].finish();
    await first;
    await tick();
    assert.equal(runs.length, 2);                      // one more run for all 1,000 calls
    assert.equal(runs[1].snapshot, 1000);              // and it sees every change made before it
    runs[1].finish();
    await Promise.all(burst);
    assert.equal(runs.length, 2);
    refresh();                                         // idle again: a new call runs at once
    assert.equal(runs.length, 3);
    runs[2].finish();
});

test('a failed run rejects its callers, and the queued run still happens', async () => {
    const { runs, refresh } = manual();
    const first = refresh();
    const second = refresh();
    runs[0].finish(new Error('connection lost'));
    await assert.rejects(first, /connection lost/);
    await tick();
    assert.equal(runs.length, 2);
    runs[1].finish();
    await second;
});
