// One esbuild script, several outputs: the extension host bundle (node, `vscode` external) and one browser bundle
// per webview entry in webview/*/main.ts (or webview/*.ts).
import * as esbuild from 'esbuild';
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const webviewEntries = {};
for (const name of readdirSync('webview')) {
  const p = join('webview', name);
  if (statSync(p).isDirectory() && existsSync(join(p, 'main.ts'))) webviewEntries[name] = join(p, 'main.ts');
}

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'info' };
const contexts = [
  await esbuild.context({
    ...common,
    entryPoints: { extension: 'src/extension.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // Native and WASM-carrying packages stay outside the bundle and ship in node_modules.
    external: ['vscode', 'onnxruntime-node'],
  }),
];
if (Object.keys(webviewEntries).length) {
  contexts.push(
    await esbuild.context({
      ...common,
      entryPoints: webviewEntries,
      outdir: 'media/dist',
      platform: 'browser',
      format: 'iife',
      target: 'es2022',
      minify: true,
    }),
  );
}
if (watch) {
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  await Promise.all(contexts.map((c) => c.rebuild()));
  await Promise.all(contexts.map((c) => c.dispose()));
}
