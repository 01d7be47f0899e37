/**
 * The pure parts of the `otrace:` file system (issue 19): where an `otrace:` URI points in /osh of
 * which process, what file type a /osh entry is, the diagnostics of a refused save, and the text of
 * a source file with one function's live code in place of its own (the right side of "Compare with
 * Source"). No `vscode` API here: the provider (`oshFileSystem.ts`) and the patch commands
 * (`patchCommands.ts`) build VS Code objects from these answers, and the unit tests call them directly.
 *
 * A process's /osh is the URI `otrace://<authority>/`, where the authority is its connection key
 * made URI-safe (`pid:1234` -> `pid-1234`); `/osh/globals/GetHandler/respond.py` is
 * `otrace://pid-1234/globals/GetHandler/respond.py`.
 */

/** The URI scheme of the /osh file system. */
export const OSH_SCHEME = 'otrace';
/** The URI scheme of the read-only "live code in its file" documents of "Compare with Source". */
export const LIVE_SCHEME = 'otrace-live';
/** The root of the object shell's tree, as the server names its paths. */
export const OSH_ROOT = '/osh';

/** The URI authority of a connection key: `pid:1234` -> `pid-1234` (what a URI authority may hold). */
export function authorityOf(key: string): string {
    return key.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
}

/** The /osh path of an `otrace:` URI's path: `/` -> `/osh`, `/globals/x.py` -> `/osh/globals/x.py`. */
export function oshPathOf(uriPath: string): string {
    const parts = uriPath.split('/').filter((p) => p && p !== '.');
    return [OSH_ROOT, ...parts].join('/');
}

/** The `otrace:` URI path of a /osh path (the inverse of `oshPathOf`); throws for a path outside /osh. */
export function uriPathOf(oshPath: string): string {
    const parts = oshPath.split('/').filter(Boolean);
    if (parts[0] !== OSH_ROOT.slice(1)) {
        throw new Error(`not a /osh path: ${oshPath}`);
    }
    return '/' + parts.slice(1).join('/');
}

/** The numbers of `vscode.FileType` (so this module needs no `vscode`). */
export const FILE = 1;
export const DIRECTORY = 2;

/** The `vscode.FileType` of a /osh entry's `type` ("directory" or "file"; anything else reads as a file). */
export function fileTypeOf(type: string): number {
    return type === 'directory' ? DIRECTORY : FILE;
}

/** A diagnostic of a refused save, 0-based, in the saved text. */
export interface SaveDiagnostic { line: number; column: number; message: string }

/**
 * The diagnostics of an `otrace/fs/writeFile` error (its `data.diagnostics`: `{line, column,
 * message}`, 1-based as Python reports a SyntaxError), 0-based; [] when the error carries none
 * (a safe-mode refusal, a function that cannot be patched, ...).
 */
export function saveDiagnostics(data: unknown): SaveDiagnostic[] {
    const list = (data as { diagnostics?: unknown } | null | undefined)?.diagnostics;
    if (!Array.isArray(list)) {
        return [];
    }
    return list.flatMap((d) => {
        if (!d || typeof d !== 'object' || typeof (d as any).message !== 'string') {
            return [];
        }
        const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.max(0, Math.floor(v) - 1) : 0);
        return [{ line: num((d as any).line), column: num((d as any).column), message: (d as any).message }];
    });
}

/**
 * `fileText` with its lines `startLine`..`endLine` (1-based, inclusive: the function as the file
 * has it) replaced by `live` (the function's live source): the repository file as the process runs
 * it. The file's line ending is kept; `live` gets one at its end when it lacks it.
 */
export function withLiveCode(fileText: string, startLine: number, endLine: number, live: string): string {
    const eol = fileText.includes('\r\n') ? '\r\n' : '\n';
    const lines = fileText.split(/\r?\n/);
    const body = live.replace(/\r?\n$/, '').split(/\r?\n/);
    const start = Math.max(0, Math.min(startLine - 1, lines.length));
    const end = Math.max(start, Math.min(endLine, lines.length));
    return [...lines.slice(0, start), ...body, ...lines.slice(end)].join(eol);
}

/** The last part of a /osh path or patch name, for titles: `/osh/globals/A/f.py` -> `f.py`. */
export function baseName(path: string): string {
    const parts = path.split('/').filter(Boolean);
    return parts[parts.length - 1] ?? path;
}
