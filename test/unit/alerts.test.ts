// Health alerts in the extension: the run store keeps the trainer's anomaly events; alerts in a run's history are
// marked, not notified; alerts that arrive while the window watches are notified once; a resume drops the alerts of
// the steps it runs again; the Runs tree marks the run (the failed fixture has a non-finite loss).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { RunChange, RunStore } from '../../src/core/runStore';
import { AlertWatch, alertLines, alertMark } from '../../src/core/alerts';
import { append, events as E, tempDir, writeRunJson } from '../helpers/runDir';
import { installVscodeStub } from '../helpers/vscodeStub';

const ID = '20261125-142501-demo-3f9a';
const probe = { now: () => 1100, hostname: 'test-host', isPidAlive: () => true };

test('history alerts are marked, live ones notified once; a resume drops the alerts it runs again', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, total_steps: 50 });
  append(dir, E.runStarted(1000, 50) + E.metrics(1001, 1, { 'loss/total': 1 }) + E.anomaly(1002, 1, 'length_limit', 'answers at the length limit: 95%'));
  const store = new RunStore({ roots: [root], crashProbe: probe, watch: false });
  const watch = new AlertWatch();
  const live: string[][] = [];
  store.onDidChange((c: RunChange) => {
    const got = watch.live(c);
    if (got) live.push(got.anomalies.map((a) => a.kind));
  });
  await store.refresh();
  const run = store.get(ID)!;
  assert.equal(run.anomalies.length, 1);
  assert.deepEqual(live, []); // the run's past: marked only
  assert.equal(alertMark(run.anomalies), '⚠ answers at the length limit');
  append(
    dir,
    E.metrics(1003, 2, { 'loss/total': 1 }) +
      E.anomaly(1004, 2, 'entropy_collapse', 'policy entropy collapsed') +
      E.anomaly(1004, 2, 'non_finite_loss', 'non-finite values: loss/total = nan'),
  );
  await store.refresh();
  assert.deepEqual(live, [['entropy_collapse', 'non_finite_loss']]);
  assert.equal(alertMark(run.anomalies), '⚠ 3 alerts');
  assert.deepEqual(alertLines(run.anomalies)[1], 'step 2: policy entropy collapsed');
  await store.refresh(); // nothing new: nothing notified again
  assert.equal(live.length, 1);
  // resumed from the checkpoint of step 1: step 2 runs again, its alerts go
  append(dir, E.runStarted(1100, 50, 1));
  await store.refresh();
  assert.deepEqual(
    store.get(ID)!.anomalies.map((a) => a.step),
    [1],
  );
  store.dispose();
});

test('the Runs tree marks a run with alerts and lists them in its tooltip', async () => {
  installVscodeStub();
  const { RunsTreeProvider } = await import('../../src/trees/runsTree');
  const fixtures = path.join(__dirname, '..', 'fixtures', 'runs');
  const store = new RunStore({
    roots: [fixtures],
    crashProbe: { now: () => Date.UTC(2026, 10, 25) / 1000, hostname: 'x', isPidAlive: () => false },
    watch: false,
  });
  await store.refresh();
  const nodes = new RunsTreeProvider(store).getChildren() as { runId?: string; description?: string; tooltip?: { value: string } }[];
  const failed = nodes.find((n) => n.runId?.includes('failed'))!;
  assert.match(String(failed.description), /· ⚠ non-finite loss$/);
  assert.match(failed.tooltip!.value.replace(/\\/g, ''), /\*\*Alert:\*\* step 5: non-finite values: loss\/total = nan/);
  const trapo = nodes.find((n) => n.runId?.includes('fixture-trapo'))!;
  assert.doesNotMatch(String(trapo.description), /⚠/);
  store.dispose();
});
