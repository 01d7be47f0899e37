/**
 * The `otrace:` file system and live patches (issue 19) without a window: URI <-> /osh path,
 * entry -> FileType, the diagnostics of a refused save, the file with its function's live code,
 * the provider's requests against a fake connection, the Live Patches rows, and where a generated
 * test goes.
 */
import { strict as assert } from 'assert';
import { test } from 'node:test';
import * as vscode from 'vscode';
import { FOLDER_SETTINGS, OshFileSystem, rootUri, workspaceJson } from '../src/oshFileSystem';
import {
    authorityOf, baseName, DIRECTORY, FILE, fileTypeOf, oshPathOf, saveDiagnostics, uriPathOf, withLiveCode,
} from '../src/oshPaths';
import { patchTarget } from '../src/patchCommands';
import { patchDescription, PatchesProvider, type PatchesNode } from '../src/patchesView';
import type { Patch } from '../src/protocol';
import { testPath, testSummary } from '../src/testgen';
import type { Ui } from '../src/ui';
import { Answering } from './fakes';

test('otrace: URIs: the authority is the connection key made URI-safe, the path is below /osh', () => {
    assert.equal(authorityOf('pid:1234'), 'pid-1234');
    assert.equal(authorityOf('tcp:127.0.0.1:5007'), 'tcp-127.0.0.1-5007');
    assert.equal(oshPathOf('/'), '/osh');
    assert.equal(oshPathOf(''), '/osh');
    assert.equal(oshPathOf('/globals/GetHandler/respond.py'), '/osh/globals/GetHandler/respond.py');
    assert.equal(oshPathOf('/globals//x/'), '/osh/globals/x');
    assert.equal(uriPathOf('/osh'), '/');
    assert.equal(uriPathOf('/osh/globals/GetHandler/respond.py'), '/globals/GetHandler/respond.py');
    for (const p of ['/', '/globals', '/recent/exceptions/f/1', '/patches/GetHandler.respond.py']) {
        assert.equal(uriPathOf(oshPathOf(p)), p);                       // a round trip
    }
    assert.throws(() => uriPathOf('/etc/passwd'), /not a \/osh path/);
    assert.equal(baseName('/osh/globals/GetHandler/respond.py'), 'respond.py');
});

test('entries: a directory is a folder, anything else a file', () => {
    assert.equal(fileTypeOf('directory'), DIRECTORY);
    assert.equal(fileTypeOf('file'), FILE);
    assert.equal(fileTypeOf('symlink'), FILE);
    assert.equal(DIRECTORY, vscode.FileType.Directory);
    assert.equal(FILE, vscode.FileType.File);
});

test('a refused save: the diagnostics of the error data, 0-based; none without them', () => {
    assert.deepEqual(saveDiagnostics({ diagnostics: [{ line: 3, column: 12, message: 'invalid syntax' }] }),
        [{ line: 2, column: 11, message: 'invalid syntax' }]);
    assert.deepEqual(saveDiagnostics({ diagnostics: [{ line: 1, message: 'x' }, { nonsense: 1 }] }), [{ line: 0, column: 0, message: 'x' }]);
    assert.deepEqual(saveDiagnostics(undefined), []);
    assert.deepEqual(saveDiagnostics({ code: 1 }), []);
    assert.deepEqual(saveDiagnostics(null), []);
});

test('the file running the live code: the function\'s lines replaced, the rest and the line endings kept', () => {
    const file = 'import x\n\ndef f():\n    return 1\n\nprint(f())\n';
    assert.equal(withLiveCode(file, 3, 4, 'def f():\n    return 2\n'), 'import x\n\ndef f():\n    return 2\n\nprint(f())\n');
    assert.equal(withLiveCode(file, 3, 4, 'def f():\n    y = 2\n    return y'), 'import x\n\ndef f():\n    y = 2\n    return y\n\nprint(f())\n');
    assert.equal(withLiveCode('a\r\nb\r\nc', 2, 2, 'B\n'), 'a\r\nB\r\nc');
});

/** A fake connection: canned answers per method (a function may throw), requests recorded. */
class FakeConn extends Answering {
    state = 'connected';
    patches: Patch[] = [];
    constructor(public key: string, public label: string, answers: Record<string, (p: any) => unknown>) {
        super(answers);
    }
}

class FakeConns {
    private emitter = new vscode.EventEmitter<{ conn: unknown; what: string }>();
    readonly onDidChange = this.emitter.event;
    constructor(public all: FakeConn[]) {}
    get connected() { return this.all.filter((c) => c.state === 'connected'); }
    get(key: string) { return this.all.find((c) => c.key === key); }
    fire(conn: FakeConn, what: string) { this.emitter.fire({ conn, what }); }
}

function recordingUi(): Ui & { infos: string[]; errors: [string, string | undefined][] } {
    const ui = {
        infos: [] as string[], errors: [] as [string, string | undefined][],
        info: (m: string) => { ui.infos.push(m); },
        error: (m: string, k?: string) => { ui.errors.push([m, k]); },
        input: async () => undefined,
        pick: async <T>(items: T[]) => items[0],
    };
    return ui;
}

function fakeDiagnostics() {
    const set = new Map<string, vscode.Diagnostic[]>();
    return { set, collection: { set: (u: vscode.Uri, d: vscode.Diagnostic[]) => set.set(u.toString(), d), delete: (u: vscode.Uri) => set.delete(u.toString()) } };
}

const SYNTAX = Object.assign(new Error('SyntaxError: invalid syntax (line 2): nothing was patched'),
    { data: { diagnostics: [{ line: 2, column: 5, message: 'invalid syntax' }] } });

test('the provider: stat, folders, files, and saving = patching (a syntax error is a diagnostic, a refusal as said)', async () => {
    let refusal: Error | undefined;
    const conn = new FakeConn('pid:7', 'demo.py (pid 7)', {
        'otrace/fs/stat': (p) => (p.path === '/osh/gone' ? (() => { throw new Error('no such path: /osh/gone'); })()
            : { type: p.path.endsWith('.py') ? 'file' : 'directory', size: 10, mtime: 1700000000.5, readonly: !p.path.endsWith('.py'), patched: false }),
        'otrace/fs/readDirectory': () => ({ entries: [{ name: 'GetHandler', type: 'directory', readonly: true },
            { name: 'respond.py', type: 'file', readonly: false, patched: true }, { name: 'Request_stats', type: 'file', readonly: true }] }),
        'otrace/fs/readFile': () => ({ text: 'def respond(self, n):\n    return n\n', readonly: false, language: 'python', name: 'GetHandler.respond', patched: false }),
        'otrace/fs/writeFile': (p) => {
            if (refusal) {
                throw refusal;
            }
            return p.text.includes('(((') ? (() => { throw SYNTAX; })() : { patched: ['GetHandler.respond'] };
        },
    });
    const conns = new FakeConns([conn]);
    const ui = recordingUi();
    const diags = fakeDiagnostics();
    const fs = new OshFileSystem(conns as any, diags.collection as any, ui);
    const changes: unknown[] = [];
    fs.onDidChangeFile((e) => changes.push(...e));
    const root = rootUri(conn as any);
    assert.equal(root.toString(), 'otrace://pid-7/');
    try {
        const dir = await fs.stat(root);
        assert.equal(dir.type, vscode.FileType.Directory);
        assert.equal(dir.permissions, vscode.FilePermission.Readonly);
        assert.deepEqual(conn.requests[0], ['otrace/fs/stat', { path: '/osh' }]);
        const file = vscode.Uri.joinPath(root, 'globals', 'GetHandler', 'respond.py');
        const st = await fs.stat(file);
        assert.equal(st.type, vscode.FileType.File);
        assert.equal(st.permissions, undefined);                     // a function: writable
        assert.equal(st.mtime, 1700000000500);                        // seconds -> ms
        await assert.rejects(fs.stat(vscode.Uri.joinPath(root, 'gone')), (e: any) => e.code === 'FileNotFound');

        const entries = await fs.readDirectory(vscode.Uri.joinPath(root, 'globals', 'GetHandler'));
        assert.deepEqual(entries, [['GetHandler', vscode.FileType.Directory], ['respond.py', vscode.FileType.File], ['Request_stats', vscode.FileType.File]]);
        assert.equal(fs.provideFileDecoration(file)?.badge, 'P');     // patched, as listed
        assert.equal(fs.provideFileDecoration(vscode.Uri.joinPath(root, 'globals', 'GetHandler', 'Request_stats')), undefined);

        assert.equal(new TextDecoder().decode(await fs.readFile(file)), 'def respond(self, n):\n    return n\n');
        assert.equal(fs.nameOf(file), 'GetHandler.respond');
        assert.equal(fs.provideFileDecoration(file), undefined);      // the read said: not patched (any more)

        await fs.writeFile(file, new TextEncoder().encode('def respond(self, n):\n    return 2 * n\n'));
        assert.deepEqual(conn.requests.at(-1), ['otrace/fs/writeFile', { path: '/osh/globals/GetHandler/respond.py', text: 'def respond(self, n):\n    return 2 * n\n' }]);
        assert.match(ui.infos.at(-1)!, /^patched GetHandler\.respond in demo\.py \(pid 7\)/);
        assert.equal(fs.provideFileDecoration(file)?.badge, 'P');
        assert.deepEqual(changes.at(-1), { type: vscode.FileChangeType.Changed, uri: file });

        await assert.rejects(fs.writeFile(file, new TextEncoder().encode('def respond(self, n):\n    return (((\n')),
            (e: any) => e.code === 'NoPermissions' && /not patched: SyntaxError/.test(e.message));
        const [d] = diags.set.get(file.toString())!;
        assert.equal(d.message, 'invalid syntax');
        assert.deepEqual([d.range.start.line, d.range.start.character], [1, 4]);
        assert.equal(d.severity, vscode.DiagnosticSeverity.Error);

        refusal = new Error('edit: refused in safe mode; set safe_mode False to allow it');
        await assert.rejects(fs.writeFile(file, new TextEncoder().encode('x')), /refused in safe mode/);
        assert.deepEqual(ui.errors.at(-1), [refusal.message, 'pid:7']);   // with its Allow button
        assert.equal(diags.set.has(file.toString()), false);             // the syntax error's diagnostic is gone

        assert.throws(() => fs.delete(file), (e: any) => e.code === 'NoPermissions');
        // the folder's own settings: never auto-saved (a save patches the process)
        const settings = vscode.Uri.joinPath(root, '.vscode', 'settings.json');
        assert.equal(settings.path, FOLDER_SETTINGS);
        const asked = conn.requests.length;
        assert.equal((await fs.stat(settings)).permissions, vscode.FilePermission.Readonly);
        assert.match(new TextDecoder().decode(await fs.readFile(settings)), /"files\.autoSave": "off"/);
        assert.deepEqual(await fs.readDirectory(vscode.Uri.joinPath(root, '.vscode')), [['settings.json', vscode.FileType.File]]);
        assert.equal(conn.requests.length, asked);                       // the process is not asked
        assert.throws(() => fs.createDirectory(file), (e: any) => e.code === 'NoPermissions');
    } finally {
        fs.dispose();
    }
});

test('the provider: a folder of a process not attached yet (a reloaded window) waits for it', async () => {
    const conns = new FakeConns([]);
    const fs = new OshFileSystem(conns as any, fakeDiagnostics().collection as any, recordingUi());
    const uri = vscode.Uri.from({ scheme: 'otrace', authority: 'pid-9', path: '/' });
    const conn = new FakeConn('pid:9', 'late.py (pid 9)', { 'otrace/fs/stat': () => ({ type: 'directory', size: 0, mtime: 0, readonly: true }) });
    try {
        const pending = fs.stat(uri);                  // the window reloaded: the process attaches a moment later
        conns.all.push(conn);
        conns.fire(conn, 'state');
        assert.equal((await pending).type, vscode.FileType.Directory);
    } finally {
        fs.dispose();
    }
});

function patch(name: string, extra: Partial<Patch> = {}): Patch {
    return { name, since: 1000, liveHold: null, ...extra };
}

test('Live Patches: one row per patch, a live hold said so, grouped by process when several', async () => {
    const a = new FakeConn('pid:1', 'a.py (pid 1)', {});
    a.patches = [patch('GetHandler.respond'), patch('GetHandler.get', { liveHold: { label: 'live_get_1', file: '/w/a.py', line: 71 } })];
    const conns = new FakeConns([a]);
    const view = new PatchesProvider(conns as any, () => 1012);
    try {
        const rows = view.getChildren() as Extract<PatchesNode, { kind: 'patch' }>[];
        assert.deepEqual(rows.map((r) => r.patch.name), ['GetHandler.respond', 'GetHandler.get']);
        const edited = view.getTreeItem(rows[0]);
        assert.equal(edited.description, 'edited 12s ago');
        assert.equal(edited.contextValue, 'patch');
        assert.equal(edited.command?.command, 'otrace.comparePatch');
        const held = view.getTreeItem(rows[1]);
        assert.equal(held.description, 'live hold · line 71');
        assert.equal(held.contextValue, 'patch.liveHold');           // no Promote for it
        assert.equal(patchDescription(patch('x', { since: 0 }), 3700), 'edited 1h 1m ago');

        const b = new FakeConn('pid:2', 'b.py (pid 2)', {});
        conns.all.push(b);
        const groups = view.getChildren();
        assert.deepEqual(groups.map((g) => g.kind), ['process', 'process']);
        assert.equal(view.getChildren(groups[0]).length, 2);
        assert.equal(view.getTreeItem(groups[1]).description, '0 live');
    } finally {
        view.dispose();
    }
});

test('patch commands find their patch: a row, [key, name], an otrace: function file, else a pick', async () => {
    const conn = new FakeConn('pid:3', 'c.py (pid 3)', {
        'otrace/fs/readFile': (p) => ({ text: '', readonly: !p.path.endsWith('.py'), language: 'python', patched: true,
            ...(p.path.endsWith('.py') ? { name: 'GetHandler.respond' } : {}) }),
    });
    conn.patches = [patch('GetHandler.respond')];
    const conns = new FakeConns([conn]);
    const ui = recordingUi();
    const fs = new OshFileSystem(conns as any, fakeDiagnostics().collection as any, ui);
    const find = (args: unknown[], active?: vscode.Uri) => patchTarget(conns as any, fs, ui, args, active, 'pick');
    try {
        assert.equal((await find([{ kind: 'patch', conn, patch: conn.patches[0] }]))?.name, 'GetHandler.respond');
        assert.equal((await find([{ kind: 'liveHold', conn, patch: patch('GetHandler.get') }]))?.name, 'GetHandler.get');
        assert.equal((await find(['pid:3', 'f']))?.conn, conn as any);
        const file = vscode.Uri.from({ scheme: 'otrace', authority: 'pid-3', path: '/globals/GetHandler/respond.py' });
        assert.equal((await find([file]))?.name, 'GetHandler.respond');
        assert.equal((await find([], file))?.name, 'GetHandler.respond');     // the active editor
        assert.equal(await find([vscode.Uri.from({ scheme: 'otrace', authority: 'pid-3', path: '/globals/Request_stats' })]), undefined);
        assert.match(ui.errors.at(-1)![0], /not a function's file/);
        assert.equal((await find([]))?.name, 'GetHandler.respond');           // picked
        conn.patches = [];
        assert.equal(await find([]), undefined);
        assert.match(ui.infos.at(-1)!, /no live patch/);
    } finally {
        fs.dispose();
    }
});

test('Open /osh as Folder: the workspace file of a one-folder window keeps its folder and adds /osh', () => {
    const json = JSON.parse(workspaceJson([
        { uri: vscode.Uri.file('/home/me/app'), name: 'app' },
        { uri: vscode.Uri.from({ scheme: 'otrace', authority: 'pid-7', path: '/' }), name: '/osh · app.py (pid 7)' },
    ]));
    assert.deepEqual(json, { folders: [{ path: '/home/me/app', name: 'app' }, { uri: 'otrace://pid-7/', name: '/osh · app.py (pid 7)' }] });
});

test('Generate Test: the file goes to tests/ beside the context\'s folder, a free name; the summary says what was rebuilt', () => {
    const taken = new Set(['/w/app/tests', '/w/app/tests/test_f_raises.py']);
    const exists = (p: string) => taken.has(p);
    assert.equal(testPath(['/w/other', '/w/app'], '/w/app/src/f.py', 'test_f_raises.py', exists), '/w/app/tests/test_f_raises_2.py');
    assert.equal(testPath(['/w/other', '/w/app'], '/elsewhere/f.py', 'test_g.py', exists), '/w/other/test_g.py');
    assert.equal(testPath([], '/w/app/f.py', 'test_g.py', exists), undefined);
    const t = { text: '', suggestedName: 'test_x.py', literal: ['number'], rebuilt: ['self'], todo: [] as string[] };
    assert.equal(testSummary('GetHandler.respond', t),
        'a test of GetHandler.respond pinning the recorded outcome (unsaved): number written literally, self rebuilt');
    t.todo = ['request: a fixture stub', 'outcome: none recorded'];
    assert.match(testSummary('f', t), /; 2 TODOs fail until filled in: request: a fixture stub \.\.\.$/);
});

test('the provider: a folder whose process nobody attached attaches it; one whose process is gone says so at once', async () => {
    const conns = new FakeConns([]);
    const asked: string[] = [];
    const fs = new OshFileSystem(conns as any, fakeDiagnostics().collection as any, recordingUi(), async (authority) => {
        asked.push(authority);
        if (authority !== 'pid-5') {
            return false;
        }
        conns.all.push(new FakeConn('pid:5', 'torna_trace.py (pid 5)', { 'otrace/fs/readDirectory': () => ({ entries: [] }) }));
        return true;
    });
    try {
        assert.deepEqual(await fs.readDirectory(vscode.Uri.from({ scheme: 'otrace', authority: 'pid-5', path: '/' })), []);
        const started = Date.now();
        await assert.rejects(fs.stat(vscode.Uri.from({ scheme: 'otrace', authority: 'pid-6', path: '/' })),
            (e: any) => e.code === 'Unavailable' && /not running/.test(e.message));
        assert.ok(Date.now() - started < 1000);                          // not the attach wait
        assert.deepEqual(asked, ['pid-5', 'pid-6']);
    } finally {
        fs.dispose();
    }
});
