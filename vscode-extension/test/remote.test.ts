import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'node:test';
import { checkHost, failure, listRemote, otraceArgs, parseAttach, parsePs, pythonFor, RemoteTunnel, rememberHost, type RemoteRunner } from '../src/remote';

/**
 * A scripted `python -m otrace_server.cli`: by host, `good` lists one process and forwards it until
 * SIGTERM (writing `terminated` to $LOG), `down` is not reachable (exit 3), `gone` forwards then ends
 * by itself, `mute` never answers; every argv is appended to $LOG.
 */
function fakeOtrace(): { runner: RemoteRunner; log: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otrace-remote-'));
    const log = path.join(dir, 'log');
    const script = path.join(dir, 'python');
    fs.writeFileSync(script, `#!/bin/bash
echo "$*" >> "$LOG"
sub=$3; host=$5
record='{"pid": 4242, "ppid": 1, "argv": ["/srv/app.py", "--port", "8000"], "cwd": "/srv", "host": "127.0.0.1", "lsp_port": 52001, "dap_port": 52003, "started": 100, "fleet": null'
case "$host:$sub" in
  good:ps) echo "motd of the login"; echo "[$record}]";;
  good:attach) trap 'echo terminated >> "$LOG"; exit 0' TERM; echo "$record, \\"token\\": \\"secret\\", \\"remote\\": \\"good\\"}"; while :; do sleep 0.05; done;;
  down:*) echo '{"error": "cannot reach down over ssh: Connection refused"}'; echo "otrace: cannot reach down over ssh: Connection refused" >&2; exit 3;;
  gone:attach) echo "$record, \\"token\\": \\"t\\"}"; sleep 0.2; echo "otrace: the process 4242 on gone ended; tunnel closed" >&2; exit 1;;
  nopid:attach) echo "otrace: no otrace process 4242 on nopid (otrace ps --ssh nopid lists them)" >&2; exit 1;;
  mute:*) sleep 5;;
esac
`, { mode: 0o755 });
    return { runner: { python: script, sshArgs: ['-p', '2222'], env: { ...process.env, LOG: log } }, log };
}

test('the Python that runs otrace: the setting, else $VIRTUAL_ENV, else a folder\'s .venv, else python3', () => {
    const exists = (p: string) => p === '/venv/bin/python' || p === '/ws/.venv/bin/python';
    assert.equal(pythonFor(' /opt/py/bin/python ', {}, [], exists), '/opt/py/bin/python');
    assert.equal(pythonFor('', { VIRTUAL_ENV: '/venv' }, ['/ws'], exists), '/venv/bin/python');
    assert.equal(pythonFor('', {}, ['/other', '/ws'], exists), '/ws/.venv/bin/python');
    assert.equal(pythonFor('', { VIRTUAL_ENV: '/nope' }, ['/other'], exists), 'python3');
});

test('hosts: checked as typed, the recent ones remembered most recent first, at most ten', () => {
    assert.equal(checkHost(' deploy@web1 '), 'deploy@web1');
    for (const bad of ['', 'a b', '-oProxyCommand=x']) {
        assert.throws(() => checkHost(bad), /\[user@\]host/);
    }
    assert.deepEqual(rememberHost(['b', 'a', 'c'], 'a'), ['a', 'b', 'c']);
    assert.equal(rememberHost(Array.from({ length: 12 }, (_, i) => `h${i}`), 'new').length, 10);
});

test('the command lines, and the answers parsed: ps records without tokens, attach\'s local ends with the token', () => {
    const runner = { python: 'py', sshArgs: ['-i', 'k'] };
    assert.deepEqual(otraceArgs(runner, 'ps', 'h', '--json'), ['-m', 'otrace_server.cli', 'ps', '--ssh', 'h', '-i', 'k', '--json']);
    const [p] = parsePs('banner\n[{"pid": 7, "argv": ["app.py"], "cwd": "/srv", "lsp_port": 1, "dap_port": null, "fleet": {"id": "f", "name": "app.py"}}]\n');
    assert.equal(p.pid, 7);
    assert.equal(p.token, '');
    assert.equal(p.fleet?.name, 'app.py');
    assert.throws(() => parsePs('Permission denied'), /unexpected answer of otrace ps/);
    const local = parseAttach('{"pid": 7, "host": "127.0.0.1", "lsp_port": 52001, "dap_port": 52003, "token": "s"}');
    assert.equal(local.lspPort, 52001);
    assert.equal(local.token, 's');
    assert.throws(() => parseAttach('{"error": "x"}'), /unexpected answer/);
});

test('failures are one line: the command\'s own, exit status 3 saying the host is not reachable', () => {
    assert.equal(failure('h', 3, '{"error": "cannot reach h over ssh: timeout"}\n', 'otrace: cannot reach h over ssh: timeout\n'),
        'h is not reachable over ssh: cannot reach h over ssh: timeout');
    assert.equal(failure('h', 1, '', 'Traceback...\notrace: no otrace process 9 on h\n'), 'no otrace process 9 on h');
    assert.equal(failure('h', 1, '', 'just this\n'), 'just this');
    assert.equal(failure('h', 2, '', ''), 'otrace exited with status 2 on h');
});

test('otrace ps --ssh: the host\'s processes; an unreachable host is one clear error; a missing Python names the setting', async () => {
    const { runner, log } = fakeOtrace();
    const procs = await listRemote(runner, 'good');
    assert.deepEqual(procs.map((p) => [p.pid, p.cwd, p.lspPort]), [[4242, '/srv', 52001]]);
    assert.match(fs.readFileSync(log, 'utf8'), /^-m otrace_server\.cli ps --ssh good -p 2222 --json$/m);
    await assert.rejects(listRemote(runner, 'down'), /^Error: down is not reachable over ssh: cannot reach down over ssh: Connection refused$/);
    await assert.rejects(listRemote(runner, 'mute', 300), /no answer from mute within 0.3s/);
    await assert.rejects(listRemote({ python: '/nonexistent/python', sshArgs: [] }, 'good'), /cannot run \/nonexistent\/python -m otrace_server\.cli \(set otrace\.pythonPath/);
});

test('otrace attach --ssh: kept running while attached, its first line the local ends; close sends SIGTERM', async () => {
    const { runner, log } = fakeOtrace();
    const tunnel = await RemoteTunnel.open(runner, 'good', 4242);
    assert.equal(tunnel.info.lspPort, 52001);
    assert.equal(tunnel.info.token, 'secret');
    const ended: string[] = [];
    tunnel.onExit((why) => ended.push(why));
    tunnel.close();
    for (let i = 0; i < 100 && !fs.readFileSync(log, 'utf8').includes('terminated'); i++) {
        await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(fs.readFileSync(log, 'utf8'), /attach --ssh good -p 2222 4242 --json\nterminated/);
    assert.deepEqual(ended, []);                              // closed by us: no "ended" message
});

test('a tunnel that ends by itself says why; one that cannot start is one line', async () => {
    const { runner } = fakeOtrace();
    const tunnel = await RemoteTunnel.open(runner, 'gone', 4242);
    const why = await new Promise<string>((resolve) => tunnel.onExit(resolve));
    assert.equal(why, 'the process 4242 on gone ended; tunnel closed');
    await assert.rejects(RemoteTunnel.open(runner, 'down', 4242), /^Error: down is not reachable over ssh: /);
    await assert.rejects(RemoteTunnel.open(runner, 'nopid', 4242), /^Error: no otrace process 4242 on nopid/);
    await assert.rejects(RemoteTunnel.open(runner, 'mute', 4242, 300), /took over 0.3s/);
});

test('a remote process\'s target: its pid for labels, never ended by a local pid check; a remote fleet is host/id', () => {
    // (loaded here: remoteCommand.ts needs the vscode stub only when its command runs)
    const { remoteTarget } = require('../src/remoteCommand') as typeof import('../src/remoteCommand');
    const { processEnded } = require('../src/discovery') as typeof import('../src/discovery');
    let closed = 0;
    const tunnel = { host: 'deploy@web1', info: parseAttach('{"pid": 4242, "host": "127.0.0.1", "lsp_port": 52001, "dap_port": null, "token": "s"}'),
        close: () => { closed++; } } as any;
    const [worker] = parsePs('[{"pid": 4242, "argv": ["/srv/app.py"], "cwd": "/srv", "lsp_port": 1, "fleet": {"id": "ppid-7", "name": "app.py"}}]');
    const t = remoteTarget(worker, tunnel);
    assert.deepEqual([t.key, t.label, t.port, t.token, t.pid, t.remote], ['ssh:deploy@web1:4242', 'app.py (pid 4242) on deploy@web1', 52001, 's', 4242, 'deploy@web1']);
    assert.deepEqual(t.fleet, { id: 'deploy@web1/ppid-7', name: 'app.py on deploy@web1' });
    assert.equal(processEnded({ ...t, pid: 999999999 }, () => false), false);
    t.release!();
    assert.equal(closed, 1);
});
