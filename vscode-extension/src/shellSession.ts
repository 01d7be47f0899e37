/**
 * A console's own connection to an otrace process: plain `vscode-jsonrpc` over TCP with the
 * discovery token, so each console has its own shell session (cwd, directory stack), as the
 * server gives every connection one (docs/PROTOCOL.md). Receives `otrace/output` and
 * `otrace/traceEvent` for the console to print.
 *
 * Thread-safety: single-threaded (the extension host).
 */
import * as net from 'net';
import { createMessageConnection, MessageConnection, SocketMessageReader, SocketMessageWriter } from 'vscode-jsonrpc/node';

export interface SessionTarget { host: string; port: number; token: string }

export class ShellSession {
    private closedHandlers: (() => void)[] = [];

    private constructor(private readonly conn: MessageConnection, private readonly sock: net.Socket) {
        conn.onClose(() => this.closedHandlers.forEach((h) => h()));
    }

    /** Connect and initialize; rejects with a one-line Error (nothing listening, wrong token, ...). */
    static open(t: SessionTarget, output: (text: string) => void, timeoutMs = 10000): Promise<ShellSession> {
        return new Promise((resolve, reject) => {
            const sock = net.connect(t.port, t.host);
            const timer = setTimeout(() => {
                sock.destroy();
                reject(new Error(`no answer from ${t.host}:${t.port}`));
            }, timeoutMs);
            sock.once('error', (e) => {
                clearTimeout(timer);
                reject(new Error(`cannot connect to ${t.host}:${t.port}: ${e.message}`));
            });
            sock.once('connect', async () => {
                const conn = createMessageConnection(new SocketMessageReader(sock), new SocketMessageWriter(sock));
                conn.onNotification('otrace/output', (p: { text: string }) => output(p.text));
                conn.onNotification('otrace/traceEvent', (p: { kind: string; traceId: string; message?: string }) =>
                    output(`[${p.kind}] ${p.message || p.traceId}`));
                conn.onRequest(() => null);   // e.g. workspace/codeLens/refresh: nothing to do here
                conn.listen();
                try {
                    await conn.sendRequest('initialize', {
                        processId: process.pid, rootUri: null, capabilities: {},
                        clientInfo: { name: 'otrace-vscode-console' }, initializationOptions: { token: t.token },
                    });
                    conn.sendNotification('initialized', {});
                    clearTimeout(timer);
                    resolve(new ShellSession(conn, sock));
                } catch (e) {
                    clearTimeout(timer);
                    conn.dispose();
                    sock.destroy();
                    reject(new Error((e as Error).message));
                }
            });
        });
    }

    /** A request on this session; rejects with a one-line Error. */
    async request<T>(method: string, params: object): Promise<T> {
        try {
            return await this.conn.sendRequest<T>(method, params);
        } catch (e) {
            throw new Error((e as Error).message);
        }
    }

    onClose(handler: () => void): void {
        this.closedHandlers.push(handler);
    }

    dispose(): void {
        this.closedHandlers = [];
        this.conn.dispose();
        this.sock.destroy();
    }
}
