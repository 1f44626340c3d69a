// Runs that survive real life, in code-server with the real trainer (trainer/.venv, tiny model, CPU):
// - kill -9 during training, then Resume: the Runs, Prefix Allocation and Benchmarks trees and the dashboard show
//   every step once (the resumed run re-runs the steps after its checkpoint; nothing is listed twice, no tree id
//   clash), and no error toast;
// - Stop during an evaluation that takes far longer than the stop grace period: the trainer drops the evaluation,
//   saves the step it had trained, ends stopped without SIGTERM; the tree says where Resume continues before it is
//   pressed, and Resume continues from there.
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEMO_CONFIG, Session, guarded, startSession } from './harness';

const NO_WARMUP = process.env.TRAPO_E2E_WARMUP === '0';
const GRACE_S = 3;

/** Sets `section.key: value` in the demo config's two-space indented YAML. */
function setKey(yaml: string, section: string, key: string, value: string): string {
  const re = new RegExp(`^(${section}:\\n(?:  .*\\n)*?)  ${key}: [^#\\n]*`, 'm');
  if (re.test(yaml)) return yaml.replace(re, `$1  ${key}: ${value} `);
  const sec = new RegExp(`^${section}:\\n`, 'm');
  if (!sec.test(yaml)) throw new Error(`the demo config changed shape: no section ${section}`);
  return yaml.replace(sec, `${section}:\n  ${key}: ${value}\n`);
}

function demoWith(name: string, keys: [string, string, string][]): string {
  let y = fs.readFileSync(DEMO_CONFIG, 'utf8').replace(/^name: .*$/m, `name: ${name}`);
  for (const [section, key, value] of keys) y = setKey(y, section, key, value);
  if (NO_WARMUP) y = y.replace(/^  warmup:( *#.*)?\n/m, '  warmup:\n    enabled: false  # TRAPO_E2E_WARMUP=0\n');
  return y;
}

/** 6 steps of 4 prompts; evaluations at 0, 3 and 6; checkpoints at 2, 4, 6 (no ONNX: quicker). */
const CRASH_CONFIG = demoWith('e2e-crash', [
  ['train', 'steps', '6'],
  ['train', 'prompts_per_step', '4'],
  ['data', 'benchmark_size', '4'],
  ['rollout', 'max_new_tokens', '48'],
  ['eval', 'every', '3'],
  ['checkpoint', 'every', '2'],
  ['checkpoint', 'onnx', 'false'],
  ['logging', 'heartbeat_s', '1'],
]);

/** Evaluations of 48 problems x 64 samples on four benchmarks at steps 2, 4, 6: tens of seconds each, far longer
 * than the 3 s grace period; heartbeats every second. */
const LONG_EVAL_CONFIG = demoWith('e2e-long-eval', [
  ['train', 'steps', '6'],
  ['train', 'prompts_per_step', '4'],
  ['eval', 'every', '2'],
  ['eval', 'at_start', 'false'],
  ['eval', 'samples_per_problem', '64'],
  ['checkpoint', 'every', '0'],
  ['checkpoint', 'onnx', 'false'],
  ['logging', 'heartbeat_s', '1'],
]);

interface Ev {
  type: string;
  step: number | null;
  phase?: string;
  message?: string;
  resumed_from_step?: number | null;
}
function events(dir: string): Ev[] {
  const file = path.join(dir, 'events.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Ev];
      } catch {
        return []; // a torn line
      }
    });
}
function readRun(dir: string): { status: string; step?: number | null; pid?: number; name?: string } {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
  } catch {
    return { status: 'unreadable' };
  }
}
function runDirs(s: Session): string[] {
  const root = path.join(s.workspace, 'runs');
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((d) => path.join(root, d))
    .filter((d) => fs.existsSync(path.join(d, 'run.json')));
}
const STATUS_ICON: Record<string, string> = { pass: 'finished', warning: 'crashed', error: 'failed', 'debug-stop': 'stopped', sync: 'running' };
async function treeStatus(s: Session, name: string): Promise<string> {
  return STATUS_ICON[await s.rowIcon(s.treeRow('Runs', name))] ?? 'unknown';
}
async function startRun(s: Session, configName: string): Promise<string> {
  const before = new Set(runDirs(s));
  await s.runCommand('TRAPO: Start TRAPO Run', { query: 'Start TRAPO run' });
  await s.pickQuickPick(configName);
  return s.waitUntil('the new run directory', async () => runDirs(s).find((d) => !before.has(d)), 60_000);
}

/** The "step N" rows of a view now (labels only), in order. */
async function stepRows(s: Session, view: string): Promise<number[]> {
  return (await s.treeRows(view)).flatMap((r) => {
    const m = /^step (\d+)\b/.exec(r);
    return m ? [Number(m[1])] : [];
  });
}

/** Expands one group of a run in the Runs tree (collapsing the others) and returns its step rows. */
async function groupSteps(s: Session, group: string): Promise<number[]> {
  for (const g of ['Checkpoints', 'Rollouts', 'Evaluations']) {
    const row = s.treeRow('Runs', new RegExp(`^${g}`));
    if (g !== group && (await row.getAttribute('aria-expanded')) === 'true') await row.locator('.monaco-tl-twistie').click();
  }
  await s.expandRow(s.treeRow('Runs', new RegExp(`^${group}`)));
  // The tree re-renders as groups collapse and expand: take the rows once two reads 300 ms apart agree.
  let previous = '';
  return s.waitUntil(
    `the ${group} rows`,
    async () => {
      const steps = await stepRows(s, 'Runs');
      const key = JSON.stringify(steps);
      const stable = steps.length > 0 && key === previous;
      previous = key;
      return stable ? steps : undefined;
    },
    15_000,
    300,
  );
}

const desc = (n: number) => Array.from({ length: n }, (_, i) => n - i);

describe('runs that survive real life', () => {
  let s: Session;
  before(async () => {
    s = await startSession({
      label: 'resilience',
      workspaceFiles: { 'crash.trapo.yaml': CRASH_CONFIG, 'longeval.trapo.yaml': LONG_EVAL_CONFIG },
      settings: { 'trapo.stopGracePeriodSeconds': GRACE_S },
    });
    await s.openTrapoContainer();
  });
  after(async () => {
    await s?.close();
  });
  const guard = (name: string, fn: () => Promise<void>) => guarded(() => s, `resilience-${name}`, fn);

  test(
    'kill -9 during training, Resume: the three trees and the dashboard show every step once',
    guard('crash-resume', async () => {
      const dir = await startRun(s, 'crash.trapo.yaml');
      // Killed after step 3 (its evaluation included), with the checkpoint of step 2 on disk: the resume re-runs 3.
      const pid = await s.waitUntil(
        'step 3 done',
        async () => {
          const r = readRun(dir);
          return events(dir).some((e) => e.type === 'metrics' && e.step === 3) && r.pid ? r.pid : undefined;
        },
        480_000,
        200,
      );
      process.kill(pid, 'SIGKILL');
      const killedAfter = Math.max(
        ...events(dir)
          .filter((e) => e.type === 'metrics')
          .map((e) => e.step ?? 0),
      );
      await s.waitUntil('the run shown crashed', async () => (await treeStatus(s, 'e2e-crash')) === 'crashed', 60_000);
      // Before Resume is pressed, the tree says where it continues.
      const row = s.treeRow('Runs', 'e2e-crash');
      assert.match(await row.innerText(), /resumes from step 2/);
      await s.rowAction(row, 'Resume Run');
      await s.waitUntil('run.json says finished', async () => readRun(dir).status === 'finished', 480_000, 1000);
      await s.waitUntil('the run shown finished', async () => (await treeStatus(s, 'e2e-crash')) === 'finished', 30_000);
      const starts = events(dir)
        .filter((e) => e.type === 'run_started')
        .map((e) => e.resumed_from_step);
      assert.deepEqual(starts, [null, 2], 'resumed from the checkpoint of step 2');
      const metricSteps = events(dir)
        .filter((e) => e.type === 'metrics')
        .map((e) => e.step);
      assert.ok(metricSteps.filter((x) => x === 3).length === 2, `step 3 is in the file twice (killed after ${killedAfter}): ${metricSteps}`);

      // The Runs tree: every step once in each group.
      await s.treeRow('Runs', 'e2e-crash').click();
      await s.expandRow(s.treeRow('Runs', 'e2e-crash'));
      assert.deepEqual(await groupSteps(s, 'Rollouts'), desc(6));
      assert.deepEqual(await groupSteps(s, 'Evaluations'), [6, 3, 0]);
      assert.deepEqual(await groupSteps(s, 'Checkpoints'), [6, 4], 'keep_last 2: the pruned checkpoint of step 2 left');
      // Prefix Allocation (the selected run): steps 6..1 once.
      assert.deepEqual(
        await s.waitUntil(
          'Prefix Allocation rows',
          async () => {
            const st = await stepRows(s, 'Prefix Allocation');
            return st.length >= 6 ? st : undefined;
          },
          30_000,
        ),
        desc(6),
      );
      // Benchmarks: each benchmark's evaluations once.
      const average = s.treeRow('Benchmarks', /^Average/);
      await s.expandRow(average);
      assert.deepEqual(
        await s.waitUntil(
          'Benchmarks rows',
          async () => {
            const st = await stepRows(s, 'Benchmarks');
            return st.length >= 3 ? st : undefined;
          },
          30_000,
        ),
        [6, 3, 0],
      );
      // The dashboard: every line of every chart drawn goes through steps once, in order.
      await s.runCommand('TRAPO: Open Dashboard', { query: 'TRAPO Open Dashboard' });
      await s.webviewFrame('#groups canvas', 60_000);
      type Chart = { key: string; datasets: { label: string; kind: string; points: { x: number; s?: number }[] }[] };
      const inspect = 'typeof trapoInspectCharts === "function" ? trapoInspectCharts() : null';
      const frame = await s.waitUntil(
        'the dashboard page',
        async () => {
          for (const f of s.webviewContentFrames()) if (await f.evaluate(inspect).catch(() => null)) return f;
          return undefined;
        },
        60_000,
      );
      // Charts are drawn as they scroll into view: scroll down the page a screen at a time and read each chart.
      const byKey = new Map<string, Chart>();
      for (let i = 0; i < 40; i++) {
        for (const c of ((await frame.evaluate(inspect)) as Chart[] | null) ?? []) byKey.set(c.key, c);
        const more = await frame.evaluate('(() => { const y = window.scrollY; window.scrollBy(0, window.innerHeight * 0.8); return window.scrollY > y; })()');
        if (!more) break;
        await new Promise((r) => setTimeout(r, 400));
      }
      for (const c of ((await frame.evaluate(inspect)) as Chart[] | null) ?? []) byKey.set(c.key, c);
      const charts = [...byKey.values()];
      assert.ok(charts.some((c) => c.key.startsWith('metric:')) && charts.some((c) => c.key.startsWith('bench:')), `charts read: ${[...byKey.keys()]}`);
      process.stderr.write(`[e2e resilience] dashboard charts checked: ${charts.length}\n`);
      for (const c of charts) {
        for (const d of c.datasets.filter((x) => x.kind === 'line')) {
          const steps = d.points.map((p) => p.s ?? p.x);
          if (c.key.startsWith('metric:system/')) {
            // system/* is sampled on a clock (logging.system_metrics_s), not at every step: each step at most once
            const once = [...new Set(steps)].filter((x) => x >= 1 && x <= 6).sort((a, b) => a - b);
            assert.deepEqual(steps, once, `${c.key} (${d.label}): no step twice, in order`);
            continue;
          }
          const expected = c.key.startsWith('bench:') ? [0, 3, 6] : [1, 2, 3, 4, 5, 6];
          assert.deepEqual(steps, expected, `${c.key} (${d.label}): every step once`);
        }
      }
      const errors = (await s.notifications()).filter((t) => /already registered/.test(t));
      assert.deepEqual(errors, [], 'no error toast (a tree id registered twice)');
      await s.screenshot('20-crash-resume-every-step-once');
    }),
  );

  test(
    `Stop during an evaluation longer than the ${GRACE_S} s grace period: the trained step is saved, Resume continues from it`,
    guard('long-eval-stop', async () => {
      const dir = await startRun(s, 'longeval.trapo.yaml');
      await s.waitUntil(
        'the evaluation of step 2 under way',
        async () => events(dir).some((e) => e.type === 'heartbeat' && e.phase === 'eval' && e.step === 2),
        600_000,
        200,
      );
      const t0 = Date.now();
      await s.runCommand('TRAPO: Stop Run', { query: 'TRAPO Stop Run' });
      await s.waitUntil('run.json says stopped', async () => readRun(dir).status === 'stopped', 300_000, 500);
      const took = (Date.now() - t0) / 1000;
      const evs = events(dir);
      assert.equal(evs.filter((e) => e.type === 'eval').length, 0, 'the evaluation was dropped, not finished');
      assert.deepEqual(
        evs.filter((e) => e.type === 'metrics').map((e) => e.step),
        [1, 2],
        'step 2 was trained and kept',
      );
      assert.deepEqual(
        evs.filter((e) => e.type === 'checkpoint').map((e) => e.step),
        [2],
        'and saved',
      );
      assert.ok(evs.some((e) => e.type === 'log' && /evaluation of step 2 was abandoned/.test(e.message ?? '')));
      const toast = await s.waitForNotification(/saved its last finished step and stopped/, 60_000);
      assert.match(await toast.innerText(), /Resume continues from step 2/);
      const log = fs.readFileSync(path.join(dir, 'logs', 'trainer.log'), 'utf8');
      assert.match(log, /trainer exited with code 0/, 'it exited by itself: no SIGTERM, no SIGKILL');
      process.stderr.write(`[e2e resilience] stop during the evaluation: stopped ${took.toFixed(1)} s after Stop\n`);
      await s.waitUntil('the run shown stopped', async () => (await treeStatus(s, 'e2e-long-eval')) === 'stopped', 30_000);
      const row = s.treeRow('Runs', 'e2e-long-eval');
      assert.match(await row.innerText(), /resumes from step 2/, 'where Resume continues, before it is pressed');
      await s.screenshot('21-long-eval-stopped');
      await s.rowAction(row, 'Resume Run');
      await s.waitUntil(
        'step 3 after the resume',
        async () => {
          const all = events(dir);
          const start = all.map((e) => e.type).lastIndexOf('run_started');
          return all.slice(start).some((e) => e.type === 'metrics' && e.step === 3);
        },
        480_000,
        500,
      );
      const all = events(dir);
      const starts = all.filter((e) => e.type === 'run_started').map((e) => e.resumed_from_step);
      assert.deepEqual(starts, [null, 2]);
      const firstAfter = all.slice(all.map((e) => e.type).lastIndexOf('run_started')).find((e) => e.type === 'metrics')?.step;
      assert.equal(firstAfter, 3, 'the resume continues from the saved step 2');
      await s.runCommand('TRAPO: Stop Run', { query: 'TRAPO Stop Run' });
      await s.waitUntil('stopped again', async () => readRun(dir).status === 'stopped', 300_000, 1000);
    }),
  );
});
