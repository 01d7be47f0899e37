/**
 * HeldList (src/heldList.ts): the held requests an editor keeps from `otrace/holds` pages and the
 * hold notifications, including the races of a load (a page answered after the notification of a
 * change it does not show yet).
 */
import { strict as assert } from 'assert';
import { test } from 'node:test';
import { HeldList, loadHolds } from '../src/heldList';
import type { Hold, HoldsPage } from '../src/protocol';

function hold(number: number, extra: Partial<Hold> = {}): Hold {
    return { id: `h${number}`, number, traceId: `h${number}`, label: 'hold_check', function: 'get', file: '/x.py',
        line: 1, since: 0, age: 0, remaining: null, summary: null, webClient: null, clientGone: false, ...extra };
}

const ids = (list: HeldList) => list.holds.map((h) => h.id);

test('pages load oldest first; notifications then keep the list', () => {
    const list = new HeldList();
    list.startLoading();
    list.page([hold(1), hold(2)], false);
    list.page([hold(3)], true);
    assert.deepEqual(ids(list), ['h1', 'h2', 'h3']);
    list.started(hold(4));
    const array = list.holds;
    list.started(hold(5));                           // newer than all: appended in place
    assert.equal(list.holds, array);
    assert.deepEqual(ids(list), ['h1', 'h2', 'h3', 'h4', 'h5']);
    assert.equal(list.resumed(['h2', 'h9']), true);
    assert.equal(list.resumed(['h9']), false);        // not listed: nothing changes
    assert.equal(list.clientGone('h3'), true);
    assert.equal(list.get('h3')?.clientGone, true);
    assert.deepEqual(ids(list), ['h1', 'h3', 'h4', 'h5']);
    list.resumed(['h4']);                             // after the load nothing is remembered
    list.started(hold(4));                            // (ids are never reused: a test of the rule only)
    assert.deepEqual(ids(list), ['h1', 'h3', 'h4', 'h5']);
});

test('a page answered after a resume or client-gone notification does not bring the old state back', () => {
    const list = new HeldList();
    list.startLoading();
    list.started(hold(7));                            // started during the load: told first
    list.resumed(['h2']);                             // resumed before its page arrived
    list.clientGone('h3');                            // its client left before its page arrived
    list.page([hold(1), hold(2), hold(3)], false);
    list.page([hold(7, { age: 1 })], true);           // already listed: kept as told
    assert.deepEqual(ids(list), ['h1', 'h3', 'h7']);
    assert.equal(list.get('h3')?.clientGone, true);
    assert.equal(list.get('h7')?.age, 0);
    list.startLoading();                              // a reconnect loads afresh
    assert.deepEqual(ids(list), []);
    list.page([hold(2)], true);                       // nothing remembered from the last load
    assert.deepEqual(ids(list), ['h2']);
});

test('loadHolds asks page after page until next is null; a pre-1.3 answer is one page', async () => {
    const server = [1, 2, 3, 4, 5].map((n) => hold(n));
    const asked: object[] = [];
    const ask = async (p: { limit: number; after?: number }): Promise<HoldsPage> => {
        asked.push(p);
        const rest = server.filter((h) => p.after === undefined || h.number > p.after);
        const page = rest.slice(0, p.limit);
        return { holds: page, total: server.length, next: rest.length > p.limit ? page[page.length - 1].number : null };
    };
    const list = new HeldList();
    await loadHolds(ask, list, 2);
    assert.deepEqual(asked, [{ limit: 2 }, { limit: 2, after: 2 }, { limit: 2, after: 4 }]);
    assert.deepEqual(ids(list), ['h1', 'h2', 'h3', 'h4', 'h5']);

    const old = new HeldList();
    await loadHolds(async () => ({ holds: server }), old);    // no next: the whole list at once
    assert.equal(old.size, 5);

    const failing = new HeldList();
    let calls = 0;
    await assert.rejects(loadHolds(async () => {
        if (calls++) {
            throw new Error('gone');
        }
        return { holds: [hold(1)], next: 1 };
    }, failing, 1), /gone/);
    assert.deepEqual(ids(failing), ['h1']);                   // what was loaded stays
    failing.resumed(['h1']);
    failing.page([hold(1)], true);                            // not loading any more: nothing remembered
    assert.deepEqual(ids(failing), ['h1']);
});

test('10,000 holds: load, start and resume stay fast (no full re-sort per notification)', () => {
    const list = new HeldList();
    const t0 = Date.now();
    list.startLoading();
    for (let p = 0; p < 100; p++) {
        list.page(Array.from({ length: 100 }, (_, i) => hold(p * 100 + i + 1)), p === 99);
    }
    for (let n = 10_001; n <= 12_000; n++) {
        list.started(hold(n));
        assert.equal(list.holds.length, n);           // read after every notification, as a view may
    }
    list.resumed(Array.from({ length: 12_000 }, (_, i) => `h${i + 1}`));
    assert.equal(list.size, 0);
    assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
});
