/**
 * Which attached processes answer for a document, and how their editor items are shown when
 * several do (issue 17 point 3). A process answers for a file when its language server has the
 * file's module loaded; the extension asks each process whose folder holds the file (at most once
 * per `LOADED_TTL_MS` and document): the code action "Trace this function" at the file's first
 * `def` is disabled "... is not loaded in the running process" by a process that did not import it.
 * When several processes answer, each one's items are labelled "[pid 1234] ..." and the items that
 * do not depend on the process (an edit of the document, e.g. "Insert traceassert hold here") come
 * from the first only; when none answers, the first alone does (its items say "not loaded").
 * The workers of one fleet (issue 20) answer as ONE process: one worker (the first that loaded the
 * file, in the fleet's order) gives the file's items once; every worker still shows the items of its
 * own holds (a Resume lens, a held value's hover) labelled "[pid N]" (`DocScope.worker`).
 * Pure Node (no `vscode` import): unit-tested directly.
 */
import { inside } from './discovery';

/** How long a "has this process loaded the file" answer is reused. */
export const LOADED_TTL_MS = 5000;

/** An attached process as the scope sees it. */
export interface Peer { key: string; label: string; pid?: number; root?: string; fleet?: { id: string; name: string } }

/** How one process's items of one document are shown. */
export interface DocScope {
    /** False: this process says nothing about the document (another one does). */
    serves: boolean;
    /** "[pid 1234]" when several processes answer for the document, else "". */
    tag: string;
    /** True for the one process whose process-independent items (document edits) are shown. */
    primary: boolean;
    /**
     * A worker of a fleet: "[pid N]", the label of the items of its own holds (shown by every
     * worker, even when `serves` is false: another worker of the fleet gives the file's items).
     */
    worker?: string;
    /** A worker of a fleet: the fleet's id. */
    fleet?: string;
}

/** The scope of a process that is the only one concerned: everything, unlabelled. */
export const ALONE: DocScope = { serves: true, tag: '', primary: true };

/** Whether `file` is below `root` (every file when the root is unknown). */
export function underRoot(root: string | undefined, file: string): boolean {
    return !root || inside(file, root);
}

/** "[pid 1234]" (or "[label]" for a process attached by host/port). */
export function processTag(peer: Peer): string {
    return peer.pid !== undefined ? `[pid ${peer.pid}]` : `[${peer.label}]`;
}

/** `title` led by `tag` (unchanged when the tag is empty). */
export function labelled(title: string, tag: string): string {
    return tag ? `${tag} ${title}` : title;
}

/**
 * The scope of process `key` for a document, given the processes whose folder holds it
 * (`candidates`) and, for each, whether it loaded the file (`loaded`, same order).
 */
export function scopeFor(key: string, candidates: Peer[], loaded: boolean[]): DocScope {
    // a fleet is one answering unit: its first worker that loaded the file (else its first worker)
    const units: { peer: Peer; loaded: boolean }[] = [];
    const fleets = new Map<string, { peer: Peer; loaded: boolean }>();
    candidates.forEach((peer, i) => {
        if (!peer.fleet) {
            units.push({ peer, loaded: loaded[i] });
            return;
        }
        const unit = fleets.get(peer.fleet.id);
        if (!unit) {
            const first = { peer, loaded: loaded[i] };
            fleets.set(peer.fleet.id, first);
            units.push(first);
        } else if (loaded[i] && !unit.loaded) {
            unit.peer = peer;
            unit.loaded = true;
        }
    });
    const ordered = units.sort((a, b) => a.peer.key.localeCompare(b.peer.key));
    const knowing = ordered.filter((c) => c.loaded).map((c) => c.peer);
    const answering = knowing.length ? knowing : ordered.slice(0, 1).map((c) => c.peer);
    const self = candidates.find((p) => p.key === key);
    const fleetId = self?.fleet?.id;
    const unit = fleetId === undefined ? self : answering.find((p) => p.fleet?.id === fleetId);
    if (!self || !unit || !answering.includes(unit)) {
        return { serves: false, tag: '', primary: false };
    }
    const tag = answering.length > 1 ? processTag(unit.fleet ? { key: unit.key, label: `${unit.fleet.name} fleet` } : unit) : '';
    if (fleetId === undefined) {
        return { serves: true, tag, primary: answering[0] === unit };
    }
    const worker = processTag(self);
    return unit === self ? { serves: true, tag, primary: answering[0] === unit, worker, fleet: fleetId }
        : { serves: false, tag: '', primary: false, worker, fleet: fleetId };
}

/** Whether a code lens is about one hold of its process (its Resume): every fleet worker shows its own. */
export function holdItem(command: { command: string } | undefined): boolean {
    return command?.command === 'otrace.resume';
}

/** Whether a hover shows a value of a request held now (not one held before): every fleet worker shows its own. */
export function heldHover(text: string): boolean {
    return /(^|\n)held: /.test(text);
}

/** The 0-based line of the first `def` of a file (-1 when it has none): where the probe asks. */
export function firstDefLine(lines: string[]): number {
    return lines.findIndex((l) => /^\s*(async\s+)?def\s/.test(l));
}

/** Whether a code action answer says the file is not loaded in the process. */
export function saysNotLoaded(actions: unknown): boolean {
    return Array.isArray(actions) && actions.some((a) => /is not loaded in the running process/.test(String(a?.disabled?.reason ?? '')));
}

/** Whether an item acts on the document only (an edit, no command): the same from every process. */
export function processIndependent(item: { edit?: unknown; command?: unknown }): boolean {
    return !!item.edit && !item.command;
}
