/**
 * A small stand-in for the `vscode` module, loaded with `node --require` before the unit tests so
 * the extension's tree providers and helpers run in plain Node. It implements only what those
 * modules touch (EventEmitter, TreeItem, ThemeIcon, MarkdownString, Range/Position, Uri,
 * DebugAdapterServer, configuration, and what the `otrace:` file system uses: FileType, FileSystemError,
 * Diagnostic, FileDecoration, ...); anything else throws, so a test never passes on a silently missing API.
 */
import Module = require('module');

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
    private listeners: Listener<T>[] = [];
    readonly event = (l: Listener<T>) => {
        this.listeners.push(l);
        return { dispose: () => { this.listeners = this.listeners.filter((x) => x !== l); } };
    };
    fire(e: T): void { [...this.listeners].forEach((l) => l(e)); }
    dispose(): void { this.listeners = []; }
}

export enum TreeItemCollapsibleState { None = 0, Collapsed = 1, Expanded = 2 }
export enum StatusBarAlignment { Left = 1, Right = 2 }
export enum OverviewRulerLane { Left = 1, Center = 2, Right = 4, Full = 7 }

export class TreeItem {
    id?: string; description?: string; tooltip?: unknown; iconPath?: unknown; contextValue?: string;
    command?: { title: string; command: string; arguments?: unknown[] };
    constructor(public label: string, public collapsibleState = TreeItemCollapsibleState.None) {}
}
export class ThemeIcon { constructor(public id: string, public color?: ThemeColor) {} }
export class ThemeColor { constructor(public id: string) {} }
export class MarkdownString {
    value = '';
    isTrusted?: unknown;
    constructor(value = '', public supportThemeIcons = false) { this.value = value; }
    appendMarkdown(s: string): this { this.value += s; return this; }
}
export class Position { constructor(public line: number, public character: number) {} }
export class Range {
    start: Position; end: Position;
    constructor(a: number, b: number, c: number, d: number) { this.start = new Position(a, b); this.end = new Position(c, d); }
}
export class CodeAction { command?: unknown; constructor(public title: string) {} }
export class Hover { constructor(public contents: unknown, public range?: Range) {} }
export class DebugAdapterServer { constructor(public port: number, public host?: string) {} }
/** A URI: scheme, authority, path, query; `toString()` as VS Code's (unencoded). */
class StubUri {
    constructor(readonly scheme: string, readonly authority: string, readonly path: string, readonly query = '') {}
    get fsPath(): string { return this.path; }
    toString(): string { return `${this.scheme}://${this.authority}${this.path}${this.query ? `?${this.query}` : ''}`; }
}
export const Uri = {
    file: (p: string) => new StubUri('file', '', p),
    from: (c: { scheme: string; authority?: string; path?: string; query?: string }) => new StubUri(c.scheme, c.authority ?? '', c.path ?? '/', c.query),
    joinPath: (u: StubUri, ...parts: string[]) => new StubUri(u.scheme, u.authority, [u.path.replace(/\/$/, ''), ...parts].join('/'), u.query),
};
export enum FileType { Unknown = 0, File = 1, Directory = 2, SymbolicLink = 64 }
export enum FilePermission { Readonly = 1 }
export enum FileChangeType { Changed = 1, Created = 2, Deleted = 3 }
export enum DiagnosticSeverity { Error = 0, Warning = 1, Information = 2, Hint = 3 }
export class Diagnostic { source?: string; constructor(public range: Range, public message: string, public severity?: DiagnosticSeverity) {} }
export class Disposable { constructor(private readonly fn: () => void) {} dispose(): void { this.fn(); } }
/** `FileSystemError.X(uriOrMessage)`: an Error whose `code` is X. */
export class FileSystemError extends Error {
    constructor(message: string, public code: string) { super(message); }
    static FileNotFound(m?: unknown) { return new FileSystemError(String(m), 'FileNotFound'); }
    static NoPermissions(m?: unknown) { return new FileSystemError(String(m), 'NoPermissions'); }
    static Unavailable(m?: unknown) { return new FileSystemError(String(m), 'Unavailable'); }
}
export class FileDecoration { propagate?: boolean; constructor(public badge?: string, public tooltip?: string, public color?: ThemeColor) {} }

/** Settings the tests can set: `require('vscode').__settings['otrace.port'] = 1`. */
export const __settings: Record<string, unknown> = {};
export const workspace = {
    getConfiguration: (section: string) => ({
        get: <T>(key: string, dflt: T): T => (`${section}.${key}` in __settings ? __settings[`${section}.${key}`] as T : dflt),
    }),
    workspaceFolders: undefined,
    /** The open documents (`{uri, lineCount, lineAt}`); tests may push some. */
    textDocuments: [] as unknown[],
    onDidCloseTextDocument: () => ({ dispose: () => undefined }),
    onDidChangeTextDocument: () => ({ dispose: () => undefined }),
};
/** Registered command handlers, by id (`registerCommand`); tests run them with `__commands.get(id)!(...)`. */
export const __commands = new Map<string, (...args: any[]) => unknown>();
export const commands = {
    executeCommand: async () => undefined,
    registerCommand: (id: string, fn: (...args: any[]) => unknown) => {
        __commands.set(id, fn);
        return { dispose: () => __commands.delete(id) };
    },
};

const stub = {
    EventEmitter, TreeItemCollapsibleState, StatusBarAlignment, OverviewRulerLane, TreeItem, ThemeIcon, ThemeColor,
    MarkdownString, Position, Range, CodeAction, Hover, DebugAdapterServer, Uri, workspace, commands, __settings, __commands,
    FileType, FilePermission, FileChangeType, DiagnosticSeverity, Diagnostic, Disposable, FileSystemError, FileDecoration,
};
const api = new Proxy(stub as Record<string, unknown>, {
    get(target, name: string) {
        if (name in target || name === '__esModule' || name === 'then' || typeof name === 'symbol') {
            return target[name];
        }
        throw new Error(`vscode stub: vscode.${name} is not stubbed`);
    },
});

const load = (Module as any)._load;
(Module as any)._load = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? api : load.call(this, request, ...rest);
};
