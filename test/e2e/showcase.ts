// Screenshots of the comparison experiment's runs (`npm run experiment`) in a real VS Code (code-server driven by
// Chromium, the e2e harness), for the README: the Runs and Benchmarks trees, the dashboard, two final checkpoints
// compared, and the live prompt answered by both through onnxruntime-node. Not a test: it needs a finished experiment.
//
//   bash scripts/e2e.sh test/e2e/views.test.ts     # once: builds dist/trapo.vsix, installs code-server and Chromium
//   node --import tsx test/e2e/showcase.ts [runs/comparison] [docs/comparison]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Session, sleep, startSession } from './harness';

const root = path.resolve(process.argv[2] ?? 'runs/comparison');
const outDir = path.resolve(process.argv[3] ?? 'docs/comparison');
const A = process.env.SHOWCASE_A ?? 'grpo-seed0';
const B = process.env.SHOWCASE_B ?? 'trapo-seed0';

async function shot(s: Session, name: string): Promise<void> {
  const file = await s.screenshot(name);
  fs.mkdirSync(outDir, { recursive: true });
  fs.copyFileSync(file, path.join(outDir, `${name}.png`));
  console.log(`[showcase] ${path.join(outDir, `${name}.png`)}`);
}

async function main(): Promise<void> {
  if (!fs.existsSync(path.join(root, `${B}`, 'run.json'))) {
    throw new Error(`no ${B} run under ${root}: run \`npm run experiment\` first`);
  }
  const s = await startSession({ label: 'showcase', demoConfig: false, linkDirs: { 'runs/comparison': root } });
  try {
    await s.openTrapoContainer();
    // 21 runs: the list renders the rows in view only; scroll the Runs list until B's row is there.
    await s.treeRow('Runs', /-seed\d/).waitFor({ state: 'visible', timeout: 60_000 });
    const row = s.treeRow('Runs', B);
    for (let i = 0; i < 40 && !(await row.isVisible()); i++) {
      await s.treeRow('Runs', /-seed\d/).hover();
      await s.page.mouse.wheel(0, 120);
      await sleep(200);
    }
    await row.click();
    await s.waitUntil(
      `Benchmarks rows of ${B}`,
      async () => {
        const r = await s.treeRows('Benchmarks');
        return r.some((b) => b.startsWith('ops1') && /\d+\.\d%/.test(b)) ? r : undefined;
      },
      60_000,
    );
    await sleep(1000);
    await shot(s, 'showcase-trees');

    await s.runCommand('TRAPO: Open Dashboard', { query: 'TRAPO Open Dashboard' });
    const dash = await s.webviewFrame('#groups canvas', 60_000);
    await s.waitUntil('points drawn', async () => /[1-9][\d,]* points drawn/.test((await dash.locator('#status').textContent()) ?? ''), 60_000);
    await sleep(1500);
    await shot(s, 'showcase-dashboard');

    await s.runCommand('TRAPO: Compare Checkpoints', { query: 'TRAPO Compare Checkpoints' });
    await s.pickQuickPick(`${A} @ 1000`);
    await s.pickQuickPick(`${B} @ 1000`);
    const frame = await s.webviewFrame('#table-host vscode-table-row', 60_000);
    await sleep(1000);
    await shot(s, 'showcase-compare');
    await s.webviewFrame('#live-form:not([hidden])', 60_000);
    await frame.locator('#prompt textarea').fill('Compute 7 - 2 + 3 * 4.\nPlease reason step by step, and put your final answer within \\boxed{}.');
    await frame.locator('#generate').click();
    for (const side of ['a', 'b']) {
      await s.waitUntil(
        `side ${side} done`,
        async () => {
          const t = (await frame.locator(`#out-${side}-status`).textContent()) ?? '';
          if (t.startsWith('error')) throw new Error(t);
          return /^(finished|max tokens reached) · /.test(t) ? t : undefined;
        },
        120_000,
      );
    }
    await shot(s, 'showcase-live-prompt');
  } catch (e) {
    await s.screenshot('showcase-failed').catch(() => undefined);
    throw e;
  } finally {
    await s.close();
  }
}

main().catch((e) => {
  console.error(`[showcase] ${(e as Error).stack ?? e}`);
  process.exit(1);
});
