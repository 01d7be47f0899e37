/**
 * Fleet orders (issue 20; docs/PROTOCOL.md "Fleets"): what the extension sends to every worker of
 * a fleet so that a `trace`, a "Hold here live", an untrace or a live hold's removal applies to every
 * worker, including workers that start later (the server logs the order once, by its client-made
 * id, and a later worker applies the log). Also the console's fleet output: each worker's answer led
 * by "[pid N]".
 * Pure Node (no `vscode` import): unit-tested directly.
 */
import { randomUUID } from 'crypto';
import type { FleetRef } from './discovery';

/** Attached processes as the user sees them: a fleet's workers as one group, each other process alone. */
export type FleetGroup<T> = { fleet: FleetRef; conns: T[] } | { fleet?: undefined; conns: [T] };

/** `items` (connections) grouped by their target's fleet, in the order of each group's first item. */
export function groupByFleet<T extends { target: { fleet?: FleetRef } }>(items: T[]): FleetGroup<T>[] {
    const out: FleetGroup<T>[] = [];
    const seen = new Map<string, { fleet: FleetRef; conns: T[] }>();
    for (const item of items) {
        const f = item.target.fleet;
        const g = f && seen.get(f.id);
        if (!f) {
            out.push({ conns: [item] });
        } else if (g) {
            g.conns.push(item);
        } else {
            const fresh = { fleet: f, conns: [item] };
            seen.set(f.id, fresh);
            out.push(fresh);
        }
    }
    return out;
}

/** A new fleet order id (the same id sent to every worker is applied once per worker, logged once). */
export function newFleetOrder(): string {
    return randomUUID();
}

/** How a server command is sent to a fleet: one request per worker, each with the same `fleetOrder`. */
export type FleetSend =
    | { kind: 'execute'; command: string; args: unknown[] }
    | { kind: 'request'; method: string; params: Record<string, unknown> };

/**
 * The fleet order of the server command `command` (from a code lens or code action of a fleet
 * worker) with `args`, or undefined when it is about one worker only (a Resume of its hold,
 * showTraces, debugpy). `otrace.holdHere`/`otrace.traceFunction` take `{fleetOrder}` as one more
 * last argument; an untrace and a live hold's removal are sent as `otrace/untrace`/`otrace/unpatch`
 * with `fleetOrder`.
 */
export function fleetOrderOf(command: string, args: unknown[], fleetOrder: string): FleetSend | undefined {
    if (command === 'otrace.holdHere' || command === 'otrace.traceFunction') {
        return { kind: 'execute', command, args: [...args, { fleetOrder }] };
    }
    if ((command === 'otrace.untrace' || command === 'otrace.unpatch') && typeof args[0] === 'string') {
        return { kind: 'request', method: `otrace/${command.slice('otrace.'.length)}`, params: { name: args[0], fleetOrder } };
    }
    return undefined;
}

/** `text` with every line led by `tag` ("[pid 1234] ..."); an empty text stays empty. */
export function ledBy(tag: string, text: string): string {
    if (!text) {
        return '';
    }
    const end = text.endsWith('\n') ? '\n' : '';
    return (end ? text.slice(0, -1) : text).split('\n').map((l) => `${tag} ${l}`).join('\n') + end;
}

/**
 * The first fulfilled value of `results` (the answers of every worker), or throws the first
 * error when none was; `failed` gets each worker's error message.
 */
export function firstAnswer<T>(results: PromiseSettledResult<T>[], failed: (message: string) => void = () => undefined): T {
    const ok = results.find((r): r is PromiseFulfilledResult<T> => r.status === 'fulfilled');
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
    errors.forEach((e) => failed(e.message));
    if (!ok) {
        throw errors[0] ?? new Error('no worker of the fleet is connected');
    }
    return ok.value;
}

/** A traceassert line's counts: a lens's `data` (docs/PROTOCOL.md, codeLens). */
export interface Hits { violations: number; holds: number }

/** The counts of a lens's `data`, or undefined when it is not a traceassert line's lens. */
export function hitsOf(data: unknown): Hits | undefined {
    const d = data as Partial<Hits> | undefined;
    return d && typeof d.violations === 'number' && typeof d.holds === 'number' ? { violations: d.violations, holds: d.holds } : undefined;
}

/** The title of a traceassert line's lens (as the server writes it): "traceassert: N violations, M holds". */
export function hitTitle(h: Hits): string {
    return `traceassert: ${h.violations} violation${h.violations === 1 ? '' : 's'}, ${h.holds} hold${h.holds === 1 ? '' : 's'}`;
}

/** The counts of the traceassert lenses of several workers' answers (`textDocument/codeLens`), summed per line (0-based). */
export function sumHits(answers: unknown[]): Map<number, Hits> {
    const sums = new Map<number, Hits>();
    for (const answer of answers) {
        for (const lens of Array.isArray(answer) ? answer : []) {
            const hits = hitsOf((lens as { data?: unknown } | null)?.data);
            const line = (lens as { range?: { start?: { line?: unknown } } } | null)?.range?.start?.line;
            if (hits && typeof line === 'number') {
                const sum = sums.get(line) ?? { violations: 0, holds: 0 };
                sums.set(line, { violations: sum.violations + hits.violations, holds: sum.holds + hits.holds });
            }
        }
    }
    return sums;
}

/** `promise`, or a rejection when it has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
        promise.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
    });
}
