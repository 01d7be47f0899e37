/**
 * Discovery of running otrace processes (docs/PROTOCOL.md "Finding and connecting").
 *
 * Each process with an embedded otrace language server writes
 * `<runtime dir>/otrace/otrace-<pid>.json` = `{pid, argv, cwd, host, lsp_port, dap_port, token, started,
 * ppid, fleet}` (`$XDG_RUNTIME_DIR`, else `~/.cache`). This module reads them, skips dead or
 * unreadable ones, groups the workers of one fleet (`fleet.id`; docs/PROTOCOL.md
 * "Fleets"), describes processes and fleets for a quick pick and picks the one to attach to
 * automatically.
 * Pure Node (no `vscode` import): unit-tested directly.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** One running otrace process, as its discovery file describes it. */
export interface ProcessInfo {
    pid: number;
    argv: string[];
    cwd: string;
    host: string;
    lspPort: number;
    /** The DAP endpoint's port, null when the process serves no DAP (`dap_port=None`). */
    dapPort: number | null;
    token: string;
    started: number;
    file: string;
    /** The parent's pid (null from a server before fleets). */
    ppid: number | null;
    /** The fleet the process is a worker of (null: a process alone, or a server before fleets). */
    fleet: FleetRef | null;
}

/** A fleet as a discovery record names it: `id` groups the workers, `name` is shown. */
export interface FleetRef { id: string; name: string }

/** What a process pick lists: a process alone, or the workers of one fleet (ordered by start, then pid). */
export type ProcessGroup =
    | { kind: 'process'; proc: ProcessInfo }
    | { kind: 'fleet'; fleet: FleetRef; workers: ProcessInfo[] };

/** The directory holding discovery files: `override`, else `$XDG_RUNTIME_DIR/otrace`, else `~/.cache/otrace`. */
export function discoveryDir(env: NodeJS.ProcessEnv = process.env, override = ''): string {
    if (override) {
        return override;
    }
    const base = env.XDG_RUNTIME_DIR || path.join(os.homedir(), '.cache');
    return path.join(base, 'otrace');
}

/** Whether process `pid` exists (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'EPERM';   // exists, owned by someone else
    }
}

/** Parse one discovery file's text; returns undefined when it is not a usable record. */
export function parseDiscovery(text: string, file: string): ProcessInfo | undefined {
    let d: any;
    try {
        d = JSON.parse(text);
    } catch {
        return undefined;
    }
    if (!d || typeof d.pid !== 'number' || typeof d.lsp_port !== 'number' || typeof d.token !== 'string') {
        return undefined;
    }
    return {
        pid: d.pid, argv: Array.isArray(d.argv) ? d.argv.map(String) : [], cwd: String(d.cwd ?? ''),
        host: typeof d.host === 'string' && d.host ? d.host : '127.0.0.1', lspPort: d.lsp_port,
        dapPort: typeof d.dap_port === 'number' ? d.dap_port : null, token: d.token, started: typeof d.started === 'number' ? d.started : 0, file,
        ppid: typeof d.ppid === 'number' ? d.ppid : null, fleet: fleetOf(d.fleet),
    };
}

/** A record's `fleet`: `{id, name}` with a non-empty string id (the name defaults to the id), else null. */
function fleetOf(f: any): FleetRef | null {
    if (!f || typeof f !== 'object' || typeof f.id !== 'string' || !f.id) {
        return null;
    }
    return { id: f.id, name: typeof f.name === 'string' && f.name ? f.name : f.id };
}

/**
 * The processes grouped for a pick: the workers of one fleet (same `fleet.id`) as one group, in
 * the order of their oldest worker; `procs` is oldest first (as `listProcesses` gives them).
 */
export function groupProcesses(procs: ProcessInfo[]): ProcessGroup[] {
    const groups: ProcessGroup[] = [];
    const fleets = new Map<string, Extract<ProcessGroup, { kind: 'fleet' }>>();
    for (const proc of [...procs].sort((a, b) => a.started - b.started || a.pid - b.pid)) {
        if (!proc.fleet) {
            groups.push({ kind: 'process', proc });
            continue;
        }
        let g = fleets.get(proc.fleet.id);
        if (!g) {
            g = { kind: 'fleet', fleet: proc.fleet, workers: [] };
            fleets.set(proc.fleet.id, g);
            groups.push(g);
        }
        g.workers.push(proc);
    }
    return groups;
}

/** The workers of fleet `id` among `procs`, oldest first. */
export function fleetWorkers(procs: ProcessInfo[], id: string): ProcessInfo[] {
    const g = groupProcesses(procs).find((x) => x.kind === 'fleet' && x.fleet.id === id);
    return g?.kind === 'fleet' ? g.workers : [];
}

/** "torna_fleet.py — fleet of 4 workers". */
export function fleetLabel(fleet: FleetRef, workers: number): string {
    return `${fleet.name} — fleet of ${workers} worker${workers === 1 ? '' : 's'}`;
}

/** A quick-pick item for a group: a process as `describe`, a fleet as its name and worker count, its pids and cwd. */
export function describeGroup(g: ProcessGroup, nowSeconds = Date.now() / 1000): { label: string; description: string; detail: string } {
    if (g.kind === 'process') {
        return describe(g.proc, nowSeconds);
    }
    const first = g.workers[0];
    return {
        label: fleetLabel(g.fleet, g.workers.length),
        description: first.cwd,
        detail: `workers ${g.workers.map((w) => w.pid).join(', ')} — ${first.argv.join(' ')}, started ${formatAge(nowSeconds - first.started)} ago`,
    };
}

/**
 * The live otrace processes of `dir`, oldest first. A missing directory is an empty list; files
 * that are not discovery records, or whose pid is dead, are skipped (never deleted: that is the
 * server's `list_processes`' job).
 */
export function listProcesses(dir: string, isAlive: (pid: number) => boolean = processAlive): ProcessInfo[] {
    let names: string[];
    try {
        names = fs.readdirSync(dir);
    } catch {
        return [];
    }
    const found: ProcessInfo[] = [];
    for (const name of names) {
        if (!/^otrace-\d+\.json$/.test(name)) {
            continue;
        }
        const file = path.join(dir, name);
        let text: string;
        try {
            text = fs.readFileSync(file, 'utf8');
        } catch {
            continue;
        }
        const info = parseDiscovery(text, file);
        if (info && isAlive(info.pid)) {
            found.push(info);
        }
    }
    return found.sort((a, b) => a.started - b.started || a.pid - b.pid);
}

/**
 * Whether the process a connection was made to has ended: its discovery file is gone (a normal
 * exit removes it) or its pid is dead (a process killed with SIGKILL leaves its file behind).
 * A target without pid or discovery file (manual settings), or of another host (`remote`), never
 * counts as ended.
 */
export function processEnded(t: { pid?: number; discoveryFile?: string; remote?: string }, isAlive: (pid: number) => boolean = processAlive): boolean {
    if (t.remote !== undefined) {
        return false;           // a process of another host: its tunnel ends with it
    }
    return (t.discoveryFile !== undefined && !fs.existsSync(t.discoveryFile)) || (t.pid !== undefined && !isAlive(t.pid));
}

/** "12s", "5m 3s", "2h 10m": a short human duration. */
export function formatAge(seconds: number): string {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) {
        return `${s}s`;
    }
    if (s < 3600) {
        return `${Math.floor(s / 60)}m ${s % 60}s`;
    }
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** The program of a process: Python's `sys.argv[0]` (the script), else the first non-option argument. */
export function scriptOf(p: ProcessInfo): string | undefined {
    const [first, ...rest] = p.argv;
    if (first && !/(^|\/)python[\d.]*$/.test(first) && first !== '-c' && first !== '-m') {
        return first;
    }
    return rest.find((a) => !a.startsWith('-'));
}

/** A quick-pick item for a process: label = script + pid, description = cwd, detail = command line and age. */
export function describe(p: ProcessInfo, nowSeconds = Date.now() / 1000): { label: string; description: string; detail: string } {
    const script = scriptOf(p) ?? 'python';
    return {
        label: `${path.basename(script)} (pid ${p.pid})`,
        description: p.cwd,
        detail: `${p.argv.join(' ')} — ${p.host}:${p.lspPort}, started ${formatAge(nowSeconds - p.started)} ago`,
    };
}

/** Whether `file` is `folder` or below it. */
export function inside(file: string, folder: string): boolean {
    const rel = path.relative(folder, file);
    return rel === '' || (!!rel && !rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Whether the process runs from one of `folders`: its cwd or its script is inside one. */
export function runsFrom(p: ProcessInfo, folders: string[]): boolean {
    const script = scriptOf(p);
    const scriptPath = script ? path.resolve(p.cwd || '/', script) : undefined;
    return folders.some((f) => inside(p.cwd, f) || (scriptPath !== undefined && inside(scriptPath, f)));
}

/**
 * The folder holding a process's code: the deepest common folder of its cwd and its script's
 * folder (undefined when the cwd is unknown). Editor features of that process apply below it.
 */
export function processRoot(p: ProcessInfo): string | undefined {
    if (!p.cwd || !path.isAbsolute(p.cwd)) {
        return undefined;
    }
    const script = scriptOf(p);
    let root = path.resolve(p.cwd);
    const dir = script ? path.dirname(path.resolve(p.cwd, script)) : root;
    while (!inside(dir, root)) {
        root = path.dirname(root);
    }
    return root;
}

/** The process or fleet to attach to automatically: the only one running from the workspace, else undefined. */
export function autoAttachGroup(procs: ProcessInfo[], folders: string[]): ProcessGroup | undefined {
    const mine = groupProcesses(procs.filter((p) => runsFrom(p, folders)));
    return mine.length === 1 ? mine[0] : undefined;
}

/** The process to attach to automatically: the only one running from the workspace, else undefined. */
export function autoAttachCandidate(procs: ProcessInfo[], folders: string[]): ProcessInfo | undefined {
    const mine = procs.filter((p) => runsFrom(p, folders));
    return mine.length === 1 ? mine[0] : undefined;
}
