/**
 * A REAL demo process killed with SIGKILL leaves its discovery file behind (no atexit runs): the
 * extension must still see that the process ended, or a dropped connection would stay
 * "reconnecting" forever with its held requests listed (`processEnded`, used by the reconnect loop).
 * Needs the project's Python (OTRACE_PYTHON, default ../.venv/bin/python).
 */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'node:test';
import { listProcesses, processEnded } from '../src/discovery';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PYTHON = process.env.OTRACE_PYTHON || path.join(ROOT, '.venv', 'bin', 'python');

test('a process killed with SIGKILL counts as ended although its discovery file stays', { timeout: 30000 }, async () => {
    const xdg = fs.mkdtempSync(path.join(os.tmpdir(), 'otrace-xdg-'));
    const dir = path.join(xdg, 'otrace');
    const demo = spawn(PYTHON, [path.join(ROOT, 'demos', 'torna_trace.py'), '--port', '0', '--no-console', '--exit-on-stdin-eof'],
        { env: { ...process.env, XDG_RUNTIME_DIR: xdg, PYTHONPATH: ROOT }, stdio: ['pipe', 'ignore', 'inherit'] });
    const exited = new Promise<void>((resolve) => demo.once('exit', () => resolve()));
    try {
        let found = listProcesses(dir);
        for (let n = 0; n < 400 && !found.length; n++) {
            await new Promise((r) => setTimeout(r, 50));
            found = listProcesses(dir);
        }
        assert.equal(found.length, 1, 'the demo wrote its discovery file');
        const target = { pid: found[0].pid, discoveryFile: found[0].file };
        assert.equal(processEnded(target), false);
        assert.equal(processEnded({}), false);                 // manual settings: never "ended"
        demo.kill('SIGKILL');
        await exited;
        assert.ok(fs.existsSync(target.discoveryFile), 'SIGKILL leaves the discovery file');
        assert.equal(processEnded(target), true);
        assert.deepEqual(listProcesses(dir), []);
        fs.unlinkSync(target.discoveryFile);
        assert.equal(processEnded({ discoveryFile: target.discoveryFile }), true);   // a normal exit removes it
    } finally {
        demo.kill('SIGKILL');
        fs.rmSync(xdg, { recursive: true, force: true });
    }
});
