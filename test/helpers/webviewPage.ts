// A webview's real page served to headless Chromium (playwright-core, Debian's /usr/bin/chromium) for unit tests:
// the webview entry bundled by esbuild, its stylesheet, and the page's HTML made by the extension's own function,
// under its strict CSP. Used by the dashboard and compare webview tests.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';

export const CHROMIUM = '/usr/bin/chromium';
/** For describe(..., { skip }): a reason when Chromium is missing, else false. */
export const noChromium: string | false = !existsSync(CHROMIUM) && `no ${CHROMIUM} (apt-get install -y chromium)`;
const root = join(__dirname, '..', '..');

export interface PageOptions {
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
}

export interface ServedWebview {
  base: string;
  close(): Promise<void>;
}

/** Bundles `webview/<name>/main.ts`, serves it with `media/<name>.css` and `html(...)` at "/". */
export async function serveWebview(name: string, html: (o: PageOptions) => string): Promise<ServedWebview> {
  const dir = mkdtempSync(join(tmpdir(), `trapo-${name}-webview-`));
  await esbuild.build({
    entryPoints: [join(root, `webview/${name}/main.ts`)],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    outfile: join(dir, `${name}.js`),
    logLevel: 'silent',
  });
  const files: Record<string, [string, string]> = {
    [`/${name}.js`]: [join(dir, `${name}.js`), 'text/javascript'],
    [`/${name}.css`]: [join(root, `media/${name}.css`), 'text/css'],
  };
  let base = '';
  const server = createServer((req, res) => {
    if (req.url === '/') {
      const page = html({ cspSource: base, nonce: 'TESTNONCE0123456789abcdefghijklm', scriptUri: `${base}/${name}.js`, styleUri: `${base}/${name}.css` });
      res.writeHead(200, { 'content-type': 'text/html' }).end(page);
      return;
    }
    const f = files[req.url ?? ''];
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': f[1] }).end(readFileSync(f[0]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, close: () => new Promise<void>((r) => server.close(() => r())) };
}

export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
