import { strict as assert } from 'assert';
import { test } from 'node:test';
import { applyCompletion, commonPrefix, LineEditor, visible } from '../src/lineEditor';

const UP = '\x1b[A', DOWN = '\x1b[B', LEFT = '\x1b[D', RIGHT = '\x1b[C';

test('typing echoes; Enter submits the line and clears it', () => {
    const ed = new LineEditor('g> ');
    assert.equal(ed.feed('ls').output, 'ls');
    const r = ed.feed('\r');
    assert.deepEqual(r.actions, [{ kind: 'submit', line: 'ls' }]);
    assert.equal(ed.buffer, '');
    assert.ok(r.output.endsWith('\r\n'));
});

test('cursor movement, insertion and deletion in the middle of the line', () => {
    const ed = new LineEditor('> ');
    ed.feed('pt');
    ed.feed(LEFT);
    ed.feed('r');
    assert.equal(ed.buffer, 'prt');
    ed.feed('\x7f');                    // backspace deletes before the cursor
    assert.equal(ed.buffer, 'pt');
    ed.feed('\x1b[H\x1b[3~');           // Home, Delete
    assert.equal(ed.buffer, 't');
    ed.feed('\x05x');                   // Ctrl-E, type
    assert.equal(ed.buffer, 'tx');
    ed.feed(RIGHT);                     // at the end: nothing
    assert.equal(ed.cursor, 2);
    ed.feed('\x01\x0b');                // Ctrl-A, Ctrl-K
    assert.equal(ed.buffer, '');
});

test('history: Up/Down walk submitted lines and restore the draft', () => {
    const ed = new LineEditor('> ');
    ed.feed('one\r');
    ed.feed('two\r');
    ed.feed('two\r');                   // repeated line stored once
    ed.feed('   \r');                   // blank line not stored
    assert.deepEqual(ed.history, ['one', 'two']);
    ed.feed('dra');
    ed.feed(UP);
    assert.equal(ed.buffer, 'two');
    ed.feed(UP);
    assert.equal(ed.buffer, 'one');
    ed.feed(UP);                        // at the oldest: stays
    assert.equal(ed.buffer, 'one');
    ed.feed(DOWN);
    ed.feed(DOWN);
    assert.equal(ed.buffer, 'dra');
});

test('TAB asks for completion at the cursor; Ctrl-C drops the line', () => {
    const ed = new LineEditor('> ');
    ed.feed('cd /osh/rec');
    assert.deepEqual(ed.feed('\t').actions, [{ kind: 'complete', line: 'cd /osh/rec', cursor: 11 }]);
    const r = ed.feed('\x03');
    assert.deepEqual(r.actions, [{ kind: 'interrupt' }]);
    assert.equal(ed.buffer, '');
});

test('asynchronous output goes above the line being typed, which is redrawn', () => {
    const ed = new LineEditor('globals> ');
    ed.feed('abc');
    ed.feed(LEFT);
    const out = ed.printAbove('[holds] GetHandler.get held\nsecond line');
    assert.ok(out.startsWith('\r\x1b[K[holds] GetHandler.get held\r\nsecond line\r\n'));
    assert.ok(out.endsWith('globals> abc\x1b[1D'));          // prompt, line, cursor back in place
    ed.setBusy(true);                                         // while a command runs: no redraw, keys ignored
    assert.equal(ed.printAbove('x'), '\r\x1b[Kx\r\n');
    ed.feed('zz');
    assert.equal(ed.buffer, 'abc');
});

test('completion replaces the last word, extends to a common prefix, or asks to list', () => {
    assert.deepEqual(applyCompletion('ls Get', 6, ['GetHandler']), { line: 'ls GetHandler ', cursor: 14, list: false });
    assert.deepEqual(applyCompletion('cd /osh/rec', 11, ['/osh/recent']), { line: 'cd /osh/recent', cursor: 14, list: false });
    assert.deepEqual(applyCompletion('l', 1, ['lock', 'ls']), { line: 'l', cursor: 1, list: true });
    assert.deepEqual(applyCompletion('cd /osh/recent/h', 16, ['/osh/recent/holds', '/osh/recent/holdx']).line, 'cd /osh/recent/hold');
    assert.deepEqual(applyCompletion('x', 1, []), { line: 'x', cursor: 1, list: false });
    assert.equal(commonPrefix(['abc', 'abd', 'ab']), 'ab');
});

test('visible: terminal controls, bidi and invisible characters become their escapes (the server\'s rule)', () => {
    assert.equal(visible('\x1b[2J\x1b]0;owned\x07'), '\\x1b[2J\\x1b]0;owned\\x07');
    assert.equal(visible('ok\rFAKE\x9b31m\x7f'), 'ok\\rFAKE\\x9b31m\\x7f');
    assert.equal(visible('abc\u202edef\u2066\u200b\ufeff'), 'abc\\u202edef\\u2066\\u200b\\ufeff');
    assert.equal(visible('tag\u{e0041}'), 'tag\\U000e0041');
    assert.equal(visible('lone \ud800'), 'lone \\ud800');
    assert.equal(visible('two\nlines\tand tab'), 'two\nlines\tand tab');
    assert.equal(visible('two\nlines\tand tab', true), 'two\\nlines\\tand tab');
    const plain = 'plain é ✓ 漢字 👨\u200d👩\u200d👧';
    assert.equal(visible(plain), plain);
    assert.equal(visible(visible('\x1b\u202e')), visible('\x1b\u202e'));
});

test('output, prompt and line are written visible: nothing raw reaches the terminal', () => {
    const ed = new LineEditor('web..\x1b[31mx> ');
    const above = ed.printAbove('value \x1b[2J\x1b]0;t\x07\nnext \u202eline');
    assert.ok(above.includes('value \\x1b[2J\\x1b]0;t\\x07\r\nnext \\u202eline\r\n'), above);
    assert.ok(above.includes('web..\\x1b[31mx> '), above);
    assert.ok(!/\x1b\[2J|\x1b\]|\x07|\u202e|\x1b\[31m/.test(above), above);
    const echo = ed.feed('a\x9bb');                       // a C1 character typed or pasted
    assert.ok(!echo.output.includes('\x9b') && echo.output.includes('a\\x9bb'), echo.output);
    const moved = ed.feed(LEFT + LEFT).output;            // over the escaped character: redrawn
    assert.ok(!moved.includes('\x9b'), moved);
    assert.equal(ed.cursor, 1);
});
