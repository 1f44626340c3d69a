// A small stand-in for the `vscode` module, enough to run activate() outside VS Code. The classes the extension
// extends or constructs are real; everything else is a permissive no-op proxy. `installVscodeStub()` maps the
// specifier 'vscode' to this module through Module._resolveFilename (mock.module cannot: 'vscode' does not resolve).
import * as fs from 'node:fs';
import * as path from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import Module = require('node:module');

/** A value that answers any property access, call or construction with itself (events return a disposable). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- stands for any vscode API object: callers use it as any
export function anything(name = 'stub'): any {
  const fn = function () {} as unknown as object;
  const assigned = new Map<PropertyKey, unknown>();
  return new Proxy(fn, {
    set(_t, prop, value) {
      assigned.set(prop, value);
      return true;
    },
    get(_t, prop) {
      if (assigned.has(prop)) return assigned.get(prop);
      if (prop === 'then') return undefined; // not a thenable
      if (prop === Symbol.toPrimitive) return () => `[${name}]`;
      if (prop === 'dispose') return () => undefined;
      return anything(`${name}.${String(prop)}`);
    },
    apply: () => anything(`${name}()`),
    construct: () => anything(`new ${name}`),
  });
}

export const registeredCommands: string[] = [];

export class Disposable {
  constructor(private readonly fn: () => void = () => undefined) {}
  static from(...ds: { dispose(): unknown }[]) {
    return new Disposable(() => ds.forEach((d) => d.dispose()));
  }
  dispose() {
    this.fn();
  }
}

export class EventEmitter<T> {
  private listeners = new Set<(e: T) => void>();
  event = (l: (e: T) => void) => {
    this.listeners.add(l);
    return new Disposable(() => this.listeners.delete(l));
  };
  fire(e: T) {
    for (const l of this.listeners) l(e);
  }
  dispose() {
    this.listeners.clear();
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
    readonly query = '',
    readonly fragment = '',
  ) {}
  static file(p: string) {
    return new Uri('file', path.resolve(p));
  }
  static parse(s: string) {
    const m = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(s);
    return m ? new Uri(m[1], m[2]) : new Uri('file', s);
  }
  static joinPath(base: Uri, ...parts: string[]) {
    return new Uri(base.scheme, path.join(base.path, ...parts));
  }
  static from(c: { scheme: string; path?: string; query?: string; fragment?: string }) {
    return new Uri(c.scheme, c.path ?? '', c.query ?? '', c.fragment ?? '');
  }
  get fsPath() {
    return this.path;
  }
  with(c: { scheme?: string; path?: string; query?: string }) {
    return new Uri(c.scheme ?? this.scheme, c.path ?? this.path, c.query ?? this.query);
  }
  toString() {
    return `${this.scheme}://${this.path}${this.query ? `?${this.query}` : ''}`;
  }
}

export class ThemeIcon {
  static readonly File = new ThemeIcon('file');
  static readonly Folder = new ThemeIcon('folder');
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}
export class ThemeColor {
  constructor(readonly id: string) {}
}
export class MarkdownString {
  value = '';
  isTrusted = false;
  supportHtml = false;
  constructor(
    value = '',
    readonly supportThemeIcons = false,
  ) {
    this.value = value;
  }
  appendText(t: string) {
    this.value += t.replace(/[\\`*_{}[\]()#+\-.!]/g, '\\$&');
    return this;
  }
  appendMarkdown(t: string) {
    this.value += t;
    return this;
  }
  appendCodeblock(t: string) {
    this.value += `\n\`\`\`\n${t}\n\`\`\`\n`;
    return this;
  }
}
export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}
export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: unknown;
  iconPath?: unknown;
  contextValue?: string;
  command?: unknown;
  resourceUri?: Uri;
  constructor(
    public label: unknown,
    public collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}
export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}
export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    this.start = typeof a === 'number' ? new Position(a, b as number) : a;
    this.end = typeof a === 'number' ? new Position(c ?? 0, d ?? 0) : (b as Position);
  }
}
export class Selection extends Range {}
export class Diagnostic {
  source?: string;
  constructor(
    readonly range: Range,
    readonly message: string,
    readonly severity?: number,
  ) {}
}
export class CancellationTokenSource {
  token = { isCancellationRequested: false, onCancellationRequested: () => new Disposable() };
  cancel() {
    this.token.isCancellationRequested = true;
  }
  dispose() {}
}
export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}
export enum DiagnosticSeverity {
  Error = 0,
  Warning = 1,
  Information = 2,
  Hint = 3,
}
export enum QuickPickItemKind {
  Separator = -1,
  Default = 0,
}
export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
  Two = 2,
}
export enum TextEditorRevealType {
  Default = 0,
  InCenter = 1,
}
export enum OverviewRulerLane {
  Left = 1,
  Center = 2,
  Right = 4,
  Full = 7,
}
export enum DecorationRangeBehavior {
  OpenOpen = 0,
  ClosedClosed = 1,
}

/** Defaults of package.json `contributes.configuration`, read by getConfiguration(). */
function configurationDefaults(): Map<string, unknown> {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
  const props = pkg.contributes?.configuration?.properties ?? {};
  return new Map(Object.entries(props).map(([k, v]) => [k, (v as { default?: unknown }).default]));
}

export const commands = new Proxy(
  {
    registerCommand(id: string, _handler: unknown) {
      if (registeredCommands.includes(id)) throw new Error(`command '${id}' already exists`);
      registeredCommands.push(id);
      return new Disposable(() => registeredCommands.splice(registeredCommands.indexOf(id), 1));
    },
    executeCommand: async () => undefined,
    getCommands: async () => [...registeredCommands],
  } as Record<string, unknown>,
  { get: (t, p) => (p in t ? t[p as string] : anything(`commands.${String(p)}`)) },
);

export const workspace = new Proxy(
  {
    isTrusted: true,
    workspaceFolders: undefined,
    textDocuments: [],
    getConfiguration(section?: string) {
      const defaults = configurationDefaults();
      return {
        get: (key: string, dflt?: unknown) => {
          const v = defaults.get(section ? `${section}.${key}` : key);
          return v === undefined ? dflt : v;
        },
        has: (key: string) => defaults.has(section ? `${section}.${key}` : key),
        inspect: () => undefined,
        update: async () => undefined,
      };
    },
  } as Record<string, unknown>,
  { get: (t, p) => (p in t ? t[p as string] : anything(`workspace.${String(p)}`)) },
);

const namespace = (name: string) => new Proxy({} as Record<string, unknown>, { get: (_t, p) => anything(`${name}.${String(p)}`) });
export const window = namespace('window');
export const languages = namespace('languages');
export const extensions = new Proxy({ getExtension: () => undefined } as Record<string, unknown>, {
  get: (t, p) => (p in t ? t[p as string] : anything(`extensions.${String(p)}`)),
});
export const env = namespace('env');
export const l10n = { t: (s: string) => s };

/** A fake ExtensionContext rooted at the repository (extensionPath) with a temporary global storage. */
export function fakeContext(storageDir: string) {
  const root = path.join(__dirname, '..', '..');
  const memento = () => {
    const m = new Map<string, unknown>();
    return { get: (k: string, d?: unknown) => (m.has(k) ? m.get(k) : d), update: async (k: string, v: unknown) => void m.set(k, v), keys: () => [...m.keys()] };
  };
  return {
    subscriptions: [] as { dispose(): unknown }[],
    extensionPath: root,
    extensionUri: Uri.file(root),
    globalStorageUri: Uri.file(storageDir),
    storageUri: Uri.file(path.join(storageDir, 'ws')),
    logUri: Uri.file(path.join(storageDir, 'log')),
    globalState: memento(),
    workspaceState: memento(),
    asAbsolutePath: (p: string) => path.join(root, p),
    extensionMode: 3,
  };
}

let installed = false;

/** Makes `require('vscode')` load this module. */
export function installVscodeStub(): void {
  if (installed) return;
  installed = true;
  const M = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = M._resolveFilename;
  M._resolveFilename = function (request: string, ...rest: unknown[]) {
    if (request === 'vscode') return __filename;
    return original.call(this, request, ...rest);
  };
}
