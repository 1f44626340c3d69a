// The NaN / infinite loss warning (src/core/lossWarning.ts, shown by src/runs/notifications.ts): a run seen live and
// running is warned about once; a run that had diverged before the window opened, or that is not running, is not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { RunChange, RunState, RunStore } from '../../src/core/runStore';
import { NonFiniteLossWatch } from '../../src/core/lossWarning';
import { append, ev, events as E, tempDir, writeRunJson } from '../helpers/runDir';

const ID = '20261125-142501-demo-3f9a';

function watched(root: string, alive = true): { store: RunStore; warned: string[] } {
  const store = new RunStore({ roots: [root], crashProbe: { now: () => 1100, hostname: 'test-host', isPidAlive: () => alive }, watch: false });
  const watch = new NonFiniteLossWatch();
  const warned: string[] = [];
  store.onDidChange((c: RunChange) => {
    const run = watch.warn(c);
    if (run) warned.push(`${run.id} ${run.nonFiniteLoss!.metric}=${run.nonFiniteLoss!.value}@${run.nonFiniteLoss!.step}`);
  });
  return { store, warned };
}

const nanLoss = (time: number, step: number, token = 'NaN') => ev('metrics', time, step, { values: { 'loss/total': token } });

test('a loss that turns NaN while the window watches a running run is warned about once', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, total_steps: 50 });
  append(dir, E.runStarted(1000, 50) + E.metrics(1001, 1, { 'loss/total': 1 }));
  const { store, warned } = watched(root);
  await store.refresh();
  assert.equal(store.get(ID)!.status, 'running');
  assert.deepEqual(warned, [], 'a finite history: nothing to say');
  append(dir, nanLoss(1002, 2));
  await store.refresh();
  assert.deepEqual(warned, [`${ID} loss/total=NaN@2`]);
  append(dir, nanLoss(1003, 3, 'Infinity') + E.metrics(1004, 4, { 'loss/total': 1 }) + nanLoss(1005, 5));
  await store.refresh();
  assert.equal(warned.length, 1, 'once per run');
  store.dispose();
});

test('a run that had diverged before the window opened is not announced, not even by its next lines', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, total_steps: 50 });
  append(dir, E.runStarted(1000, 50) + nanLoss(1001, 1, '-Infinity'));
  const { store, warned } = watched(root);
  await store.refresh();
  assert.deepEqual(store.get(ID)!.nonFiniteLoss, { step: 1, metric: 'loss/total', value: '-Infinity' });
  append(dir, nanLoss(1002, 2));
  await store.refresh();
  assert.deepEqual(warned, []);
  store.dispose();
});

test('a run that is not running (its process is gone) is not warned about', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, total_steps: 50 });
  append(dir, E.runStarted(1000, 50) + E.metrics(1001, 1, { 'loss/total': 1 }));
  const { store, warned } = watched(root, false);
  await store.refresh();
  assert.equal(store.get(ID)!.status, 'crashed');
  append(dir, nanLoss(1002, 2));
  await store.refresh();
  assert.ok(store.get(ID)!.nonFiniteLoss, 'the store saw the NaN');
  assert.deepEqual(warned, []);
  store.dispose();
});

test('a run removed and seen again starts afresh: its history is its past again', () => {
  const watch = new NonFiniteLossWatch();
  const run = { id: ID, loading: false, status: 'running', nonFiniteLoss: { step: 2, metric: 'loss/total', value: 'NaN' } } as unknown as RunState;
  assert.equal(watch.warn({ kind: 'added', run }), undefined, 'an added run is its first read');
  assert.equal(watch.warn({ kind: 'updated', run, events: [] }), undefined, 'the update that completes its first read');
  watch.warn({ kind: 'removed', id: ID, dir: '/x' });
  const loading = { ...run, loading: true, nonFiniteLoss: null } as RunState;
  assert.equal(watch.warn({ kind: 'added', run: loading }), undefined);
  assert.equal(watch.warn({ kind: 'updated', run: { ...loading, loading: false }, events: [] }), undefined, 'first read complete, finite');
  assert.equal(watch.warn({ kind: 'updated', run, events: [] }), run, 'the NaN came live: warned');
  assert.equal(watch.warn({ kind: 'updated', run, events: [] }), undefined, 'once');
});
