/**
 * The held requests of one process as the editor keeps them (docs/PROTOCOL.md, "How an editor keeps
 * its list"): loaded in `otrace/holds` pages at connect and reconnect (`loadHolds`), then kept from
 * the notifications (`started`, `resumed`, `clientGone`) instead of asking for the whole list again.
 * While pages load, the ids resumed (or told gone) are remembered, so that a page answered after
 * the notification of a change it does not show yet does not bring a resumed hold back.
 *
 * Pure (no `vscode`): node-tested. Thread-safety: the extension host's one thread.
 */
import type { Hold, HoldsPage } from './protocol';

/** Holds per `otrace/holds` page (the server's cost is O(page); 10,000 holds load in 100 requests). */
export const HOLDS_PAGE = 100;

export class HeldList {
    private readonly byId = new Map<string, Hold>();
    private sorted: Hold[] | undefined = [];
    private loading = false;
    private resumedWhileLoading = new Set<string>();
    private goneWhileLoading = new Set<string>();

    /** The waiting holds, oldest first (by `number`); a new array once a hold leaves or changes. */
    get holds(): Hold[] {
        if (!this.sorted) {
            this.sorted = [...this.byId.values()].sort((a, b) => a.number - b.number);
        }
        return this.sorted;
    }

    get size(): number {
        return this.byId.size;
    }

    get(id: string): Hold | undefined {
        return this.byId.get(id);
    }

    /** A (re)load begins: the list empties; notifications from now on are applied and remembered. */
    startLoading(): void {
        this.byId.clear();
        this.sorted = undefined;
        this.loading = true;
        this.resumedWhileLoading = new Set();
        this.goneWhileLoading = new Set();
    }

    /** One page of the load; `last`: no page follows (the load is over). */
    page(holds: Hold[], last: boolean): void {
        for (const hold of holds) {
            if (this.resumedWhileLoading.has(hold.id) || this.byId.has(hold.id)) {
                continue;                  // resumed since, or already told by holdStarted (as new)
            }
            this.byId.set(hold.id, this.goneWhileLoading.has(hold.id) ? { ...hold, clientGone: true } : hold);
            this.sorted = undefined;
        }
        if (last) {
            this.stopLoading();
        }
    }

    /** The load ended without its last page (an error): what was loaded stays. */
    stopLoading(): void {
        this.loading = false;
        this.resumedWhileLoading = new Set();
        this.goneWhileLoading = new Set();
    }

    /** `otrace/holdStarted` (a hold newer than every listed one is appended to `holds` in place). */
    started(hold: Hold): void {
        const before = this.byId.get(hold.id);
        this.byId.set(hold.id, hold);
        const sorted = this.sorted;
        if (!before && sorted && (!sorted.length || sorted[sorted.length - 1].number < hold.number)) {
            sorted.push(hold);
        } else {
            this.sorted = undefined;
        }
    }

    /** `otrace/holdResumed`, `otrace/holdsResumed`, or the answer of a resume; whether any was listed. */
    resumed(ids: Iterable<string>): boolean {
        let removed = false;
        for (const id of ids) {
            removed = this.byId.delete(id) || removed;
            if (this.loading) {
                this.resumedWhileLoading.add(id);
            }
        }
        if (removed) {
            this.sorted = undefined;
        }
        return removed;
    }

    /** `otrace/holdClientGone`; whether the hold was listed. */
    clientGone(id: string): boolean {
        const hold = this.byId.get(id);
        if (!hold) {
            if (this.loading) {
                this.goneWhileLoading.add(id);
            }
            return false;
        }
        this.started({ ...hold, clientGone: true });
        return true;
    }
}

/**
 * Load every hold into `list` in pages of `limit` (`ask` sends `otrace/holds` with its params): a
 * server before protocol 1.3 answers the whole list without `next` (one page). Rejects with the
 * request's error; the holds loaded so far stay.
 */
export async function loadHolds(ask: (params: { limit: number; after?: number }) => Promise<HoldsPage>,
                                list: HeldList, limit = HOLDS_PAGE): Promise<void> {
    list.startLoading();
    let after: number | undefined;
    try {
        for (;;) {
            const page = await ask(after === undefined ? { limit } : { limit, after });
            const next = page.next ?? undefined;
            list.page(page.holds, next === undefined);
            if (next === undefined) {
                return;
            }
            after = next;
        }
    } finally {
        list.stopLoading();
    }
}
