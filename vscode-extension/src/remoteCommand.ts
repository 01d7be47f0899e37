/**
 * "otrace: Attach to Remote Process...": asks for [user@]host (the recent hosts offered first,
 * remembered in the global state), lists that host's otrace processes (`otrace ps --ssh HOST
 * --json`, `remote.ts`) in a quick pick (a fleet as one entry), starts the tunnel (`otrace attach
 * --ssh HOST PID --json`, kept running while attached; one per worker of a fleet) and attaches to
 * its local ports (a fleet: every worker, as the fleet `host/id`). `RemoteFleets` follows an attached
 * remote fleet: its workers are listed again every `REMOTE_FLEET_POLL_MS`, and one started later (a
 * respawned or added worker) is attached through a tunnel of its own. Detaching (or closing the window)
 * ends the tunnel with SIGTERM; a tunnel that ends by itself detaches and says why (a fleet's worker
 * quietly, in the log: workers come and go). Failures are one line (exit status 3: the host is not
 * reachable over ssh). The Python running `otrace` is
 * `otrace.pythonPath` (`remote.pythonFor`), the ssh options `otrace.sshArguments`.
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import type { Target } from './connection';
import type { Parts } from './commands';
import { describe, describeGroup, fleetLabel, groupProcesses, processRoot, type ProcessInfo } from './discovery';
import { checkHost, listRemote, pythonFor, RemoteTunnel, rememberHost, type RemoteRunner } from './remote';

/** How often the workers of an attached remote fleet are listed again (one `otrace ps --ssh`). */
export const REMOTE_FLEET_POLL_MS = 5000;

/** The global state key of the recent hosts. */
export const RECENT_HOSTS = 'otrace.remoteHosts';
const ANOTHER_HOST = 'Another host...';

/** How `otrace` is run now: `otrace.pythonPath` (else found), `otrace.sshArguments`. */
export function currentRunner(): RemoteRunner {
    const cfg = vscode.workspace.getConfiguration('otrace');
    const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
    return { python: pythonFor(cfg.get<string>('pythonPath', ''), process.env, folders), sshArgs: cfg.get<string[]>('sshArguments', []).map(String) };
}

/**
 * The Target of a remote process reached through `tunnel` (its local ends); detaching closes the
 * tunnel. A worker of a remote fleet belongs to the fleet `host/id` (never one of this machine's).
 */
export function remoteTarget(remote: ProcessInfo, tunnel: RemoteTunnel): Target {
    const local = tunnel.info;
    return {
        key: `ssh:${tunnel.host}:${remote.pid}`, label: `${describe(remote).label} on ${tunnel.host}`,
        host: local.host, port: local.lspPort, token: local.token, pid: remote.pid, cwd: remote.cwd, root: processRoot(remote),
        started: remote.started, remote: tunnel.host, release: () => tunnel.close(),
        ...(remote.fleet ? { fleet: { id: `${tunnel.host}/${remote.fleet.id}`, name: `${remote.fleet.name} on ${tunnel.host}` } } : {}),
    };
}

/**
 * `remoteTarget` of `proc` through `tunnel`, detached when the tunnel ends by itself: said to the
 * user, or for a fleet's worker written to `log` (the fleet goes on; its next worker is followed).
 */
function tunnelTarget(parts: Parts, log: vscode.LogOutputChannel, proc: ProcessInfo, tunnel: RemoteTunnel): Target {
    const target = remoteTarget(proc, tunnel);
    tunnel.onExit((why) => {
        if (parts.conns.get(target.key)) {
            const text = `${target.label}: the tunnel ended (${why}); detached`;
            if (target.fleet) {
                log.info(text);
            } else {
                parts.ui.error(text);
            }
            void parts.conns.detach(target.key);
        }
    });
    return target;
}

/**
 * The attached remote fleets, followed: every `REMOTE_FLEET_POLL_MS` each one's host is listed
 * (`otrace ps --ssh`, one run at a time) and the fleet's workers not attached are attached through
 * a tunnel each. A fleet no longer attached (`Connections.fleets`), or whose workers are all gone,
 * is no longer followed (no ssh run every few seconds for an app that ended); a listing or a
 * tunnel that fails is written to the log and tried again at the next round.
 */
export class RemoteFleets implements vscode.Disposable {
    private readonly followed = new Map<string, { host: string; remoteId: string; runner: RemoteRunner }>();
    private readonly timer: NodeJS.Timeout;
    private busy = false;

    constructor(private readonly parts: Parts, private readonly log: vscode.LogOutputChannel) {
        this.timer = setInterval(() => void this.poll(), REMOTE_FLEET_POLL_MS);
    }

    /** Follow the attached fleet `fleetId` (`host/remoteId`) of `host`, listed with `runner`. */
    follow(fleetId: string, host: string, remoteId: string, runner: RemoteRunner): void {
        this.followed.set(fleetId, { host, remoteId, runner });
    }

    /** One round: attach the workers of the followed fleets started since. */
    async poll(): Promise<void> {
        if (this.busy) {
            return;
        }
        this.busy = true;
        try {
            for (const [id, fleet] of [...this.followed]) {
                if (!this.parts.conns.fleets.has(id)) {
                    this.followed.delete(id);
                    continue;
                }
                if (!this.parts.conns.all.some((c) => c.target.fleet?.id === id)) {   // every worker gone: the app ended
                    this.followed.delete(id);
                    this.log.info(`no worker of fleet ${id} is attached any more: it is no longer followed over ssh`);
                    continue;
                }
                let procs: ProcessInfo[];
                try {
                    procs = await listRemote(fleet.runner, fleet.host);
                } catch (e) {
                    this.log.warn(`listing the workers of fleet ${id}: ${(e as Error).message}`);
                    continue;
                }
                const newcomers = procs.filter((p) => p.fleet?.id === fleet.remoteId && !this.parts.conns.get(`ssh:${fleet.host}:${p.pid}`));
                await Promise.all(newcomers.map((p) => this.join(id, fleet.host, fleet.runner, p)));
            }
        } finally {
            this.busy = false;
        }
    }

    private async join(id: string, host: string, runner: RemoteRunner, proc: ProcessInfo): Promise<void> {
        let tunnel: RemoteTunnel;
        try {
            tunnel = await RemoteTunnel.open(runner, host, proc.pid);
        } catch (e) {
            this.log.warn(`forwarding the ports of a new worker of fleet ${id} (pid ${proc.pid}): ${(e as Error).message}`);
            return;
        }
        if (!this.parts.conns.fleets.has(id)) {      // detached meanwhile
            tunnel.close();
            return;
        }
        const target = tunnelTarget(this.parts, this.log, proc, tunnel);
        await this.parts.conns.attach(target).catch((e: Error) => {
            tunnel.close();
            this.log.warn(`attaching a new worker of fleet ${id} (pid ${proc.pid}): ${e.message}`);
        });
    }

    dispose(): void {
        clearInterval(this.timer);
        this.followed.clear();
    }
}

/** [user@]host: a pick of the recent hosts (and "Another host..."), else an input box. */
async function askHost(parts: Parts, recent: readonly string[]): Promise<string | undefined> {
    if (recent.length) {
        const picked = await parts.ui.pick([...recent.map((label) => ({ label })), { label: ANOTHER_HOST, description: '[user@]host' }],
            'Attach to a process of which host? ([user@]host, over OpenSSH)');
        if (!picked || picked.label !== ANOTHER_HOST) {
            return picked?.label;
        }
    }
    const validate = (v: string) => {
        try {
            checkHost(v);
            return undefined;
        } catch (e) {
            return (e as Error).message;
        }
    };
    const typed = await parts.ui.input('[user@]host of the otrace process (over OpenSSH: a Host of ~/.ssh/config works too)', 'deploy@web1', validate);
    return typed === undefined ? undefined : checkHost(typed);
}

/** Run `work` with a progress notification saying `title`. */
function withProgress<T>(title: string, work: () => Promise<T>): Thenable<T> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `otrace: ${title}` }, work);
}

/** The whole command (see the module docstring). */
export async function attachRemote(parts: Parts, state: vscode.Memento, fleets: RemoteFleets, log: vscode.LogOutputChannel,
    runner: RemoteRunner = currentRunner()): Promise<void> {
    const host = await askHost(parts, state.get<string[]>(RECENT_HOSTS, []));
    if (!host) {
        return;
    }
    await state.update(RECENT_HOSTS, rememberHost(state.get<string[]>(RECENT_HOSTS, []), host));
    let procs: ProcessInfo[];
    try {
        procs = await withProgress(`listing the otrace processes of ${host}...`, () => listRemote(runner, host));
    } catch (e) {
        parts.ui.error((e as Error).message);
        return;
    }
    if (!procs.length) {
        parts.ui.error(`no otrace process runs on ${host} (as that login: discovery files are private to their user)`);
        return;
    }
    const picked = await parts.ui.pick(groupProcesses(procs).map((g) => ({ ...describeGroup(g), group: g })),
        `Attach to an otrace process on ${host} (a fleet: every worker)`);
    if (!picked) {
        return;
    }
    const workers = picked.group.kind === 'process' ? [picked.group.proc] : picked.group.workers;
    const todo = workers.filter((w) => {
        const attached = parts.conns.get(`ssh:${host}:${w.pid}`);
        return !attached || (attached.state !== 'connected' && attached.state !== 'reconnecting');
    });
    if (!todo.length) {
        parts.ui.info(`already attached to ${picked.label} on ${host}`);
        return;
    }
    let tunnels: { proc: ProcessInfo; tunnel: RemoteTunnel }[];
    try {
        tunnels = await withProgress(`forwarding the ports of ${todo.length === 1 ? `process ${todo[0].pid}` : `${todo.length} workers`} on ${host} (ssh -L)...`,
            async () => {
                const opened = await Promise.allSettled(todo.map((w) => RemoteTunnel.open(runner, host, w.pid)));
                const ok = opened.flatMap((r, i) => (r.status === 'fulfilled' ? [{ proc: todo[i], tunnel: r.value }] : []));
                const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
                if (failed && !ok.length) {
                    throw failed.reason;
                }
                if (failed) {
                    parts.ui.error((failed.reason as Error).message);
                }
                return ok;
            });
    } catch (e) {
        parts.ui.error((e as Error).message);
        return;
    }
    const targets = tunnels.map(({ proc, tunnel }) => tunnelTarget(parts, log, proc, tunnel));
    try {
        if (picked.group.kind === 'fleet') {
            const conns = await parts.conns.attachFleet(targets[0].fleet!, targets);
            fleets.follow(targets[0].fleet!.id, host, picked.group.fleet.id, runner);
            parts.ui.info(`attached to ${fleetLabel(targets[0].fleet!, conns.length)} (through ssh; "otrace: Detach" closes the tunnels)`);
        } else {
            const conn = await parts.conns.attach(targets[0]);
            parts.ui.info(`attached to ${conn.label} (through ssh; "otrace: Detach" closes the tunnel)`);
        }
    } catch (e) {
        tunnels.forEach((t) => t.tunnel.close());
        parts.ui.error((e as Error).message);
    }
}

/** Register "otrace: Attach to Remote Process..." and the following of remote fleets; their disposable. */
export function registerRemote(parts: Parts, state: vscode.Memento, log: vscode.LogOutputChannel): vscode.Disposable {
    const fleets = new RemoteFleets(parts, log);
    const command = vscode.commands.registerCommand('otrace.attachRemote', async () => {
        try {
            await attachRemote(parts, state, fleets, log);
        } catch (e) {
            parts.ui.error((e as Error).message);
        }
    });
    return vscode.Disposable.from(command, fleets);
}
