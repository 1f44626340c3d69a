import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunChange, RunStore, bestEvalAverage, etaSeconds, levelShares } from '../../src/core/runStore';
import { CrashProbe } from '../../src/core/crash';
import { append, ev, events as E, tempDir, writeRunJson } from '../helpers/runDir';
import { runStoreSource } from '../../src/dashboard/runStoreSource';

const ID = '20261125-142501-demo-3f9a';

/** Fake clock and process table: by default the run's pid (999999) is alive on 'test-host'. */
function fakeProbe(now = 1100, alive: number[] = [999999]): CrashProbe & { clock: { t: number }; alive: number[] } {
  const clock = { t: now };
  return { clock, alive, now: () => clock.t, hostname: 'test-host', isPidAlive: (pid) => alive.includes(pid) };
}

function makeStore(roots: string[], probe = fakeProbe(), extra: Partial<ConstructorParameters<typeof RunStore>[0]> = {}) {
  const store = new RunStore({ roots, crashProbe: probe, watch: false, heartbeatTimeoutSeconds: 120, ...extra });
  const changes: RunChange[] = [];
  store.onDidChange((c) => changes.push(c));
  return { store, changes };
}

test('finds runs in several roots, skips folders without run.json and reports unreadable ones', async () => {
  const a = tempDir();
  const b = tempDir();
  writeRunJson(path.join(a, ID), { id: ID });
  writeRunJson(path.join(b, '20261126-090000-grpo-0001'), { id: '20261126-090000-grpo-0001', algorithm: 'grpo' });
  fs.mkdirSync(path.join(a, 'not-a-run'));
  fs.mkdirSync(path.join(a, 'wrong-format'));
  fs.writeFileSync(path.join(a, 'wrong-format', 'run.json'), '{"format":"other/9"}');
  const { store, changes } = makeStore([a, b, path.join(a, 'missing-root')]);
  await store.refresh();
  // Newest id first: 20261126 > 20261125.
  assert.deepEqual(
    store.runs().map((r) => r.id),
    ['20261126-090000-grpo-0001', ID],
  );
  assert.equal(changes.filter((c) => c.kind === 'added').length, 2);
  assert.match(store.invalidRuns.get(path.join(a, 'wrong-format')) ?? '', /format is "other\/9"/);
  assert.equal(store.getByDir(path.join(a, ID))?.id, ID);
  store.dispose();
});

test('runs grouped one level down (an experiment folder) are found; deeper ones and runs inside runs are not', async () => {
  const root = tempDir();
  const grouped = '20261125-150000-grpo-seed0-0001';
  writeRunJson(path.join(root, 'comparison', grouped), { id: grouped, algorithm: 'grpo' });
  fs.mkdirSync(path.join(root, 'comparison', 'report'));
  writeRunJson(path.join(root, 'a', 'b', '20261125-150000-deep-0002'), { id: '20261125-150000-deep-0002' });
  writeRunJson(path.join(root, ID), { id: ID });
  writeRunJson(path.join(root, ID, 'nested-0003'), { id: '20261125-150000-nested-0003' });
  const { store } = makeStore([root]);
  await store.refresh();
  assert.deepEqual(
    store
      .runs()
      .map((r) => r.id)
      .sort(),
    [ID, grouped].sort(),
  );
  assert.equal(store.getByDir(path.join(root, 'comparison', grouped))?.id, grouped);
  fs.rmSync(path.join(root, 'comparison'), { recursive: true });
  await store.refresh();
  assert.deepEqual(
    store.runs().map((r) => r.id),
    [ID],
  );
  store.dispose();
});

test('tails events incrementally: state, torn last line, malformed and unknown lines counted', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID });
  append(
    dir,
    E.runStarted(1000, 10) +
      E.metrics(1010, 1, { 'reward/mean': 0.25, 'loss/total': 2 }) +
      'this is not json\n' +
      JSON.stringify({ v: 1, type: 'future_event', time: 1, step: null }) +
      '\n' +
      E.prefix(1011, 1, [0, 0, 1, 3]) +
      E.rollouts(1011, 1, 16) +
      E.metrics(1020, 2, { 'reward/mean': 0.5, 'loss/total': 1.5 }) +
      '{"v":1,"type":"metrics","time":1030,"st', // torn: the writer is mid-line
  );
  const { store, changes } = makeStore([root]);
  await store.refresh();
  let run = store.get(ID)!;
  assert.equal(run.step, 2);
  assert.equal(run.totalSteps, 10);
  assert.equal(run.lastReward, 0.5);
  assert.deepEqual([...run.metrics.get('loss/total')!.values()], [2, 1.5]);
  assert.deepEqual([...run.metrics.get('loss/total')!.steps()], [1, 2]);
  assert.deepEqual(run.skipped, { malformed: 1, unknown: 1, badValues: 0, torn: 0 }); // the torn line is held back, not counted
  // Levels [0,0,1,3] over 4 prompts: level 0 = 2/4, level 1 = 1/4, level 2 = 0, level 3 = 1/4.
  assert.deepEqual(run.prefixSteps[0].levelShares, [0.5, 0.25, 0, 0.25]);
  assert.equal(run.rolloutFiles[0].file, path.join(dir, 'rollouts', '000001.jsonl'));
  const bytesAfterFirst = run.bytesRead;

  // The writer finishes the torn line and adds more; only the new bytes are read.
  changes.length = 0;
  fs.mkdirSync(path.join(dir, 'checkpoints', '000003'), { recursive: true }); // the checkpoint's folder, on disk
  append(
    dir,
    'ep":3,"values":{"reward/mean":0.75}}\n' +
      E.evalEv(1040, 3, { easy: 0.8, hard: 0.2 }) +
      E.checkpoint(1041, 3) +
      E.evalEv(1050, 4, { easy: 0.9, hard: 0.1 }) +
      E.heartbeat(1055, 4),
  );
  await store.refresh();
  run = store.get(ID)!;
  assert.equal(run.step, 3);
  assert.equal(run.lastReward, 0.75);
  assert.ok(run.bytesRead > bytesAfterFirst);
  assert.equal(run.bytesRead, fs.statSync(path.join(dir, 'events.jsonl')).size);
  const updated = changes.filter((c) => c.kind === 'updated');
  assert.equal(updated.length, 1);
  assert.deepEqual(updated[0].kind === 'updated' && updated[0].events.map((e) => e.type), ['metrics', 'eval', 'checkpoint', 'eval', 'heartbeat']);
  // Averages: step 3 (0.8+0.2)/2 = 0.5, step 4 (0.9+0.1)/2 = 0.5; the first best is kept.
  assert.deepEqual(bestEvalAverage(run), { average: 0.5, step: 3 });
  assert.equal(run.checkpoints[0].dir, path.join(dir, 'checkpoints', '000003'));
  assert.deepEqual(run.lastHeartbeat, { time: 1055, phase: 'train' });
  store.dispose();
});

test('non-finite values are kept as data, a NaN loss is marked, a bad value costs only itself; a finished run counts its torn last line', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, status: 'finished' });
  append(
    dir,
    E.runStarted(1000, 10) +
      ev('metrics', 1010, 1, { values: { 'loss/total': 'NaN', 'reward/mean': 0.5, 'perf/step_s': null } }) +
      ev('metrics', 1020, 2, { values: { 'loss/total': 1, 'reward/mean': 'Infinity', 'perf/step_s': 0.1 } }) +
      ev('metrics', 1030, 3, { values: { 'loss/total': '-Infinity' } }) +
      '{"v":1,"type":"metrics","time":1040,"st',
  );
  const { store } = makeStore([root]);
  await store.refresh();
  const run = store.get(ID)!;
  assert.deepEqual([...run.metrics.get('loss/total')!.values()], [Number.NaN, 1, Number.NEGATIVE_INFINITY]);
  assert.deepEqual([...run.metrics.get('reward/mean')!.steps()], [1, 2], 'a line keeps its good values');
  assert.deepEqual([...run.metrics.get('perf/step_s')!.steps()], [2], 'null is left out of step 1, not the whole line');
  assert.equal(run.nonFiniteValues, 3);
  assert.deepEqual(run.nonFiniteLoss, { step: 1, metric: 'loss/total', value: 'NaN' });
  assert.deepEqual(run.skipped, { malformed: 0, unknown: 0, badValues: 1, torn: 1 }, "the finished run's torn last line counts");
  // The dashboard's run list says the same.
  const source = runStoreSource(store);
  const summary = source.listRuns()[0];
  assert.deepEqual(summary.skipped, { malformed: 0, unknown: 0, badValues: 1, torn: 1 });
  assert.equal(summary.anomaly, 'loss/total NaN at step 1');
  store.dispose();
});

test("the dashboard's run list follows every step of a live run, not only status changes", async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID });
  append(dir, E.runStarted(1000, 10) + E.metrics(1010, 1, { 'loss/total': 1 }));
  const { store } = makeStore([root]);
  const source = runStoreSource(store);
  const seen: { runId?: string }[] = [];
  source.onDidChange((c) => seen.push(c));
  await store.refresh();
  seen.length = 0;
  append(dir, E.metrics(1020, 2, { 'loss/total': 0.9 }));
  await store.refresh();
  assert.deepEqual(seen, [{ runId: ID }, {}], 'new data and a new run list entry (step 2)');
  assert.equal(source.listRuns()[0].step, 2);
  seen.length = 0;
  append(dir, E.heartbeat(1025, 2));
  await store.refresh();
  assert.deepEqual(seen, [{ runId: ID }], 'a heartbeat changes no label: no run list');
  store.dispose();
});

test('checkpoints pruned or deleted leave the list; Resume continues from the newest one with trainer state', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, status: 'stopped' });
  append(dir, E.runStarted(1000, 20) + E.checkpoint(1005, 5) + E.checkpoint(1010, 10) + E.checkpoint(1015, 15));
  const ckpt = (step: number) => path.join(dir, 'checkpoints', String(step).padStart(6, '0'));
  for (const step of [5, 10, 15]) fs.mkdirSync(ckpt(step), { recursive: true });
  for (const step of [5, 10]) fs.writeFileSync(path.join(ckpt(step), 'trainer_state.pt'), 'state');
  const { store } = makeStore([root]);
  await store.refresh();
  const steps = () => store.get(ID)!.checkpoints.map((c) => c.step);
  assert.deepEqual(steps(), [5, 10, 15]);
  assert.equal(store.get(ID)!.resumeStep, 10, 'step 15 has no trainer state: the trainer could not resume from it');
  // keep_last pruned step 5; a save in progress is a temp folder, not a checkpoint.
  fs.rmSync(ckpt(5), { recursive: true });
  fs.mkdirSync(path.join(dir, 'checkpoints', '.000020.tmp-123'));
  await store.refresh();
  assert.deepEqual(steps(), [10, 15]);
  assert.equal(store.get(ID)!.resumeStep, 10);
  fs.rmSync(path.join(dir, 'checkpoints'), { recursive: true });
  await store.refresh();
  assert.deepEqual(steps(), []);
  assert.equal(store.get(ID)!.resumeStep, null, 'no checkpoint: a Resume starts over');
  store.dispose();
});

test('a run.json that turns invalid makes the run an invalid run with the reason, until it is fixed', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID });
  append(dir, E.runStarted(1000, 20) + E.metrics(1010, 1, { 'loss/total': 1 }));
  const { store, changes } = makeStore([root]);
  let invalidChanges = 0;
  store.onDidChangeInvalidRuns(() => invalidChanges++);
  await store.refresh();
  assert.deepEqual(
    store.runs().map((r) => r.id),
    [ID],
  );
  const good = fs.readFileSync(path.join(dir, 'run.json'), 'utf8');
  fs.writeFileSync(path.join(dir, 'run.json'), '{"format": "trapo-run/1", garbage');
  await store.refresh();
  assert.deepEqual(store.runs(), [], 'not kept with its old information');
  assert.match(store.invalidRuns.get(dir) ?? '', /run\.json: not valid JSON/, 'not hidden: the reason is there');
  assert.ok(changes.some((c) => c.kind === 'removed'));
  assert.equal(invalidChanges, 1);
  // A reload (a fresh store) shows the same.
  const fresh = makeStore([root]).store;
  await fresh.refresh();
  assert.deepEqual([fresh.runs().length, [...fresh.invalidRuns.keys()]], [0, [dir]]);
  fresh.dispose();
  fs.writeFileSync(path.join(dir, 'run.json'), good);
  await store.refresh();
  assert.deepEqual(
    store.runs().map((r) => r.id),
    [ID],
  );
  assert.equal(store.invalidRuns.size, 0);
  assert.equal(invalidChanges, 2);
  assert.equal(store.get(ID)!.step, 1);
  store.dispose();
});

test('ETA from the median step time', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID });
  // Steps 1..4 at 1000, 1010, 1030, 1040: intervals 10, 20, 10 s -> median 10 s/step; 6 steps left of 10 -> 60 s.
  append(dir, E.runStarted(990, 10) + [1000, 1010, 1030, 1040].map((t, i) => E.metrics(t, i + 1, { 'x/y': 1 })).join(''));
  const { store } = makeStore([root], fakeProbe(1045));
  await store.refresh();
  assert.equal(etaSeconds(store.get(ID)!), 60);
  store.dispose();
});

test('run_finished is believed before run.json is rewritten; status changes are reported', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID });
  append(dir, E.runStarted(1000, 2));
  const { store, changes } = makeStore([root]);
  await store.refresh();
  assert.equal(store.get(ID)!.status, 'running');
  append(dir, E.finished(1010, 'stopped', 1));
  await store.refresh();
  assert.equal(store.get(ID)!.status, 'stopped');
  const change = changes.at(-1)!;
  assert.deepEqual(change.kind === 'updated' && change.statusChange, { from: 'running', to: 'stopped' });
  store.dispose();
});

test('a running run whose pid died on this host is crashed; a resume brings it back', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, pid: 4242 });
  append(dir, E.runStarted(1000, 10) + E.metrics(1010, 5, { 'reward/mean': 0.1 }));
  const probe = fakeProbe(1020, [4242]);
  const { store, changes } = makeStore([root], probe);
  await store.refresh();
  assert.equal(store.get(ID)!.status, 'running');
  probe.alive.length = 0; // SIGKILL
  await store.refresh();
  const run = store.get(ID)!;
  assert.equal(run.status, 'crashed');
  assert.equal(run.crash.crashed && run.crash.reason, 'pid-dead');
  const last = changes.at(-1)!;
  assert.deepEqual(last.kind === 'updated' && last.statusChange, { from: 'running', to: 'crashed' });
  // Resume: a new process rewrites run.json and appends run_started with resumed_from_step.
  probe.alive.push(5151);
  writeRunJson(dir, { id: ID, pid: 5151, updated_at: 1100 });
  append(dir, E.runStarted(1100, 10, 4));
  await store.refresh();
  assert.equal(store.get(ID)!.status, 'running');
  assert.equal(store.get(ID)!.step, 4); // back to the checkpoint's step
  store.dispose();
});

test('a run on another host is crashed when its heartbeat is older than the threshold (fake clock)', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, host: 'cluster-node-3', created_at: 900, updated_at: 900 });
  append(dir, E.runStarted(1000, 10) + E.heartbeat(1050, 0));
  const probe = fakeProbe(1050 + 100);
  const { store } = makeStore([root], probe);
  await store.refresh();
  assert.equal(store.get(ID)!.status, 'running'); // 100 s <= 120 s
  probe.clock.t = 1050 + 121; // 121 s > 120 s
  await store.refresh();
  assert.equal(store.get(ID)!.status, 'crashed');
  append(dir, E.heartbeat(1170, 0)); // it was only slow
  await store.refresh();
  assert.equal(store.get(ID)!.status, 'running');
  store.dispose();
});

test('a large file is read in slices, yielding to the event loop between them', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID });
  let text = E.runStarted(0, 5000);
  for (let s = 1; s <= 5000; s++) text += E.metrics(s, s, { 'loss/total': s / 2, 'reward/mean': 1 / s });
  append(dir, text);
  const size = fs.statSync(path.join(dir, 'events.jsonl')).size;
  const { store, changes } = makeStore([root], fakeProbe(5001), { maxBytesPerSlice: 16 * 1024 });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  await store.refresh();
  clearInterval(timer);
  const run = store.get(ID)!;
  assert.equal(run.metrics.get('loss/total')!.length, 5000);
  assert.equal(run.metrics.get('loss/total')!.values()[4999], 2500); // 5000 / 2
  assert.equal(run.bytesRead, size);
  const slices = Math.ceil(size / (16 * 1024));
  assert.ok(changes.filter((c) => c.kind === 'updated').length >= slices - 1, 'progress reported per slice');
  assert.ok(ticks > 0, 'timers ran while the file was read');
  assert.equal(run.loading, false);
  store.dispose();
});

test('a truncated or replaced events file is read again from the start', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID });
  append(dir, E.metrics(1, 1, { 'a/b': 1 }) + E.metrics(2, 2, { 'a/b': 2 }));
  const { store } = makeStore([root], fakeProbe(3));
  await store.refresh();
  assert.equal(store.get(ID)!.metrics.get('a/b')!.length, 2);
  fs.writeFileSync(path.join(dir, 'events.jsonl'), E.metrics(1, 1, { 'a/b': 7 }));
  await store.refresh();
  assert.deepEqual([...store.get(ID)!.metrics.get('a/b')!.values()], [7]);
  store.dispose();
});

test('prefix allocations are bounded to the newest steps', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID });
  let text = '';
  for (let s = 1; s <= 12; s++) text += E.prefix(s, s, [0, 1]);
  append(dir, text);
  const { store } = makeStore([root], fakeProbe(20), { maxPrefixSteps: 5 });
  await store.refresh();
  assert.deepEqual(
    store.get(ID)!.prefixSteps.map((p) => p.step),
    [8, 9, 10, 11, 12],
  );
  store.dispose();
});

test('a deleted run folder is removed', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID });
  const { store, changes } = makeStore([root]);
  await store.refresh();
  fs.rmSync(dir, { recursive: true });
  await store.refresh();
  assert.equal(store.runs().length, 0);
  assert.deepEqual(changes.at(-1), { kind: 'removed', id: ID, dir });
  store.dispose();
});

test('with fs.watch, a run appearing and an appended line are seen without refresh()', async () => {
  const root = tempDir();
  const { store } = makeStore([root], fakeProbe(), { watch: true, pollIntervalMs: 60_000, scanIntervalMs: 60_000 });
  await store.start();
  const seen = (pred: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const t0 = Date.now();
      const check = () => (pred() ? resolve() : Date.now() - t0 > 3000 ? reject(new Error('not seen in 3 s')) : setTimeout(check, 10));
      check();
    });
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID });
  await seen(() => store.get(ID) !== undefined);
  append(dir, E.metrics(1, 7, { 'reward/mean': 0.5 }));
  await seen(() => store.get(ID)!.step === 7);
  store.dispose();
});

test('levelShares of no prompts is empty', () => {
  assert.deepEqual(levelShares([]), []);
});

test('fixture runs written by the Python writer load with their statuses', async () => {
  const fixtures = path.join(__dirname, '..', 'fixtures', 'runs');
  // Fixture runs are from 2026-11-18 on 'fixture-host' (not this host): heartbeats are days old.
  const { store } = makeStore([fixtures], fakeProbe(Date.UTC(2026, 10, 25) / 1000, []));
  await store.refresh();
  const byName = Object.fromEntries(store.runs().map((r) => [r.id.split('-').slice(3, -1).join('-'), r]));
  assert.deepEqual(Object.keys(byName).sort(), ['crashed', 'failed', 'grpo', 'trapo']);
  assert.equal(byName.trapo.status, 'finished');
  assert.equal(byName.grpo.status, 'finished');
  assert.equal(byName.failed.status, 'failed');
  assert.equal(byName.failed.finished?.error?.type, 'RuntimeError');
  // run.json still says running, the writer was killed mid-line: a stale heartbeat makes it crashed.
  assert.equal(byName.crashed.info.status, 'running');
  assert.equal(byName.crashed.status, 'crashed');
  assert.equal(byName.crashed.crash.crashed && byName.crashed.crash.reason, 'heartbeat-stale');
  const trapo = byName.trapo;
  assert.equal(trapo.step, 20);
  assert.equal(trapo.totalSteps, 20);
  assert.equal(trapo.lastReward, 0.78125);
  assert.equal(trapo.metrics.get('reward/mean')!.length, 20);
  assert.equal(trapo.prefixSteps.length, 20);
  assert.equal(trapo.rolloutFiles.length, 20);
  assert.deepEqual(
    trapo.evals.map((e) => e.step),
    [5, 10, 15, 20],
  );
  assert.deepEqual(
    trapo.checkpoints.map((c) => path.basename(c.dir)),
    ['000005', '000010', '000015', '000020'],
  );
  assert.deepEqual(bestEvalAverage(trapo), { average: 0.75, step: 20 });
  // The failed run diverged: the Python writer wrote its last loss as "NaN" and its gradient norm as "Infinity".
  const failedLoss = byName.failed.metrics.get('loss/total')!;
  assert.ok(Number.isNaN(failedLoss.last()!.value));
  assert.equal(byName.failed.metrics.get('optim/grad_norm')!.last()!.value, Number.POSITIVE_INFINITY);
  assert.equal(failedLoss.length, 5, 'the line with the NaN is kept');
  assert.deepEqual(byName.failed.nonFiniteLoss, { step: 5, metric: 'loss/total', value: 'NaN' });
  assert.equal(byName.failed.nonFiniteValues, 2);
  for (const run of store.runs()) {
    assert.equal(run.skipped.malformed, 0, `${run.id}: malformed lines`);
    assert.equal(run.skipped.badValues, 0, `${run.id}: unreadable values`);
    // The crashed run's torn last line is held back but consumed: bytesRead reaches the end of every file; as the
    // run is no longer running (crashed), it counts as torn.
    assert.equal(run.bytesRead, fs.statSync(path.join(run.dir, 'events.jsonl')).size, `${run.id}: read to the end`);
    assert.equal(run.skipped.torn, run === byName.crashed ? 1 : 0, `${run.id}: torn last line`);
  }
  store.dispose();
});

test('prefix steps are stored compactly and read back as the event had them', async () => {
  const { PrefixStep } = await import('../../src/core/runStore');
  const prompts = [
    {
      prompt_id: 'p0',
      level: 2,
      stages: [
        { n: 4, ratio: 0, guided: false, correct: 1, correct_before: 0 },
        { n: 2, ratio: 0.25, guided: true, correct: 0, correct_before: 1 },
        { n: 1, ratio: 0.3, guided: true, correct: 1, correct_before: 1 },
      ],
    },
    { prompt_id: 'p1', level: 0, stages: [{ n: 8, ratio: 0, guided: false, correct: 8, correct_before: 0 }] },
  ];
  const p = new PrefixStep(7, 123.5, prompts);
  assert.deepEqual(p.prompts, prompts); // 0.3 survives float32 storage through the 6-digit rounding
  assert.equal(p.promptCount, 2);
  assert.equal(p.guidedCount, 1);
  assert.deepEqual(p.levelShares, [0.5, 0, 0.5]); // levels 2 and 0 of 2 prompts
  assert.deepEqual(new PrefixStep(1, 0, []).prompts, []);
});
