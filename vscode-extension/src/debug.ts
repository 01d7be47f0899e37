/**
 * The `otrace` debug type: VS Code's own debugger UI (Call Stack, Variables, Watch, Debug Console,
 * Continue, gutter breakpoints) on the DAP endpoint of a running otrace process
 * (docs/PROTOCOL.md "## DAP"). Holds are paused threads; the server keeps serving.
 *
 * - `OTraceDebugConfigurationProvider` resolves an attach configuration through discovery: the
 *   process given by `pid`, else the only attached one (or the first worker of the only attached
 *   fleet: the session is attached with `fleet: true`; several attached: a quick pick of those), else
 *   the only one running from the workspace, else a quick pick (like "Attach to Process..."). It fills `host`, `dapPort` and the `token` from the discovery file at
 *   each start: the token is never written to launch.json.
 * - `OTraceDebugAdapterFactory` connects VS Code to `host:dapPort` (a `DebugAdapterServer`); the
 *   configuration itself is the `attach` arguments, so the server receives `{token}`.
 * - a tracker makes the adapter's messages readable (`debugMessages.ts`: thread names lead with the
 *   request, Debug Console errors are not also toasts).
 * - `registerDebugging` registers them, the command "otrace: Attach Debugger" and
 *   `otrace.pickProcess` (for `"pid": "${command:otrace.pickProcess}"`).
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as vscode from 'vscode';
import { rewriteAdapterMessage } from './debugMessages';
import { autoAttachCandidate, describe, groupProcesses, type ProcessInfo } from './discovery';
import type { Ui } from './ui';

export const DEBUG_TYPE = 'otrace';

/** The configuration "otrace: Attach Debugger" starts, and launch.json's initial configuration. */
export function defaultAttachConfiguration(): vscode.DebugConfiguration {
    return { type: DEBUG_TYPE, request: 'attach', name: 'otrace: Attach' };
}

/** What the provider needs from the world (the real one in `registerDebugging`, scripted in tests). */
export interface DebugEnv {
    /** The live otrace processes (discovery files), oldest first. */
    processes(): ProcessInfo[];
    /** The workspace folders' paths. */
    folders(): string[];
    /** The pids of the processes the extension is attached to now (none when omitted). */
    attached?(): number[];
    ui: Ui;
}

/** `pid` of a configuration: a positive integer (or its text, e.g. from `${command:...}`); throws a one-line Error. */
export function configuredPid(value: unknown): number | undefined {
    if (value === undefined || value === null || value === '') {
        return undefined;
    }
    const pid = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(String(value)) ? Number(value) : NaN;
    if (!Number.isInteger(pid) || pid <= 0) {
        throw new Error(`"pid" must be a process id, not ${JSON.stringify(value)}`);
    }
    return pid;
}

/**
 * The process to attach to: the one with `pid`, else the only attached one (a quick pick of the
 * attached ones when several are), else the only one running from the workspace, else the user's
 * quick pick of all. Undefined when the pick is cancelled; a one-line Error when there is
 * no such process.
 */
export async function chooseProcess(env: DebugEnv, pid: number | undefined): Promise<ProcessInfo | undefined> {
    const procs = env.processes();
    if (pid !== undefined) {
        const p = procs.find((x) => x.pid === pid);
        if (!p) {
            throw new Error(`no running otrace process with pid ${pid}`);
        }
        return p;
    }
    if (!procs.length) {
        throw new Error('no running otrace process found: start the application with otrace first');
    }
    const pids = new Set(env.attached?.() ?? []);
    const attached = procs.filter((p) => pids.has(p.pid));
    const attachedGroups = groupProcesses(attached);
    if (attachedGroups.length === 1) {     // one process, or the workers of one fleet: its first worker
        const g = attachedGroups[0];
        return g.kind === 'process' ? g.proc : g.workers[0];
    }
    const mine = attached.length ? undefined : autoAttachCandidate(procs, env.folders());
    if (mine) {
        return mine;
    }
    const picked = await env.ui.pick((attached.length ? attached : procs).map((p) => ({ ...describe(p), proc: p })), 'Attach the debugger to a running otrace process');
    return picked?.proc;
}

/**
 * `config` completed for process `p`: pid, host, dapPort and token (from its discovery file); a
 * fleet worker's gets `fleet: true`, which makes its breakpoints fleet orders (every worker's).
 */
export function attachConfiguration(config: vscode.DebugConfiguration, p: ProcessInfo): vscode.DebugConfiguration {
    if (p.dapPort === null) {
        throw new Error(`process ${p.pid} serves no DAP endpoint (otrace was started with dap_port=None)`);
    }
    return { ...config, pid: p.pid, host: p.host, dapPort: p.dapPort, token: p.token, ...(p.fleet ? { fleet: true } : {}) };
}

/** Resolves `otrace` configurations through discovery (see the module docstring). */
export class OTraceDebugConfigurationProvider implements vscode.DebugConfigurationProvider {
    constructor(private readonly env: DebugEnv) {}

    provideDebugConfigurations(): vscode.DebugConfiguration[] {
        return [defaultAttachConfiguration()];
    }

    /** F5 without a launch.json: the default attach configuration. */
    resolveDebugConfiguration(_folder: vscode.WorkspaceFolder | undefined, config: vscode.DebugConfiguration): vscode.DebugConfiguration {
        return config.type || config.request || config.name ? config : defaultAttachConfiguration();
    }

    /**
     * After `${...}` substitution: the process chosen and the connection filled in. Returns
     * undefined (start aborted) after showing a one-line error, or when the pick is cancelled.
     */
    async resolveDebugConfigurationWithSubstitutedVariables(_folder: vscode.WorkspaceFolder | undefined,
        config: vscode.DebugConfiguration): Promise<vscode.DebugConfiguration | undefined> {
        try {
            if (config.request !== 'attach') {
                throw new Error(`otrace only attaches to a running application ("request": "attach", not ${JSON.stringify(config.request)})`);
            }
            const p = await chooseProcess(this.env, configuredPid(config.pid));
            return p ? attachConfiguration(config, p) : undefined;
        } catch (e) {
            this.env.ui.error((e as Error).message);
            return undefined;
        }
    }
}

/** Connects a session to the DAP endpoint its resolved configuration names. */
export class OTraceDebugAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
    createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.DebugAdapterDescriptor {
        const { dapPort, host } = session.configuration;
        if (typeof dapPort !== 'number') {
            throw new Error('otrace: this configuration was not resolved to a process (no dapPort)');
        }
        return new vscode.DebugAdapterServer(dapPort, host || '127.0.0.1');
    }
}

/** Register the debug type, "otrace: Attach Debugger" and `otrace.pickProcess`; returns their disposables. */
export function registerDebugging(env: DebugEnv): vscode.Disposable[] {
    return [
        vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, new OTraceDebugConfigurationProvider(env)),
        vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new OTraceDebugAdapterFactory()),
        vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, {
            createDebugAdapterTracker: () => ({ onDidSendMessage: rewriteAdapterMessage }),
        }),
        vscode.commands.registerCommand('otrace.attachDebugger', () =>
            vscode.debug.startDebugging(vscode.workspace.workspaceFolders?.[0], defaultAttachConfiguration())),
        vscode.commands.registerCommand('otrace.pickProcess', async () => {
            try {
                return String((await chooseProcess({ ...env, folders: () => [], attached: () => [] }, undefined))?.pid ?? '') || undefined;
            } catch (e) {
                env.ui.error((e as Error).message);
                return undefined;
            }
        }),
    ];
}
