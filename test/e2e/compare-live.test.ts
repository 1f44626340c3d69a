// Compare Checkpoints against the real trainer: the live prompt through `python -m trapo serve` (streaming both
// sides, the first token's latency, Cancel), Evaluate Checkpoint writing results that the Benchmarks view and Compare
// show, and onnxruntime-node answering when set so. A 2-step run of the tiny model (random weights, no warm-up, two
// checkpoints with model.onnx, evaluated by the trainer at both steps) is made with the trainer's command line
// before the session starts.
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEMO_CONFIG, REPO, Session, guarded, startSession } from './harness';

const PYTHON = process.env.TRAPO_E2E_PYTHON ?? path.join(REPO, 'trainer', '.venv', 'bin', 'python');
const RUN_ID = '20261201-120000-e2e-compare-c0de';
const NAME = 'e2e-compare';
// "<finished|max tokens reached> · <n> tokens in <t> s (<r> tokens/s) · first token after <s> s" (webview/compare)
const DONE = /^(finished|max tokens reached) · (\d+) tokens in [\d.]+ s \([\d.]+ tokens\/s\) · first token after (\d+\.\d\d) s$/;

function makeRun(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trapo-e2e-compare-'));
  const runDir = path.join(root, RUN_ID);
  const sets = [
    `name=${NAME}`,
    'device=cpu',
    'model.warmup.enabled=false',
    'train.steps=2',
    'train.prompts_per_step=2',
    'data.benchmark_size=2',
    'rollout.max_new_tokens=16',
    'eval.every=1',
    'eval.at_start=false',
    'eval.samples_per_problem=1',
    'checkpoint.every=1',
    'checkpoint.keep_last=2',
    'train.threads=1',
  ];
  const r = spawnSync(PYTHON, ['-m', 'trapo', 'train', '--config', DEMO_CONFIG, '--run-dir', runDir, ...sets.flatMap((s) => ['--set', s])], {
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, HF_HUB_OFFLINE: '1', CUDA_VISIBLE_DEVICES: '' },
  });
  if (r.status !== 0) throw new Error(`making the run failed (exit ${r.status}):\n${(r.stdout ?? '').slice(-2000)}\n${(r.stderr ?? '').slice(-2000)}`);
  for (const step of ['000001', '000002']) {
    if (!fs.existsSync(path.join(runDir, 'checkpoints', step, 'model.onnx'))) throw new Error(`no model.onnx in checkpoint ${step}`);
  }
  return runDir;
}

async function openCompare(s: Session): Promise<void> {
  await s.runCommand('TRAPO: Compare Checkpoints', { query: 'TRAPO Compare Checkpoints' });
  await s.pickQuickPick(`${NAME} @ 1`);
  await s.pickQuickPick(`${NAME} @ 2`);
}

describe('Compare against the real trainer: live prompt service, Cancel, Evaluate Checkpoint', () => {
  let s: Session;
  let runSource = '';
  before(async () => {
    runSource = makeRun();
    // these checkpoints have model.onnx, which `auto` would answer with in process: ask for the service
    s = await startSession({ label: 'compare', copyDirs: { [`runs/${RUN_ID}`]: runSource }, settings: { 'trapo.compare.liveEngine': 'service' } });
    await s.openTrapoContainer();
  });
  after(async () => {
    await s?.close();
    if (runSource) fs.rmSync(path.dirname(runSource), { recursive: true, force: true });
  });
  const guard = (name: string, fn: () => Promise<void>) => guarded(() => s, `compare-${name}`, fn);
  const runDir = () => path.join(s.workspace, 'runs', RUN_ID);

  test(
    "the live prompt streams both answers from the trainer's service with the first token's latency",
    guard('service', async () => {
      await openCompare(s);
      const frame = await s.webviewFrame('#live-form:not([hidden])', 60_000);
      assert.match((await frame.locator('#live-note').textContent()) ?? '', /Answered by the trainer's Python \(.*python.*\), where the run is/);
      await frame.locator('#prompt textarea').click(); // focus: the service starts and loads both checkpoints
      const model = await s.waitUntil(
        'both checkpoints loaded',
        async () => {
          const a = (await frame.locator('#out-a-model').textContent()) ?? '';
          const b = (await frame.locator('#out-b-model').textContent()) ?? '';
          if (a.startsWith('error') || b.startsWith('error')) throw new Error(`${a} | ${b}`);
          return /loaded in/.test(a) && /loaded in/.test(b) ? a : undefined;
        },
        240_000,
      );
      assert.match(model, /^832k parameters · float32 on cpu · loaded in [\d.]+ s$/);
      await frame.locator('#prompt textarea').fill('Compute 2 + 3 * 4.');
      await frame.locator('#max-tokens input').fill('24');
      await frame.locator('#generate').click();
      for (const side of ['a', 'b']) {
        const st = await s.waitUntil(
          `side ${side} done`,
          async () => {
            const t = (await frame.locator(`#out-${side}-status`).textContent()) ?? '';
            if (t.startsWith('error')) throw new Error(t);
            return DONE.test(t) ? t : undefined;
          },
          120_000,
        );
        assert.ok(Number(DONE.exec(st)![2]) >= 1, `side ${side}: ${st}`);
        const out = (await frame.locator(`#out-${side}`).textContent()) ?? '';
        assert.ok(out.length > 0, `side ${side} shows its completion`);
      }
      await s.screenshot('17-live-prompt-service');
    }),
  );

  test(
    'Cancel stops both sides between two tokens',
    guard('cancel', async () => {
      const frame = await s.webviewFrame('#live-form:not([hidden])');
      await frame.locator('#max-tokens input').fill('4096');
      await frame.locator('#generate').click();
      await s.waitUntil('tokens streaming on A', async () => ((await frame.locator('#out-a').textContent()) ?? '').length > 0, 60_000, 100);
      await frame.locator('#cancel').click();
      for (const side of ['a', 'b']) {
        const st = await s.waitUntil(
          `side ${side} ended`,
          async () => {
            const t = (await frame.locator(`#out-${side}-status`).textContent()) ?? '';
            return /^(cancelled|finished) · /.test(t) ? t : undefined;
          },
          60_000,
        );
        // an untrained model rarely ends by itself; if it did, it ended before the Cancel reached it
        const tokens = Number(/ (\d+) tokens in/.exec(st)?.[1]);
        assert.ok(tokens < 4096, `side ${side}: ${st}`);
      }
      assert.match((await frame.locator('#out-a-status').textContent()) ?? '', /^cancelled · /);
      assert.equal(await frame.locator('#generate').evaluate((b) => (b as unknown as { disabled: boolean }).disabled), false, 'Generate is enabled again');
    }),
  );

  test(
    'Evaluate Checkpoint writes results that the Benchmarks view shows',
    guard('evaluate', async () => {
      await s.runCommand('TRAPO: Evaluate Checkpoint…', { query: 'TRAPO Evaluate Checkpoint' });
      await s.pickQuickPick(`${NAME} @ 2`);
      // the benchmarks (the run's, ticked): accept; then the samples per problem (the run's 1): accept
      await s.page.locator('.quick-input-widget .quick-input-title', { hasText: 'benchmarks' }).waitFor({ timeout: 15_000 });
      await s.page.keyboard.press('Enter');
      await s.page.locator('.quick-input-widget .quick-input-title', { hasText: 'samples per problem' }).waitFor({ timeout: 15_000 });
      await s.page.keyboard.press('Enter');
      const toast = await s.waitForNotification(/evaluated: average \d+\.\d% over 4 benchmarks/, 300_000);
      assert.match(await toast.innerText(), /written to checkpoint_evals/);
      const summary = JSON.parse(fs.readFileSync(path.join(runDir(), 'checkpoint_evals', '000002.json'), 'utf8'));
      assert.deepEqual(Object.keys(summary.benchmarks).sort(), ['ops1', 'ops2', 'ops3', 'ops4']);
      for (const b of Object.values(summary.benchmarks) as { file: string; n: number }[]) {
        const lines = fs.readFileSync(path.join(runDir(), b.file), 'utf8').trim().split('\n');
        assert.equal(lines.length, b.n);
      }
      const rows = await s.waitUntil(
        'Evaluate Checkpoint in the Benchmarks view',
        async () => {
          const r = await s.treeRows('Benchmarks');
          return r.some((x) => x.startsWith('Average (Evaluate Checkpoint)')) ? r : undefined;
        },
        30_000,
      );
      assert.ok(
        rows.some((x) => x.startsWith('ops1 ')),
        rows.join(' | '),
      );
      await s.expandRow(s.treeRow('Benchmarks', /^ops1/));
      const points = await s.waitUntil(
        'ops1 points',
        async () => {
          const r = await s.treeRows('Benchmarks');
          return r.filter((x) => x.startsWith('step 2 ')).length === 2 ? r : undefined;
        },
        15_000,
      );
      assert.ok(
        points.some((x) => /^step 2 .* · Evaluate Checkpoint$/.test(x)),
        points.join(' | '),
      );
      await s.screenshot('18-evaluate-checkpoint-benchmarks');
    }),
  );

  test(
    "Compare shows Evaluate Checkpoint's results and the average row",
    guard('table', async () => {
      await s.runCommand('View: Close All Editors');
      await openCompare(s);
      const frame = await s.webviewFrame('#table-host vscode-table-row', 60_000);
      const rows = frame.locator('#table-host vscode-table-body vscode-table-row');
      const texts = (await rows.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
      assert.ok(
        texts.some((t) => t.startsWith('Average (4 benchmarks)')),
        texts.join(' | '),
      );
      // B (step 2) was evaluated again by Evaluate Checkpoint: its cells carry the mark
      const ops1 = (await rows.filter({ hasText: 'ops1' }).first().locator('vscode-table-cell').allTextContents()).map((t) => t.trim());
      assert.match(ops1[2], /◆$/, ops1.join(' | '));
      assert.doesNotMatch(ops1[1], /◆/, "A (step 1) has the trainer's evaluation only");
      await s.screenshot('19-compare-average-row');
    }),
  );

  test(
    'onnxruntime-node answers when trapo.compare.liveEngine is onnx (no Python)',
    guard('onnx', async () => {
      // a workspace setting (the folder's .vscode/settings.json is watched); the panel reads it when it opens
      fs.mkdirSync(path.join(s.workspace, '.vscode'), { recursive: true });
      fs.writeFileSync(path.join(s.workspace, '.vscode', 'settings.json'), JSON.stringify({ 'trapo.compare.liveEngine': 'onnx' }));
      const frame = await s.waitUntil(
        'a Compare panel answered by onnxruntime-node',
        async () => {
          await s.runCommand('View: Close All Editors');
          await openCompare(s);
          const f = await s.webviewFrame('#live-form:not([hidden])', 60_000);
          return /onnxruntime-node/.test((await f.locator('#live-note').textContent()) ?? '') ? f : undefined;
        },
        120_000,
        3000,
      );
      await frame.locator('#prompt textarea').fill('Compute 2 + 3 * 4.');
      await frame.locator('#max-tokens input').fill('16');
      await frame.locator('#generate').click();
      for (const side of ['a', 'b']) {
        await s.waitUntil(
          `side ${side} done (onnx)`,
          async () => {
            const t = (await frame.locator(`#out-${side}-status`).textContent()) ?? '';
            if (t.startsWith('error')) throw new Error(t);
            return DONE.test(t);
          },
          60_000,
        );
      }
    }),
  );

  test(
    'no CSP violation in any webview of this session',
    guard('csp', async () => {
      assert.deepEqual(s.webviewCspViolations(), []);
      const checked = await s.calibrateCsp();
      process.stderr.write(`[e2e compare] CSP counter checked in ${checked} webview(s)\n`);
    }),
  );
});
