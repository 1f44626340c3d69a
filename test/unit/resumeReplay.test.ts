// A crash and a resume replayed from an events file: the trainer ran steps 1..13 (checkpoints at 5 and 10, the
// files of step 13 written) and was killed mid-line; Resume started from the checkpoint at step 10, re-ran 11..20 and
// finished. Every view must show every step once: the run store's metrics, prefix steps, rollouts, evaluations and
// checkpoints, the dashboard's data (whole and live), the Runs, Prefix Allocation and Benchmarks trees (unique ids).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installVscodeStub } from '../helpers/vscodeStub';
import { RunStore } from '../../src/core/runStore';
import { RunSelection } from '../../src/services';
import { append, ev, events as E, tempDir, writeRunJson } from '../helpers/runDir';
import { runStoreSource } from '../../src/dashboard/runStoreSource';
import { buildRunData } from '../../src/dashboard/dashboardData';
import { DashboardSession } from '../../src/dashboard/dashboardSession';
import type { HostToWebviewMessage } from '../../src/shared/dashboardProtocol';

installVscodeStub();
const ID = '20261125-142501-crash-resume-3f9a';
const TOTAL = 20;
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** The events of one step as the trainer writes them (step files, eval and checkpoint when due, metrics). */
function step(t: number, s: number, loss: number): string {
  // Prompt p1 twice in one step: at an epoch boundary a step can draw the same problem twice.
  const prefix = ev('prefix_allocation', t, s, {
    prompts: ['p0', 'p1', 'p1'].map((id, i) => ({ prompt_id: id, level: i, stages: [{ n: 4, ratio: 0, guided: false, correct: 1, correct_before: 0 }] })),
  });
  let out = prefix + E.rollouts(t, s, 12);
  if (s % 5 === 0) out += E.evalEv(t + 0.1, s, { easy: 0.5 + s / 100, hard: s / 100 }) + E.checkpoint(t + 0.2, s);
  return out + E.metrics(t + 0.3, s, { 'loss/total': loss, 'reward/mean': s / 100, 'optim/lr': 3e-4 });
}

/** Steps 1..13 and a torn line: the first run, killed. */
function crashed(): string {
  let text = E.runStarted(1000, TOTAL) + E.evalEv(1000.5, 0, { easy: 0.4, hard: 0.1 });
  for (const s of range(1, 13)) text += step(1000 + s, s, 10 - s * 0.1);
  return text + '{"v":1,"type":"metrics","time":1014,"st';
}

/** The resume: the torn line ended by the writer, run_started from 10, steps 11..20, run_finished. */
function resumed(): string {
  let text = '\n' + E.runStarted(2000, TOTAL, 10);
  for (const s of range(11, TOTAL)) text += step(2000 + s, s, 5 - s * 0.1);
  return text + E.finished(2100, 'finished');
}

function makeStore(root: string) {
  return new RunStore({ roots: [root], crashProbe: { now: () => 3000, hostname: 'test-host', isPidAlive: () => false }, watch: false });
}

/** Every node's id, depth first, from a tree provider. */
function allIds(tree: { getChildren(n?: never): unknown[] }): string[] {
  const ids: string[] = [];
  const walk = (node?: unknown) => {
    for (const child of tree.getChildren(node as never) as { id?: string }[]) {
      ids.push(child.id ?? '(no id)');
      walk(child);
    }
  };
  walk();
  return ids;
}

function assertOnce(what: string, steps: readonly number[], expected: number[]) {
  assert.deepEqual([...steps], expected, `${what}: every step once, in order`);
}

test('crash and resume: the store, the dashboard and the three trees show every step once', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, status: 'finished', total_steps: TOTAL });
  append(dir, crashed() + resumed());
  // The checkpoints on disk: 5 and 10 (from before the crash), 15 and 20.
  for (const s of [5, 10, 15, 20]) fs.mkdirSync(path.join(dir, 'checkpoints', String(s).padStart(6, '0')), { recursive: true });
  const store = makeStore(root);
  await store.refresh();
  const run = store.get(ID)!;

  // The store.
  for (const name of run.metrics.names()) assertOnce(`metric ${name}`, [...run.metrics.get(name)!.steps()], range(1, TOTAL));
  // The re-run steps carry the resumed values, not the crashed run's.
  assert.equal(run.metrics.get('loss/total')!.values()[10], 5 - 11 * 0.1);
  assertOnce(
    'prefix steps',
    run.prefixSteps.map((p) => p.step),
    range(1, TOTAL),
  );
  assertOnce(
    'rollout files',
    run.rolloutFiles.map((r) => r.step),
    range(1, TOTAL),
  );
  assertOnce(
    'evaluations',
    run.evals.map((e) => e.step),
    [0, 5, 10, 15, 20],
  );
  assertOnce(
    'checkpoints',
    run.checkpoints.map((c) => c.step),
    [5, 10, 15, 20],
  );
  assert.equal(run.step, TOTAL);
  assert.equal(run.skipped.malformed, 1, 'the torn line, ended by the resume, is one malformed line');
  assert.ok(run.historyVersion > 0);

  // The dashboard's data.
  const source = runStoreSource(store);
  const data = buildRunData(source, ID, 1200);
  for (const s of data.series) assertOnce(`dashboard ${s.name}`, s.steps, range(1, TOTAL));
  for (const b of data.benchmarks) assertOnce(`dashboard accuracy ${b.name}`, b.steps, [0, 5, 10, 15, 20]);

  // The trees: ids unique everywhere, every step once.
  const { RunsTreeProvider } = await import('../../src/trees/runsTree');
  const { PrefixTreeProvider } = await import('../../src/trees/prefixTree');
  const { BenchmarksTreeProvider } = await import('../../src/trees/benchmarksTree');
  const selection = new RunSelection();
  selection.set(ID);
  for (const [name, tree] of [
    ['Runs', new RunsTreeProvider(store)],
    ['Prefix Allocation', new PrefixTreeProvider(store, selection)],
    ['Benchmarks', new BenchmarksTreeProvider(store, selection)],
  ] as const) {
    const ids = allIds(tree);
    assert.ok(ids.length > 0, `${name} tree has nodes`);
    assert.equal(new Set(ids).size, ids.length, `${name} tree ids are unique: ${ids.filter((x, i) => ids.indexOf(x) !== i).slice(0, 3)}`);
  }
  const runsTree = new RunsTreeProvider(store);
  const [runNode] = runsTree.getChildren();
  const groups = runsTree.getChildren(runNode);
  const labels = (g: number) => runsTree.getChildren(groups[g]).map((n) => String(n.label));
  assert.deepEqual(
    labels(0),
    [20, 15, 10, 5].map((s) => `step ${s}`),
    'Checkpoints',
  );
  assert.deepEqual(
    labels(1),
    range(1, TOTAL)
      .reverse()
      .map((s) => `step ${s}`),
    'Rollouts',
  );
  assert.deepEqual(
    labels(2),
    [20, 15, 10, 5, 0].map((s) => `step ${s}`),
    'Evaluations',
  );
  const prefix = new PrefixTreeProvider(store, selection);
  const prefixSteps = prefix.getChildren();
  assert.deepEqual(
    prefixSteps.map((n) => String(n.label)),
    range(1, TOTAL)
      .reverse()
      .map((s) => `step ${s}`),
  );
  assert.deepEqual(
    prefix.getChildren(prefixSteps[0]).map((n) => String(n.label)),
    ['p0', 'p1', 'p1'],
    'both draws of p1 are listed',
  );
  const bench = new BenchmarksTreeProvider(store, selection);
  for (const b of bench.getChildren()) {
    assert.deepEqual(
      bench.getChildren(b).map((n) => String(n.label)),
      [20, 15, 10, 5, 0].map((s) => `step ${s}`),
      `Benchmarks ${String(b.label)}`,
    );
  }
  store.dispose();
});

test('crash and resume seen live: the dashboard is sent the run again, not the re-run steps on top of the old ones', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, status: 'running', pid: 999999, host: 'test-host' });
  append(dir, crashed());
  const alive = new Set([999999]);
  const store = new RunStore({ roots: [root], crashProbe: { now: () => 3000, hostname: 'test-host', isPidAlive: (p) => alive.has(p) }, watch: false });
  await store.refresh();
  const posted: HostToWebviewMessage[] = [];
  const session = new DashboardSession({
    source: runStoreSource(store),
    post: (m) => posted.push(m),
    settings: () => ({ smoothing: 0.6, maxPointsPerSeries: 1200 }),
    batchMs: 0,
    firstScreenMetrics: 0,
    clock: { now: () => 0, setTimeout: (fn) => (fn(), 0), clearTimeout: () => undefined },
  });
  session.handleMessage({ type: 'ready', version: 1, state: {} });
  const snapshot = posted.find((m) => m.type === 'snapshot');
  assert.ok(snapshot && snapshot.type === 'snapshot');
  assertOnce('snapshot loss', snapshot.data[0].series.find((s) => s.name === 'loss/total')!.steps, range(1, 13));
  posted.length = 0;
  append(dir, resumed());
  await store.refresh();
  session.flush();
  // What the webview holds after these messages: runData replaces a run's data, append extends it.
  const held = new Map<string, number[]>(snapshot.data[0].series.map((s) => [s.name, [...s.steps]]));
  for (const m of posted) {
    if (m.type === 'runData') for (const d of m.data) for (const s of d.series) held.set(s.name, [...s.steps]);
    if (m.type === 'append') for (const d of m.data) for (const s of d.series) held.get(s.name)!.push(...s.steps);
  }
  assert.ok(
    posted.some((m) => m.type === 'runData'),
    `the run is sent again: ${posted.map((m) => m.type)}`,
  );
  for (const [name, steps] of held) assertOnce(`webview ${name}`, steps, range(1, TOTAL));
  session.dispose();
  store.dispose();
});
