/**
 * Processes of another host over SSH (issue 20 point 2; README "Remote processes"), through the
 * `otrace` command run by the configured Python (`python -m otrace_server.cli`): `otrace ps --ssh
 * HOST --json` lists the host's otrace processes (their discovery records, without tokens), and
 * `otrace attach --ssh HOST PID --json` is kept running as a child process while attached (the
 * tunnel: OpenSSH's `ssh -L`); its first stdout line is the local ends in a discovery file's
 * shape, token included (kept in memory only). `RemoteTunnel.close` sends it SIGTERM (it closes the
 * tunnel); when it ends by itself (the process or the ssh connection ended) `onExit` says why.
 * Failures are one line: the command's own (`{"error": LINE}` on stdout, `otrace: LINE` on
 * stderr), exit status 3 meaning the host could not be reached over ssh.
 * Pure Node (no `vscode` import): unit-tested directly against a scripted `otrace`.
 *
 * Thread-safety: single-threaded (the extension host); child processes are watched by callbacks.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parseDiscovery, type ProcessInfo } from './discovery';

/** How to run `otrace`: the Python (with otrace_server importable) and the ssh options (-p, -i, -F, --remote-dir). */
export interface RemoteRunner { python: string; sshArgs: string[]; env?: NodeJS.ProcessEnv }

/** `otrace attach --ssh`'s exit status when the host could not be reached over ssh. */
export const EXIT_UNREACHABLE = 3;
/** How long `otrace attach --ssh` may take to forward the ports. */
export const ATTACH_TIMEOUT_MS = 60000;

/**
 * The Python that runs `otrace`: the setting, else `$VIRTUAL_ENV/bin/python`, else a workspace
 * folder's `.venv/bin/python`, else `python3` (on the PATH).
 */
export function pythonFor(setting: string, env: NodeJS.ProcessEnv, folders: string[], exists: (p: string) => boolean = fs.existsSync): string {
    if (setting.trim()) {
        return setting.trim();
    }
    const candidates = [...(env.VIRTUAL_ENV ? [path.join(env.VIRTUAL_ENV, 'bin', 'python')] : []),
        ...folders.map((f) => path.join(f, '.venv', 'bin', 'python'))];
    return candidates.find(exists) ?? 'python3';
}

/** A host as typed: `[user@]host` (or a Host of the ssh config); throws a one-line Error otherwise. */
export function checkHost(text: string): string {
    const host = text.trim();
    if (!host || /\s/.test(host) || host.startsWith('-')) {
        throw new Error('a host is [user@]host (or a Host of your ssh config), without spaces, not starting with "-"');
    }
    return host;
}

/** `hosts` with `host` first (once), at most `keep`: the recent hosts to offer next time. */
export function rememberHost(hosts: readonly string[], host: string, keep = 10): string[] {
    return [host, ...hosts.filter((h) => h !== host)].slice(0, keep);
}

/** The argv of `otrace SUB --ssh HOST [ssh options] ARGS...` run by `python -m otrace_server.cli`. */
export function otraceArgs(runner: RemoteRunner, sub: 'ps' | 'attach', host: string, ...args: string[]): string[] {
    return ['-m', 'otrace_server.cli', sub, '--ssh', host, ...runner.sshArgs, ...args];
}

/**
 * The one-line error of a failed `otrace ps/attach --ssh` run: its `{"error": LINE}` (stdout), else
 * its last `otrace: LINE` on stderr, else stderr's last line; `code` 3 says the host was not reached.
 */
export function failure(host: string, code: number | null, stdout: string, stderr: string): string {
    let message = '';
    for (const line of stdout.split('\n').reverse()) {
        try {
            const d = JSON.parse(line);
            if (d && typeof d.error === 'string') {
                message = d.error;
                break;
            }
        } catch {
            // not the JSON line
        }
    }
    const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
    message ||= (lines.reverse().find((l) => l.startsWith('otrace: ')) ?? lines[0] ?? '').replace(/^otrace: /, '');
    if (code === EXIT_UNREACHABLE) {
        return message ? `${host} is not reachable over ssh: ${message}` : `${host} is not reachable over ssh`;
    }
    return message || `otrace exited with status ${code} on ${host}`;
}

/** The records of `otrace ps --ssh HOST --json` (one JSON list, tokens left out); throws a one-line Error. */
export function parsePs(stdout: string): ProcessInfo[] {
    const line = stdout.trim().split('\n').pop() ?? '';
    let list: unknown;
    try {
        list = JSON.parse(line);
    } catch {
        throw new Error(`unexpected answer of otrace ps: ${line.slice(0, 200)}`);
    }
    if (!Array.isArray(list)) {
        throw new Error(`unexpected answer of otrace ps: ${line.slice(0, 200)}`);
    }
    return list.flatMap((r) => {
        const p = parseDiscovery(JSON.stringify({ token: '', ...r }), '');
        return p ? [p] : [];
    });
}

/** The first line of `otrace attach --json`: the local ends (`host`, `lsp_port`, `dap_port`, `token`); throws a one-line Error. */
export function parseAttach(line: string): ProcessInfo {
    const p = parseDiscovery(line, '');
    if (!p || !p.token) {
        throw new Error(`unexpected answer of otrace attach: ${line.slice(0, 200)}`);
    }
    return p;
}

/** Why a command could not be started (the Python missing): one line naming the setting. */
function notRunnable(runner: RemoteRunner, e: NodeJS.ErrnoException): Error {
    return new Error(`cannot run ${runner.python} -m otrace_server.cli (set otrace.pythonPath to a Python with otrace-server): ${e.code ?? e.message}`);
}

/** `otrace ps --ssh HOST --json`: the host's live otrace processes; rejects with a one-line Error. */
export function listRemote(runner: RemoteRunner, host: string, timeoutMs = ATTACH_TIMEOUT_MS): Promise<ProcessInfo[]> {
    return new Promise((resolve, reject) => {
        execFile(runner.python, otraceArgs(runner, 'ps', host, '--json'), { env: runner.env, timeout: timeoutMs, maxBuffer: 16 << 20 },
            (error, stdout, stderr) => {
                if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT' || (error as NodeJS.ErrnoException | null)?.code === 'EACCES') {
                    reject(notRunnable(runner, error as NodeJS.ErrnoException));
                } else if (error) {
                    reject(new Error(error.killed ? `no answer from ${host} within ${timeoutMs / 1000}s`
                        : failure(host, typeof error.code === 'number' ? error.code : null, String(stdout), String(stderr))));
                } else {
                    try {
                        resolve(parsePs(String(stdout)));
                    } catch (e) {
                        reject(e);
                    }
                }
            });
    });
}

/** A running `otrace attach --ssh HOST PID --json`: the local ends of a remote process's ports. */
export class RemoteTunnel {
    private exitHandlers: ((why: string) => void)[] = [];
    private closing = false;
    private readonly killOnExit = () => this.child.kill('SIGTERM');

    private constructor(private readonly child: ChildProcess, readonly host: string, readonly info: ProcessInfo, stderr: () => string) {
        process.once('exit', this.killOnExit);      // the extension host ending: the tunnel too
        child.once('exit', (code) => {
            process.removeListener('exit', this.killOnExit);
            if (!this.closing) {
                const why = failure(host, code, '', stderr()) || `otrace attach ended (status ${code})`;
                this.exitHandlers.forEach((h) => h(why));
            }
        });
    }

    /**
     * Start `otrace attach --ssh HOST PID --json` and wait for its first line (the local ends);
     * rejects with a one-line Error (and ends the child) when it fails or takes over `timeoutMs`.
     */
    static open(runner: RemoteRunner, host: string, pid: number, timeoutMs = ATTACH_TIMEOUT_MS): Promise<RemoteTunnel> {
        return new Promise((resolve, reject) => {
            const child = spawn(runner.python, otraceArgs(runner, 'attach', host, String(pid), '--json'),
                { env: runner.env, stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            let err = '';
            let settled = false;
            const settle = (f: () => void) => {
                if (!settled) {
                    settled = true;
                    clearTimeout(timer);
                    f();
                }
            };
            const timer = setTimeout(() => settle(() => {
                child.kill('SIGTERM');
                reject(new Error(`forwarding the ports of process ${pid} on ${host} took over ${timeoutMs / 1000}s`));
            }), timeoutMs);
            child.stderr!.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-8192); });
            child.stdout!.setEncoding('utf8').on('data', (d: string) => {
                out += d;
                const nl = out.indexOf('\n');
                if (nl < 0 || settled) {
                    return;
                }
                const line = out.slice(0, nl);
                let info: ProcessInfo;
                try {
                    info = parseAttach(line);
                } catch (e) {
                    if (!/^\s*\{\s*"error"/.test(line)) {     // {"error": ...}: its exit status follows
                        settle(() => {
                            child.kill('SIGTERM');
                            reject(e);
                        });
                    }
                    return;
                }
                settle(() => resolve(new RemoteTunnel(child, host, info, () => err)));
            });
            child.once('error', (e) => settle(() => reject(notRunnable(runner, e))));
            child.once('exit', (code) => settle(() => reject(new Error(failure(host, code, out, err)))));
        });
    }

    /** `handler(why)` when the tunnel ends by itself (not by `close`). */
    onExit(handler: (why: string) => void): void {
        this.exitHandlers.push(handler);
    }

    /** End the tunnel (SIGTERM: `otrace attach` closes its ssh connection). */
    close(): void {
        if (!this.closing) {
            this.closing = true;
            this.exitHandlers = [];
            this.child.kill('SIGTERM');
        }
    }
}
