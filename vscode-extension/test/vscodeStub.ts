/**
 * A small stand-in for the `vscode` module, loaded with `node --require` before the unit tests so
 * the extension's tree providers and helpers run in plain Node. It implements only what those
 * modules touch (EventEmitter, TreeItem, ThemeIcon, MarkdownString, Range/Position, Uri,
 * DebugAdapterServer, configuration); anything else throws, so a test never passes on a silently missing API.
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
export const Uri = {
    file: (p: string) => ({ scheme: 'file', fsPath: p, path: p }),
    joinPath: (u: { fsPath: string }, ...parts: string[]) => ({ scheme: 'file', fsPath: [u.fsPath, ...parts].join('/') }),
};

/** Settings the tests can set: `require('vscode').__settings['otrace.port'] = 1`. */
export const __settings: Record<string, unknown> = {};
export const workspace = {
    getConfiguration: (section: string) => ({
        get: <T>(key: string, dflt: T): T => (`${section}.${key}` in __settings ? __settings[`${section}.${key}`] as T : dflt),
    }),
    workspaceFolders: undefined,
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
