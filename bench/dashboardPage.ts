// Loads the built dashboard page (media/dist/dashboard.js, media/dashboard.css, the HTML of dashboardHtml.ts with
// its CSP) in headless Chromium and plays the VS Code side: acquireVsCodeApi, --vscode-* theme variables, and
// messages both ways. Shared by the dashboard benchmarks and the render check. Not a test.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Browser, Page, chromium } from 'playwright-core';
import { dashboardHtml } from '../src/dashboard/dashboardHtml';
import type { HostToWebviewMessage } from '../src/shared/dashboardProtocol';

export const ORIGIN = 'https://trapo.test';
const ROOT = path.resolve(__dirname, '..');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
}

/** A subset of the variables VS Code's Dark Modern theme puts on a webview's <html>. */
const DARK_THEME = `
html { --vscode-font-family: system-ui, "Segoe UI", Ubuntu, sans-serif; --vscode-font-size: 13px;
  --vscode-foreground: #cccccc; --vscode-descriptionForeground: #9d9d9d; --vscode-editor-background: #1f1f1f;
  --vscode-editorWidget-background: #202020; --vscode-editorWidget-border: #454545; --vscode-panel-border: #2b2b2b;
  --vscode-button-background: #0078d4; --vscode-focusBorder: #0078d4; --vscode-checkbox-background: #313131;
  --vscode-checkbox-border: #3c3c3c; --vscode-checkbox-foreground: #cccccc;
  --vscode-charts-blue: #3794ff; --vscode-charts-orange: #d18616; --vscode-charts-green: #89d185;
  --vscode-charts-purple: #b180d7; --vscode-charts-red: #f14c4c; --vscode-charts-yellow: #cca700; }
`;

export interface DashboardPage {
  page: Page;
  /** Posts a host message to the webview (JSON over the bridge, as VS Code serialises it). */
  post(message: HostToWebviewMessage): Promise<void>;
  /** CSP violations seen so far ("directive blocked-uri"). */
  violations(): Promise<string[]>;
  /** Page errors seen so far. */
  errors: string[];
  /** Navigates to the dashboard page (the page then posts `ready`). */
  load(): Promise<void>;
}

export interface OpenOptions {
  /** What vscode.getState() returns at load (the webview's remembered UI state). */
  state?: unknown;
  /** Called with every message the webview posts. */
  onMessage: (message: unknown) => void;
  width?: number;
  height?: number;
}

export async function openDashboardPage(browser: Browser, opts: OpenOptions): Promise<DashboardPage> {
  const page = await browser.newPage({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (process.env.PAGE_LOG) console.log('  [page]', m.text());
    if (m.type() === 'error') errors.push(m.text());
  });
  const html = dashboardHtml({
    cspSource: ORIGIN,
    scriptUri: `${ORIGIN}/media/dist/dashboard.js`,
    styleUri: `${ORIGIN}/media/dashboard.css`,
    nonce: 'benchNonce0123456789abcdefABCDEF',
  })
    .replace('<html lang="en">', '<html lang="en" class="vscode-dark">')
    .replace('<link rel="stylesheet"', `<link rel="stylesheet" href="${ORIGIN}/theme.css">\n<link rel="stylesheet"`)
    .replace('<body>', '<body class="vscode-dark">');
  await page.route(`${ORIGIN}/**`, async (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === '/index.html') return route.fulfill({ contentType: 'text/html', body: html });
    if (url.pathname === '/blank') return route.fulfill({ contentType: 'text/html', body: '<!DOCTYPE html><title>blank</title>' });
    if (url.pathname === '/theme.css') return route.fulfill({ contentType: 'text/css', body: DARK_THEME });
    if (url.pathname.startsWith('/media/')) {
      const file = path.join(ROOT, url.pathname);
      const type = file.endsWith('.css') ? 'text/css' : file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream';
      try {
        return route.fulfill({ contentType: type, body: readFileSync(file) });
      } catch {
        return route.fulfill({ status: 404, body: '' });
      }
    }
    return route.fulfill({ status: 404, body: '' });
  });
  await page.exposeFunction('__toHost', (m: unknown) => opts.onMessage(m));
  // A string, not a function: tsx would wrap a function's inner functions in a `__name` helper the page lacks.
  await page.addInitScript(`(() => {
    const violations = [];
    globalThis.__csp = violations;
    document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective + ' ' + e.blockedURI), true);
    let state = ${JSON.stringify(opts.state ?? null)};
    const api = { postMessage: (m) => globalThis.__toHost(m), getState: () => state, setState: (s) => { state = s; } };
    globalThis.acquireVsCodeApi = () => api;
    globalThis.__vscodeState = () => state;
  })();`);
  return {
    page,
    errors,
    load: async () => {
      await page.goto(`${ORIGIN}/index.html`);
    },
    post: (message) =>
      // The message travels as one JSON string argument and is parsed in the page (VS Code serialises too).
      page.evaluate(
        (json: string) => (globalThis as unknown as { postMessage(m: unknown, o: string): void }).postMessage(JSON.parse(json), '*'),
        JSON.stringify(message),
      ),
    violations: () => page.evaluate('globalThis.__csp.slice()') as Promise<string[]>,
  };
}

/** Percentile by nearest rank (p in [0, 100]) of an unsorted list. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
