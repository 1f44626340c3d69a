// End-to-end harness: a real VS Code (code-server 4.100.3) on loopback with the packaged extension installed, driven
// by playwright-core through Debian's chromium. How and why: docs/architecture.md §8.5.
//
// Everything a session starts runs in its own process group and is ended as a group; HOME, TMPDIR and the XDG folders
// point into a scratch folder, so nothing leaks into the real home folder.
//
// Environment:
//   TRAPO_E2E_DIR      where e2e-setup.sh installed code-server (default <repo>/.e2e)
//   TRAPO_E2E_VSIX     the extension package to install (default <repo>/dist/trapo.vsix)
//   TRAPO_E2E_KEEP=1   keep the scratch folder (logs, user data, workspace) after the session
//   TRAPO_E2E_PYTHON   python for the trainer (default <repo>/trainer/.venv/bin/python when it exists)
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, BrowserContext, Page, FrameLocator, Locator, Frame } from 'playwright-core';

export const REPO = path.resolve(__dirname, '..', '..');
export const E2E_DIR = process.env.TRAPO_E2E_DIR ?? path.join(REPO, '.e2e');
export const RESULTS_DIR = path.join(REPO, 'test-results', 'e2e');
export const CODE_SERVER_ENTRY = path.join(E2E_DIR, 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js');
export const VSIX = process.env.TRAPO_E2E_VSIX ?? path.join(REPO, 'dist', 'trapo.vsix');
export const FIXTURE_RUNS = path.join(REPO, 'test', 'fixtures', 'runs');
export const DEMO_CONFIG = path.join(REPO, 'trainer', 'trapo', 'configs', 'demo.trapo.yaml');
const CHROMIUM = '/usr/bin/chromium';
const EXTENSION_ID = 'trapo-lab.trapo';

export interface SessionOptions {
  /** Files to write into the scratch workspace, path relative to the workspace → contents. */
  workspaceFiles?: Record<string, string>;
  /** Copy the demo config into the workspace as demo.trapo.yaml (when the trainer has it). Default true. */
  demoConfig?: boolean;
  /** Folders to copy into the workspace: destination relative to the workspace → source folder. */
  copyDirs?: Record<string, string>;
  /** Folders to link (symlink) into the workspace: destination relative to the workspace → source folder. */
  linkDirs?: Record<string, string>;
  /** Extra user settings merged over the harness's. */
  settings?: Record<string, unknown>;
  /** Label used in the scratch folder's name and in log lines. */
  label?: string;
  /** More environment for code-server (and so the extension host and what it spawns), e.g. SLURM_CONF. */
  env?: Record<string, string>;
}

export interface CspViolation {
  frameUrl: string;
  directive: string;
  blockedURI: string;
  source: 'event' | 'console';
  text?: string;
}

/** Chromium's console messages for CSP violations ("Refused to load …", "Executing inline script violates …"). */
const CSP_CONSOLE = /^Refused to .*Content Security Policy|violates the following Content Security Policy directive/;

// Runs in every frame (page, webview host, webview content) before its own scripts. Counts CSP violations of that
// frame into window.__trapoCsp and reports each one to the harness through the __trapoCspReport binding. VS Code
// writes a webview's HTML with document.open()/write(), which erases listeners, so they are added again after open().
const CSP_INIT_SCRIPT = `(() => {
  if (window.__trapoCspInstalled) return;
  window.__trapoCspInstalled = true;
  window.__trapoCsp = window.__trapoCsp || [];
  const onViolation = (e) => {
    const v = { directive: e.violatedDirective || e.effectiveDirective, blockedURI: e.blockedURI || '', sample: e.sample || '' };
    window.__trapoCsp.push(v);
    try { window.__trapoCspReport && window.__trapoCspReport(v); } catch (_) {}
  };
  const listen = (doc) => doc.addEventListener('securitypolicyviolation', onViolation, true);
  listen(document);
  const open = Document.prototype.open;
  Document.prototype.open = function (...args) {
    const r = open.apply(this, args);
    try { if (this === document) listen(this); } catch (_) {}
    return r;
  };
})();`;

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Kills a whole process group: SIGTERM, then SIGKILL for what is left after `graceMs`. */
export async function killGroup(pgid: number | undefined, graceMs = 3000): Promise<void> {
  if (!pgid) return;
  const alive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await sleep(100);
  if (alive()) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

function log(label: string, msg: string): void {
  process.stderr.write(`[e2e ${label}] ${msg}\n`);
}

export class Session {
  readonly label: string;
  readonly scratch: string;
  readonly workspace: string;
  readonly userData: string;
  readonly extensionsDir: string;
  readonly env: NodeJS.ProcessEnv;
  port = 0;
  server?: ChildProcess;
  context?: BrowserContext;
  page!: Page;
  readonly csp: CspViolation[] = [];
  readonly consoleErrors: string[] = [];
  private failed = false;

  constructor(readonly options: SessionOptions = {}) {
    this.label = options.label ?? 'session';
    fs.mkdirSync(path.join(E2E_DIR, 'sessions'), { recursive: true });
    this.scratch = fs.mkdtempSync(path.join(E2E_DIR, 'sessions', `${this.label}-`));
    this.workspace = path.join(this.scratch, 'workspace');
    this.userData = path.join(this.scratch, 'user-data');
    this.extensionsDir = path.join(this.scratch, 'extensions');
    const dir = (name: string) => {
      const p = path.join(this.scratch, name);
      fs.mkdirSync(p, { recursive: true });
      return p;
    };
    this.env = {
      PATH: process.env.PATH,
      LANG: 'C.UTF-8',
      HOME: dir('home'),
      TMPDIR: dir('tmp'),
      XDG_CONFIG_HOME: dir('xdg/config'),
      XDG_DATA_HOME: dir('xdg/data'),
      XDG_CACHE_HOME: dir('xdg/cache'),
      XDG_RUNTIME_DIR: dir('xdg/runtime'),
      // Warmed-up tiny models (other than the shipped base) are cached across sessions here, not in the scratch HOME.
      TRAPO_CACHE: trapoCache(),
      // The trainer runs on CPU in the suite and must not try to reach the Hugging Face hub.
      HF_HUB_OFFLINE: '1',
      TRANSFORMERS_OFFLINE: '1',
      CUDA_VISIBLE_DEVICES: '',
      ...options.env,
    };
  }

  /** Starts code-server with the packaged extension and opens the workspace in chromium. */
  async start(): Promise<this> {
    const t0 = Date.now();
    if (!fs.existsSync(CODE_SERVER_ENTRY)) {
      throw new Error(`code-server is not installed at ${CODE_SERVER_ENTRY}: run scripts/e2e-setup.sh first`);
    }
    if (!fs.existsSync(VSIX)) {
      throw new Error(`no extension package at ${VSIX}: run \`npm run build && npm run package\` first`);
    }
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/e2e-setup.sh (as root)`);
    this.prepareWorkspace();
    this.writeSettings();
    this.installExtension();
    this.port = await freePort();
    await this.startServer();
    await this.startBrowser();
    log(this.label, `VS Code ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (port ${this.port}, scratch ${this.scratch})`);
    return this;
  }

  private prepareWorkspace(): void {
    fs.mkdirSync(this.workspace, { recursive: true });
    if (this.options.demoConfig !== false && fs.existsSync(DEMO_CONFIG)) {
      fs.copyFileSync(DEMO_CONFIG, path.join(this.workspace, 'demo.trapo.yaml'));
    }
    for (const [rel, src] of Object.entries(this.options.copyDirs ?? {})) {
      fs.cpSync(src, path.join(this.workspace, rel), { recursive: true });
    }
    for (const [rel, src] of Object.entries(this.options.linkDirs ?? {})) {
      fs.mkdirSync(path.dirname(path.join(this.workspace, rel)), { recursive: true });
      fs.symlinkSync(path.resolve(src), path.join(this.workspace, rel), 'dir');
    }
    for (const [rel, text] of Object.entries(this.options.workspaceFiles ?? {})) {
      const p = path.join(this.workspace, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, text);
    }
  }

  private writeSettings(): void {
    const python = process.env.TRAPO_E2E_PYTHON ?? path.join(REPO, 'trainer', '.venv', 'bin', 'python');
    const settings: Record<string, unknown> = {
      'workbench.startupEditor': 'none',
      'telemetry.telemetryLevel': 'off',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'update.mode': 'none',
      'workbench.tips.enabled': false,
      'workbench.enableExperiments': false,
      'security.workspace.trust.enabled': false,
      'window.commandCenter': false,
      // The scratch workspace lies inside the repository's .e2e/: no "git repository found in parent folders" toast.
      'git.openRepositoryInParentFolders': 'never',
      'git.enabled': false,
      'workbench.layoutControl.enabled': false,
      'chat.commandCenter.enabled': false,
      'workbench.colorTheme': 'Default Dark Modern',
      ...(fs.existsSync(python) ? { 'trapo.pythonPath': python } : {}),
      ...this.options.settings,
    };
    const dir = path.join(this.userData, 'User');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify(settings, null, 2));
  }

  private codeServerArgs(): string[] {
    return [
      CODE_SERVER_ENTRY,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--extensions-dir',
      this.extensionsDir,
      '--user-data-dir',
      this.userData,
    ];
  }

  /** `code-server --install-extension dist/trapo.vsix`: the packaged extension, so packaging is tested too. */
  private installExtension(): void {
    const r = spawnSync(process.execPath, [...this.codeServerArgs(), '--install-extension', VSIX], {
      env: this.env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    if (r.status !== 0) throw new Error(`installing ${VSIX} failed (exit ${r.status}):\n${out}`);
    const installed = fs.readdirSync(this.extensionsDir).filter((d) => d.startsWith(`${EXTENSION_ID}-`));
    if (installed.length !== 1) throw new Error(`extension ${EXTENSION_ID} not found in ${this.extensionsDir} after install:\n${out}`);
  }

  private async startServer(): Promise<void> {
    const logFile = path.join(this.scratch, 'code-server.log');
    const out = fs.openSync(logFile, 'a');
    // detached: setsid(), so the server and everything it spawns (extension host, trainer) form one process group.
    this.server = spawn(process.execPath, [...this.codeServerArgs(), '--bind-addr', `127.0.0.1:${this.port}`, '--auth', 'none', this.workspace], {
      env: this.env,
      detached: true,
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (this.server.exitCode !== null) {
        throw new Error(`code-server exited with ${this.server.exitCode}:\n${tail(logFile)}`);
      }
      try {
        const r = await fetch(`http://127.0.0.1:${this.port}/healthz`);
        if (r.ok) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`code-server did not answer /healthz within 60 s:\n${tail(logFile)}`);
      await sleep(200);
    }
  }

  private async startBrowser(): Promise<void> {
    this.context = await chromium.launchPersistentContext(path.join(this.scratch, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      env: this.env,
      viewport: { width: 1440, height: 900 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
      ],
    });
    await this.context.exposeBinding('__trapoCspReport', (source: { frame: Frame }, v: { directive: string; blockedURI: string }) => {
      this.csp.push({ frameUrl: source.frame.url(), directive: v.directive, blockedURI: v.blockedURI, source: 'event' });
    });
    await this.context.addInitScript({ content: CSP_INIT_SCRIPT });
    this.page = this.context.pages()[0] ?? (await this.context.newPage());
    this.page.on('console', (msg) => {
      const text = msg.text();
      if (CSP_CONSOLE.test(text)) {
        this.csp.push({ frameUrl: msg.location().url, directive: '', blockedURI: '', source: 'console', text });
      } else if (msg.type() === 'error') {
        this.consoleErrors.push(text);
      }
    });
    await this.page.goto(`http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(this.workspace)}`);
    await this.page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    // The status bar is the last part the workbench lays out.
    await this.page.locator('.statusbar').waitFor({ timeout: 30_000 });
  }

  // ------------------------------------------------------------------ driving the workbench

  /** Opens the command palette with `text` typed (commands mode when it starts with '>'). */
  async openPalette(text = '>'): Promise<Locator> {
    const input = this.page.locator('.quick-input-widget input.input');
    for (let attempt = 0; attempt < 3; attempt++) {
      await this.page.keyboard.press('F1');
      try {
        await input.waitFor({ state: 'visible', timeout: 5000 });
        break;
      } catch {
        await this.page.keyboard.press('Escape');
      }
    }
    await input.fill(text);
    return input;
  }

  /**
   * Finds `label` in the palette after typing `query` (default: the label itself) and runs it. Retries with Escape in
   * between: the first try can come before the extension's commands are registered.
   */
  async runCommand(label: string, opts: { query?: string; attempts?: number } = {}): Promise<void> {
    const row = await this.findPaletteRow(label, opts);
    await row.click();
  }

  /** The palette row whose label (category included, e.g. "TRAPO: Start TRAPO Run") is exactly `label` after typing
   * `query`; the palette is left open. */
  async findPaletteRow(label: string, opts: { query?: string; attempts?: number } = {}): Promise<Locator> {
    const attempts = opts.attempts ?? 6;
    let lastRows: string[] = [];
    for (let attempt = 0; attempt < attempts; attempt++) {
      await this.openPalette(`>${opts.query ?? label}`);
      const rows = this.page.locator('.quick-input-list .monaco-list-row');
      const row = rows.filter({ has: this.page.locator('.label-name', { hasText: label }) }).first();
      try {
        await row.waitFor({ state: 'visible', timeout: 4000 });
        // Exact label: the row's label text (VS Code splits it into highlighted spans).
        const text = ((await row.locator('.label-name').first().textContent()) ?? '').trim();
        if (text === label) return row;
        lastRows = [text];
      } catch {
        lastRows = (await rows.locator('.label-name').allTextContents()).map((s) => s.trim());
      }
      await this.page.keyboard.press('Escape');
      await sleep(1000 * (attempt + 1));
    }
    throw new Error(`palette: no command "${label}" after typing "${opts.query ?? label}"; rows seen: ${JSON.stringify(lastRows)}`);
  }

  /** Shows the TRAPO container in the activity bar (clicks its icon unless it is already shown). */
  async openTrapoContainer(): Promise<Locator> {
    const item = this.activityBarItem('TRAPO');
    await item.waitFor({ state: 'visible', timeout: 30_000 });
    const sidebarTitle = this.page.locator('.part.sidebar .composite.title h2');
    if (!((await sidebarTitle.textContent().catch(() => '')) ?? '').includes('TRAPO')) await item.click();
    await this.page.locator('.part.sidebar .composite.title h2', { hasText: 'TRAPO' }).waitFor({ timeout: 10_000 });
    return this.page.locator('.part.sidebar');
  }

  /** The activity bar's item for a view container, by its title. */
  activityBarItem(title: string): Locator {
    return this.page.locator(`.part.activitybar .action-item a.action-label[aria-label^="${title}"]`).first();
  }

  /** A view's pane in the side bar, by its name (e.g. "Runs"). */
  viewPane(name: string): Locator {
    return this.page
      .locator('.part.sidebar .pane')
      .filter({ has: this.page.locator('.pane-header h3.title', { hasText: new RegExp(`^${escapeRe(name)}$`, 'i') }) })
      .first();
  }

  /** Waits for a view's pane to be visible and expanded; returns its body. */
  async waitForView(name: string, timeout = 15_000): Promise<Locator> {
    const pane = this.viewPane(name);
    await pane.waitFor({ state: 'visible', timeout });
    const header = pane.locator('.pane-header').first();
    if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
    const body = pane.locator('.pane-body').first();
    await body.waitFor({ state: 'visible', timeout });
    return body;
  }

  /** The visible tree rows of a view as the text a person reads: "label description". */
  async treeRows(name: string): Promise<string[]> {
    const body = await this.waitForView(name);
    const rows = body.locator('.monaco-list-row');
    const out: string[] = [];
    for (let i = 0, n = await rows.count(); i < n; i++) {
      const label = (
        (await rows
          .nth(i)
          .locator('.label-name')
          .first()
          .textContent()
          .catch(() => '')) ?? ''
      ).trim();
      const desc = (
        (await rows
          .nth(i)
          .locator('.label-description')
          .first()
          .textContent()
          .catch(() => '')) ?? ''
      ).trim();
      if (label) out.push(desc ? `${label} ${desc}` : label);
    }
    return out;
  }

  /** A row of a view's tree whose text (label and description) matches `text`. */
  treeRow(view: string, text: string | RegExp): Locator {
    return this.viewPane(view).locator('.pane-body .monaco-list-row').filter({ hasText: text }).first();
  }

  /** The codicon of a tree row's icon (e.g. 'pass', 'warning', 'sync'), or '' when it has none. */
  async rowIcon(row: Locator): Promise<string> {
    const cls =
      (await row
        .locator('.custom-view-tree-node-item-icon')
        .first()
        .getAttribute('class')
        .catch(() => '')) ?? '';
    return /\bcodicon-(?!modifier)([\w-]+)/.exec(cls)?.[1] ?? '';
  }

  /** Expands a tree row (clicking its twistie) unless it is expanded already. */
  async expandRow(row: Locator): Promise<void> {
    await row.waitFor({ state: 'visible', timeout: 15_000 });
    if ((await row.getAttribute('aria-expanded')) === 'false') await row.locator('.monaco-tl-twistie').click();
  }

  /** Clicks a tree row's inline action (shown on hover) by its title, e.g. "Resume Run". */
  async rowAction(row: Locator, title: string): Promise<void> {
    await row.hover();
    await row.locator(`.actions .action-label[aria-label^="${title}"]`).first().click();
  }

  /** Opens a tree row's context menu and picks `item`. */
  async contextMenu(row: Locator, item: string | RegExp): Promise<void> {
    await row.click({ button: 'right' });
    const entry = this.page.locator('.monaco-menu .action-item .action-label', { hasText: item }).first();
    await entry.waitFor({ state: 'visible', timeout: 5000 });
    await entry.click();
  }

  /** Labels of the quick pick's rows shown now. */
  async quickPickRows(): Promise<string[]> {
    const rows = this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
    await rows.first().waitFor({ state: 'visible', timeout: 15_000 });
    return (
      await rows.evaluateAll((els) => els.map((e) => (e as unknown as { getAttribute(n: string): string | null }).getAttribute('aria-label') ?? ''))
    ).filter(Boolean);
  }

  /**
   * Picks the quick pick row whose text matches `text`. The list is virtualised (rows out of view do not exist), so
   * `filter` (default: `text` when it is a string) is typed into the input first; pass '' to type nothing.
   */
  async pickQuickPick(text: string | RegExp, filter?: string): Promise<void> {
    const input = this.page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    const typed = filter ?? (typeof text === 'string' ? text : '');
    if (typed) await input.fill(typed);
    const row = this.page
      .locator('.quick-input-widget .quick-input-list .monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: text }) })
      .first();
    await row.waitFor({ state: 'visible', timeout: 15_000 });
    // The list refilters asynchronously after typing: wait until its rows stop changing before clicking.
    const rowsText = () => this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').allTextContents();
    let prev = JSON.stringify(await rowsText());
    for (let i = 0; i < 20; i++) {
      await sleep(150);
      const now = JSON.stringify(await rowsText());
      if (now === prev) break;
      prev = now;
    }
    await row.click();
  }

  /** The active editor's title (tab label). */
  async activeEditorTitle(): Promise<string> {
    return ((await this.page.locator('.tabs-container .tab.active .label-name').first().textContent()) ?? '').trim();
  }

  /** The visible text of the active editor (its rendered lines, top to bottom). */
  async activeEditorText(): Promise<string> {
    const lines = this.page.locator('.editor-group-container.active .monaco-editor .view-lines').first();
    await lines.waitFor({ state: 'visible', timeout: 15_000 });
    return lines.evaluate((el) => {
      const rows = Array.from(
        (el as unknown as { querySelectorAll(s: string): ArrayLike<{ style: { top: string }; textContent: string | null }> }).querySelectorAll('.view-line'),
      );
      return rows
        .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
        .map((r) => (r.textContent ?? '').replace(/\u00a0/g, ' '))
        .join('\n');
    });
  }

  /** Polls `fn` until it returns a truthy value; throws with `what` and the last value after `timeout`. */
  async waitUntil<T>(what: string, fn: () => Promise<T>, timeout = 30_000, interval = 500): Promise<NonNullable<T>> {
    const deadline = Date.now() + timeout;
    let last: unknown;
    for (;;) {
      try {
        last = await fn();
        if (last) return last as NonNullable<T>;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${String(last)}`);
      await sleep(interval);
    }
  }

  /** Texts of the status bar items. */
  async statusBarTexts(): Promise<string[]> {
    return (await this.page.locator('.part.statusbar .statusbar-item').allTextContents()).map((s) => s.trim()).filter(Boolean);
  }

  /** Texts of the notification toasts shown now. */
  async notifications(): Promise<string[]> {
    return (await this.page.locator('.notifications-toasts .notification-toast .notification-list-item-message').allTextContents()).map((s) => s.trim());
  }

  /** Waits for a notification whose text matches; returns its toast. */
  async waitForNotification(re: RegExp, timeout = 15_000): Promise<Locator> {
    const toast = this.page.locator('.notifications-toasts .notification-toast').filter({ hasText: re }).first();
    await toast.waitFor({ state: 'visible', timeout });
    return toast;
  }

  /**
   * A webview's content document, two iframes deep: the host iframe (iframe.webview) and VS Code's #active-frame.
   * `hasSelector` picks the webview (e.g. '#dashboard') when several are open; waits until one shows it.
   */
  async webviewFrame(hasSelector: string, timeout = 30_000): Promise<FrameLocator> {
    return this.waitUntil(
      `a webview showing ${hasSelector}`,
      async () => {
        const hosts = this.page.locator('iframe.webview');
        const n = await hosts.count();
        for (let i = n - 1; i >= 0; i--) {
          const inner = this.page.frameLocator(`iframe.webview >> nth=${i}`).frameLocator('#active-frame');
          if ((await inner.locator(hasSelector).count()) > 0) return inner;
        }
        return undefined;
      },
      timeout,
    );
  }

  /** Playwright Frames of webview contents (for evaluate()); VS Code's inner frames load fake.html. */
  webviewContentFrames(): Frame[] {
    return this.page.frames().filter((f) => /\/fake\.html/.test(f.url()) || f.name() === 'active-frame');
  }

  /**
   * CSP violations seen in webview frames: `securitypolicyviolation` events of webview documents, and Chromium's
   * console messages about CSP (these carry no frame URL for inline content; the workbench itself logs none).
   */
  webviewCspViolations(): CspViolation[] {
    return this.csp.filter(
      (v) => /\/webview\/|fake\.html/.test(v.frameUrl) || (v.source === 'console' && !/\/workbench\.(js|html)|\?folder=/.test(v.frameUrl)),
    );
  }

  /**
   * Checks that the CSP counter works: in each open webview's document, appends an inline script (which a strict CSP
   * refuses) and waits for the violation to be counted. Returns how many webviews were checked. Call it only after
   * the session's own violations were asserted: it adds one violation per webview on purpose.
   */
  async calibrateCsp(): Promise<number> {
    const frames = this.webviewContentFrames();
    let checked = 0;
    for (const f of frames) {
      const before = this.csp.filter((v) => v.source === 'event').length;
      const ok = await f
        .evaluate(
          `(() => { const s = document.createElement('script'); s.textContent = 'window.__trapoCalib = 1'; document.body.appendChild(s); return window.__trapoCalib !== 1; })()`,
        )
        .catch(() => false);
      if (!ok) throw new Error(`CSP calibration: an inline script ran in webview ${f.url()}: its CSP allows inline scripts`);
      await this.waitUntil(`the CSP violation counted in ${f.url()}`, async () => this.csp.filter((v) => v.source === 'event').length > before, 5000, 100);
      checked++;
    }
    return checked;
  }

  /** Saves a full-page screenshot as test-results/e2e/<name>.png and returns its path. */
  async screenshot(name: string, opts: { keepHover?: boolean } = {}): Promise<string> {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    // Park the mouse where it opens no hover (activity bar tooltips would cover the view), unless the hover is the point.
    if (!opts.keepHover) await this.page.mouse.move(900, 880).catch(() => undefined);
    const file = path.join(RESULTS_DIR, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** Marks the session failed so that teardown keeps the scratch folder and prints the logs' tails. */
  markFailed(): void {
    this.failed = true;
  }

  /** Paths of the extension host's log files (for messages on failure). */
  extensionHostLogs(): string[] {
    const logs = path.join(this.userData, 'logs');
    const found: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }) : []) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/exthost\.log$|TRAPO.*\.log$/i.test(e.name)) found.push(p);
      }
    };
    walk(logs);
    return found;
  }

  /** Stops chromium and code-server (whole process groups) and removes the scratch folder unless kept. */
  async close(): Promise<void> {
    try {
      await this.context?.close();
    } catch {
      /* browser already gone */
    }
    // Playwright starts chromium in its own process group and kills it on close; the server's group holds the
    // extension host and any trainer it spawned.
    await killGroup(this.server?.pid);
    // Trainers started by the extension run in process groups of their own (so that Stop can signal them): end
    // every process whose command line names this session's scratch folder, group by group.
    await killProcessesMentioning(this.scratch);
    const keep = this.failed || process.env.TRAPO_E2E_KEEP === '1';
    if (this.failed) {
      log(this.label, `failed: scratch kept at ${this.scratch}`);
      log(this.label, `code-server.log tail:\n${tail(path.join(this.scratch, 'code-server.log'))}`);
      for (const f of this.extensionHostLogs()) log(this.label, `${f} tail:\n${tail(f)}`);
    }
    if (!keep) fs.rmSync(this.scratch, { recursive: true, force: true });
  }
}

/** Process groups (and lone processes) whose command line contains `text`, from /proc; then ends them. */
async function killProcessesMentioning(text: string): Promise<void> {
  const groups = new Set<number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmd.includes(text)) continue;
      // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces, so split after the last ')'.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp > 1 && pgrp !== process.pid && pgrp !== getpgrp()) groups.add(pgrp);
      else process.kill(Number(entry), 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
  for (const g of groups) {
    log('teardown', `ending leftover process group ${g}`);
    await killGroup(g, 5000);
  }
}

/** This process's own process group (never killed by the teardown). */
function getpgrp(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/**
 * The trainer's cache for the suite (warmed-up tiny models other than the shipped ones): TRAPO_CACHE when set
 * (scripts/e2e.sh sets it), else the trainer's default ~/.cache/trapo of the real home folder, the one cache that
 * `npm run demo` and the extension use too (sessions run with a scratch HOME, so it is named explicitly).
 */
function trapoCache(): string {
  if (process.env.TRAPO_CACHE) return process.env.TRAPO_CACHE;
  const dir = path.join(process.env.HOME ?? '/nonexistent', '.cache', 'trapo');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Options for a test of a user path that is not implemented yet: skipped with the reason, so that the suite says what
 * is missing instead of passing it. With TRAPO_E2E_PENDING=1 such tests run as `todo` (run, reported, never failing
 * the suite): a way to see whether a feature has landed.
 */
export function pending(reason: string): { skip: string } | { todo: string } {
  return process.env.TRAPO_E2E_PENDING === '1' ? { todo: reason } : { skip: reason };
}

/** Wraps a test body: on failure the session keeps its scratch folder and a screenshot is taken. */
export function guarded(getSession: () => Session | undefined, name: string, fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await fn();
    } catch (e) {
      const s = getSession();
      if (s) {
        s.markFailed();
        await s.screenshot(`failed-${name}`).catch(() => undefined);
      }
      throw e;
    }
  };
}

/** Starts a session; the caller closes it (use in before/after hooks). */
export async function startSession(options: SessionOptions = {}): Promise<Session> {
  const s = new Session(options);
  try {
    await s.start();
  } catch (e) {
    s.markFailed();
    await s.close();
    throw e;
  }
  return s;
}
