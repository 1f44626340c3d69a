// Runs started from the palette and watched live: the demo config (status bar, Runs tree, dashboard gaining points,
// Stop then Resume), a short variant of it run to the end (finished, Prefix Allocation and Benchmarks filled), a bad
// config refused, and a killed trainer shown as crashed. The trainer runs for real (trainer/.venv, tiny model, CPU).
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEMO_CONFIG, Session, guarded, sleep, startSession } from './harness';

// The status bar item reads "$(sync~spin) TRAPO <step>/<total> · reward … · ETA …" (src/runs/statusBar.ts).
const STATUS_STEP = /TRAPO (\d+)\/(\d+)/;

// A config the schema refuses: train.steps has "minimum": 1 (trainer/trapo/schemas/config.schema.json).
const BAD_CONFIG = `name: bad
algorithm: trapo
train:
  steps: -5
`;

/**
 * TRAPO_E2E_WARMUP=0 switches the tiny model's warm-up off in the workspace's configs (an untrained model: the UI
 * paths are the same, rewards stay low). For machines too busy to warm the model up; scripts/e2e.sh normally warms it
 * up once and caches it, and the demo config is used as it is.
 */
const NO_WARMUP = process.env.TRAPO_E2E_WARMUP === '0';
function withoutWarmup(yaml: string): string {
  if (!NO_WARMUP) return yaml;
  // The demo may carry its own model.warmup block: switch that one off rather than add a second key.
  const own = yaml.replace(/^  warmup:( *#.*)?\n/m, '  warmup:\n    enabled: false  # TRAPO_E2E_WARMUP=0\n');
  if (own !== yaml) return own;
  const out = yaml.replace(/^(model:\n  name_or_path: tiny.*\n)/m, '$1  warmup: {enabled: false}  # TRAPO_E2E_WARMUP=0\n');
  if (out === yaml) throw new Error('the demo config changed shape: no "model:\\n  name_or_path: tiny" to add warmup to');
  return out;
}

/** Sets `section.key: value` in a YAML text with two-space indented sections (the demo config's layout). */
function setKey(yaml: string, section: string, key: string, value: string): string {
  const re = new RegExp(`^(${section}:\\n(?:  .*\\n)*?)  ${key}: [^#\\n]*`, 'm');
  if (!re.test(yaml)) throw new Error(`the demo config changed shape: no ${section}.${key}`);
  return yaml.replace(re, `$1  ${key}: ${value} `);
}

/**
 * The demo config made small enough to run to the end within the suite's time (same model, task and algorithm):
 * 4 steps of 4 prompts, evaluations and checkpoints (with model.onnx) at steps 2 and 4 on 4 problems per benchmark.
 */
function shortConfig(): string {
  let y = fs.readFileSync(DEMO_CONFIG, 'utf8').replace(/^name: .*$/m, 'name: e2e-short');
  y = setKey(y, 'train', 'steps', '4');
  y = setKey(y, 'train', 'prompts_per_step', '4');
  y = setKey(y, 'data', 'benchmark_size', '4');
  y = setKey(y, 'rollout', 'max_new_tokens', '48');
  y = setKey(y, 'eval', 'every', '2');
  y = setKey(y, 'checkpoint', 'every', '2');
  if (!/^name: e2e-short$/m.test(y)) throw new Error('the demo config changed shape: no top-level name');
  return withoutWarmup(y);
}

/** Directories of the runs in the session's workspace (runs/<id>/run.json). */
function runDirs(s: Session): string[] {
  const root = path.join(s.workspace, 'runs');
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((d) => path.join(root, d))
    .filter((d) => fs.existsSync(path.join(d, 'run.json')));
}

interface RunJson {
  status: string;
  step?: number | null;
  pid?: number;
  total_steps?: number;
  name?: string;
}
function readRun(dir: string): RunJson {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
  } catch {
    return { status: 'unreadable' }; // being rewritten: the next poll reads it
  }
}

/** The status bar's step/total now, or undefined. */
async function statusStep(s: Session): Promise<{ step: number; total: number } | undefined> {
  for (const t of await s.statusBarTexts()) {
    const m = STATUS_STEP.exec(t);
    if (m) return { step: Number(m[1]), total: Number(m[2]) };
  }
  return undefined;
}

// The Runs tree shows a run's status as its icon (src/trees/runsTree.ts statusIcon).
const STATUS_ICON: Record<string, string> = { pass: 'finished', warning: 'crashed', error: 'failed', 'debug-stop': 'stopped', sync: 'running' };
async function treeStatus(s: Session, name: string): Promise<string> {
  return STATUS_ICON[await s.rowIcon(s.treeRow('Runs', name))] ?? 'unknown';
}

/** Starts a run from the palette with the config file `configName` of the workspace. */
async function startRun(s: Session, configName: string): Promise<void> {
  await s.runCommand('TRAPO: Start TRAPO Run', { query: 'Start TRAPO run' });
  await s.pickQuickPick(configName);
}

describe('live runs started from the palette', () => {
  let s: Session;
  let demoDir = '';
  before(async () => {
    s = await startSession({
      label: 'live',
      workspaceFiles: {
        'bad.trapo.yaml': BAD_CONFIG,
        'short.trapo.yaml': shortConfig(),
        ...(NO_WARMUP ? { 'demo.trapo.yaml': withoutWarmup(fs.readFileSync(DEMO_CONFIG, 'utf8')) } : {}),
      },
    });
    await s.openTrapoContainer();
  });
  after(async () => {
    await s?.close();
  });
  const guard = (name: string, fn: () => Promise<void>) => guarded(() => s, `live-${name}`, fn);

  test(
    'Start TRAPO Run with the demo config: the status bar shows the step and the Runs tree the run running',
    guard('start', async () => {
      await startRun(s, 'demo.trapo.yaml');
      demoDir = await s.waitUntil('a run directory under runs/', async () => runDirs(s)[0], 60_000);
      // The first run on a machine warms the tiny model up (about a minute on 2 cores; cached after).
      const st = await s.waitUntil(
        'step/total in the status bar',
        async () => {
          const x = await statusStep(s);
          return x && x.step >= 1 ? x : undefined;
        },
        300_000,
        1000,
      );
      const demoSteps = Number(/^train:\n(?:  .*\n)*?  steps: (\d+)/m.exec(fs.readFileSync(DEMO_CONFIG, 'utf8'))?.[1]);
      assert.equal(st.total, demoSteps, `the demo config's train.steps (${demoSteps}) is the total shown`);
      assert.equal(await treeStatus(s, 'demo-trapo'), 'running');
      await s.screenshot('10-live-run-started');
    }),
  );

  test(
    "the dashboard's charts gain points while the run goes",
    guard('dashboard-live', async () => {
      assert.ok(demoDir, 'the demo run was started by the previous test');
      await s.runCommand('TRAPO: Open Dashboard', { query: 'TRAPO Open Dashboard' });
      const frame = await s.webviewFrame('#groups canvas');
      // The dashboard's status line counts what it drew: "… · <p> points drawn".
      const points = async () => {
        const m = /([\d,]+) points drawn/.exec((await frame.locator('#status').textContent()) ?? '');
        return m ? Number(m[1].replace(/,/g, '')) : 0;
      };
      const p0 = await s.waitUntil('points drawn', points, 30_000);
      const step0 = (await statusStep(s))?.step ?? 0;
      await s.waitUntil('two more steps', async () => ((await statusStep(s))?.step ?? 0) >= step0 + 2, 180_000, 1000);
      const p1 = await s.waitUntil(`more than ${p0} points drawn`, async () => ((await points()) > p0 ? points() : undefined), 20_000);
      assert.ok(p1 > p0, `points drawn went from ${p0} to ${p1}`);
      await s.screenshot('11-live-dashboard');
    }),
  );

  // Resume is clicked as soon as the tree shows "stopped": run.json says so a moment before the trainer's process is
  // gone, and Resume waits for it (src/runs/startRun.ts) instead of answering "still running".
  test(
    'Stop, then Resume: the step count continues where it stopped',
    guard('stop-resume', async () => {
      assert.ok(demoDir, 'the demo run was started by the first test');
      await s.runCommand('TRAPO: Stop Run', { query: 'TRAPO Stop Run' });
      await s.waitUntil('run.json says stopped', async () => readRun(demoDir).status === 'stopped', 120_000, 1000);
      const stoppedAt = readRun(demoDir).step ?? 0;
      assert.ok(stoppedAt >= 3, `stopped at step ${stoppedAt}`);
      await s.waitUntil('the run shown stopped in the Runs tree', async () => (await treeStatus(s, 'demo-trapo')) === 'stopped', 20_000);
      await s.screenshot('12-live-stopped');
      // Stop = "finish the step, save, end stopped" (trainer/trapo/train.py): the checkpoint of the last step is there,
      // else Resume would start again from step 0.
      const ckpts = fs.existsSync(path.join(demoDir, 'checkpoints')) ? fs.readdirSync(path.join(demoDir, 'checkpoints')) : [];
      assert.ok(ckpts.map(Number).includes(stoppedAt), `a checkpoint of step ${stoppedAt} saved on stop; checkpoints/: [${ckpts.join(', ')}]`);
      await s.rowAction(s.treeRow('Runs', 'demo-trapo'), 'Resume Run');
      // Resumed in the same run directory from the checkpoint saved on stop: the steps go on, not from 0.
      const resumed = await s.waitUntil(
        `a step beyond ${stoppedAt} in the status bar`,
        async () => {
          const x = await statusStep(s);
          return x && x.step > stoppedAt ? x : undefined;
        },
        300_000,
        1000,
      );
      assert.equal(runDirs(s).length, 1, 'resume used the same run directory');
      assert.equal(readRun(demoDir).status, 'running');
      // events.jsonl: the first metrics event after the resume's run_started continues from the checkpoint saved at
      // the stop (step stoppedAt + 1), instead of starting again at step 1.
      const events = fs
        .readFileSync(path.join(demoDir, 'events.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type?: string; step?: number });
      const starts = events.flatMap((e, i) => (e.type === 'run_started' ? [i] : []));
      assert.equal(starts.length, 2, 'two run_started events: the start and the resume');
      const firstAfterResume = events.slice(starts[1]).find((e) => e.type === 'metrics')?.step;
      assert.equal(firstAfterResume, stoppedAt + 1, `first step after resuming (stopped at ${stoppedAt})`);
      process.stderr.write(`[e2e live] stopped at ${stoppedAt}, resumed to ${resumed.step}\n`);
      // End the demo run here: the next test runs a short config to the end.
      await s.runCommand('TRAPO: Stop Run', { query: 'TRAPO Stop Run' });
      await s.waitUntil('run.json says stopped again', async () => readRun(demoDir).status === 'stopped', 120_000, 1000);
    }),
  );

  test(
    'a short run finishes: the Runs tree shows it finished, Prefix Allocation and Benchmarks fill',
    guard('finished', async () => {
      const before = new Set(runDirs(s));
      await startRun(s, 'short.trapo.yaml');
      const dir = await s.waitUntil("the short run's directory", async () => runDirs(s).find((d) => !before.has(d)), 60_000);
      await s.waitUntil('run.json says finished', async () => readRun(dir).status === 'finished', 480_000, 1000);
      await s.waitUntil('the run shown finished in the Runs tree', async () => (await treeStatus(s, 'e2e-short')) === 'finished', 30_000);
      await s.treeRow('Runs', 'e2e-short').click();
      // 4 steps, newest first; evaluations at steps 2 and 4 (eval.every 2).
      await s.waitUntil('Prefix Allocation with step 4 first', async () => /^step 4\b/.test((await s.treeRows('Prefix Allocation'))[0] ?? ''), 30_000);
      const benches = await s.waitUntil(
        'Benchmarks rows',
        async () => {
          const r = await s.treeRows('Benchmarks');
          return r.some((b) => /\d+\.\d%/.test(b)) ? r : undefined;
        },
        30_000,
      );
      assert.ok(benches.length >= 2, `benchmarks: ${benches.join(' | ')}`);
      await s.screenshot('13-live-finished-trees');
    }),
  );

  test(
    "the short run's two checkpoints compared: the live prompt answers from both (onnxruntime-node)",
    guard('live-prompt', async () => {
      // The short run saved checkpoints at steps 2 and 4, each with model.onnx (checkpoint.onnx defaults to true).
      await s.runCommand('TRAPO: Compare Checkpoints', { query: 'TRAPO Compare Checkpoints' });
      await s.pickQuickPick('e2e-short @ 2');
      await s.pickQuickPick('e2e-short @ 4');
      const frame = await s.webviewFrame('#live-form:not([hidden])', 60_000);
      await frame.locator('#prompt textarea').fill('Compute 2 + 3 * 4.\nPlease reason step by step, and put your final answer within \\boxed{}.');
      await frame.locator('#generate').click();
      // Each side ends with "<finished|max tokens reached> · <n> tokens in <t> s (<r> tokens/s)".
      const done = /^(finished|max tokens reached) · (\d+) tokens in/;
      for (const side of ['a', 'b']) {
        const st = await s.waitUntil(
          `side ${side} done`,
          async () => {
            const t = (await frame.locator(`#out-${side}-status`).textContent()) ?? '';
            if (t.startsWith('error')) throw new Error(t);
            return done.test(t) ? t : undefined;
          },
          120_000,
        );
        const n = Number(done.exec(st)![2]);
        assert.ok(n >= 1, `side ${side} generated ${n} tokens`);
        const out = (await frame.locator(`#out-${side}`).textContent()) ?? '';
        // An untrained model (TRAPO_E2E_WARMUP=0) greedily emits spaces (checked by hand on such a checkpoint):
        // then the completion is there but blank.
        assert.ok((NO_WARMUP ? out : out.trim()).length > 0, `side ${side} shows its completion: ${JSON.stringify(out.slice(0, 80))}`);
      }
      await s.screenshot('16-live-prompt');
    }),
  );

  test(
    'a bad config is refused with the key named, and nothing is spawned',
    guard('bad-config', async () => {
      const before = runDirs(s).length;
      await startRun(s, 'bad.trapo.yaml');
      const toast = await s.waitForNotification(/bad\.trapo\.yaml/, 30_000);
      assert.match(await toast.innerText(), /train\.steps/);
      await s.screenshot('14-bad-config-refused');
      await sleep(2000);
      assert.equal(runDirs(s).length, before, 'no run directory was created');
      await s.page.keyboard.press('Escape');
    }),
  );

  test(
    'a killed trainer is shown as crashed with Resume offered',
    guard('crash', async () => {
      const before = new Set(runDirs(s));
      await startRun(s, 'short.trapo.yaml');
      const dir = await s.waitUntil('a new run directory', async () => runDirs(s).find((d) => !before.has(d)), 60_000);
      const pid = await s.waitUntil(
        'the trainer pid in run.json',
        async () => {
          const r = readRun(dir);
          return r.status === 'running' && r.pid ? r.pid : undefined;
        },
        120_000,
      );
      process.kill(pid, 'SIGKILL');
      // What a person sees: the run's row turns to the crashed icon with Resume among its inline actions, and a
      // notification tells that the trainer died.
      const name = readRun(dir).name ?? 'e2e-short';
      const row = await s.waitUntil(
        'the run shown crashed in the Runs tree',
        async () => {
          const rows = s.viewPane('Runs').locator('.pane-body .monaco-list-row').filter({ hasText: name });
          for (let i = 0; i < (await rows.count()); i++) if ((await s.rowIcon(rows.nth(i))) === 'warning') return rows.nth(i);
          return undefined;
        },
        60_000,
      );
      await row.hover();
      await row.locator('.actions .action-label[aria-label^="Resume Run"]').first().waitFor({ state: 'visible', timeout: 10_000 });
      const toast = await s.waitForNotification(/crashed|SIGKILL|exited/, 30_000);
      const text = await toast.innerText();
      await s.screenshot('15-killed-trainer-crashed');
      assert.match(text, /crashed|SIGKILL/, `the notification says how the trainer ended: ${text}`);
    }),
  );

  test(
    'no CSP violation in any webview of this session',
    guard('csp', async () => {
      assert.deepEqual(s.webviewCspViolations(), []);
      const checked = await s.calibrateCsp();
      process.stderr.write(`[e2e live] CSP counter checked in ${checked} webview(s)\n`);
    }),
  );
});
