// A run's preparation before its first step (trainer `phase` events) in the run store, and how the Runs tree and the
// status bar word it: "preparing 40%" until run_started, then step/total again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { RunStore } from '../../src/core/runStore';
import { phaseLabel, preparingDetail, preparingOf, preparingText } from '../../src/core/preparing';
import { PREPARE_PHASES, PhaseEvent } from '../../src/core/runFormat';
import { installVscodeStub } from '../helpers/vscodeStub';
import { append, ev, events as E, tempDir, writeRunJson } from '../helpers/runDir';

const ID = '20261125-142501-demo-3f9a';
const phase = (time: number, name: string, fraction: number | null, message = '') => ev('phase', time, null, { phase: name, fraction, message });

test('phase events make a running run "preparing" until run_started; a resume prepares again', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, total_steps: 250 });
  append(dir, phase(1000, 'load_model', null, 'loading model tiny'));
  const probe = { now: () => 1010, hostname: 'test-host', isPidAlive: () => true };
  const store = new RunStore({ roots: [root], crashProbe: probe, watch: false });
  await store.refresh();
  const run = () => store.get(ID)!;
  assert.equal(run().preparing?.phase, 'load_model');
  assert.equal(preparingText(preparingOf(run())!), 'preparing');
  append(dir, phase(1001, 'warmup', 0.4, 'step 600 of at most 1500'));
  await store.pollRun(ID);
  assert.equal(preparingText(preparingOf(run())!), 'preparing 40%');
  assert.equal(run().lastEventTime, 1001, 'a phase event is a sign of life');
  append(dir, E.runStarted(1002, 250) + E.metrics(1003, 1, { 'reward/mean': 0.5 }));
  await store.pollRun(ID);
  assert.equal(run().preparing, null);
  assert.equal(run().step, 1);
  // A resume: preparing again, then run_started.
  append(dir, E.finished(1004, 'stopped', 1) + phase(1010, 'load_model', null));
  await store.pollRun(ID);
  assert.equal(run().preparing?.phase, 'load_model');
  append(dir, E.finished(1011, 'failed', 1));
  await store.pollRun(ID);
  assert.equal(run().preparing, null, 'a run that ends during its preparation is not preparing');
  store.dispose();
});

test('preparingOf: only a running run is preparing', () => {
  const p = { type: 'phase', v: 1, time: 1, step: null, phase: 'warmup', fraction: 0.999, message: 'm' } as PhaseEvent;
  assert.equal(preparingOf({ status: 'running', preparing: p }), p);
  assert.equal(preparingOf({ status: 'crashed', preparing: p }), null);
  assert.equal(preparingText(p), 'preparing 99%', 'never rounds up to 100% before it is done');
  assert.equal(preparingDetail(p), 'warming up the tiny model: m');
  for (const name of PREPARE_PHASES) assert.ok(phaseLabel(name).length > 0);
});

test('the Runs tree and the status bar show "preparing 40%" instead of 0/250', async () => {
  installVscodeStub();
  const { stepText, RunNode } = await import('../../src/trees/runsTree');
  const { statusBarText } = await import('../../src/runs/statusBar');
  const preparing = { type: 'phase', v: 1, time: 1, step: null, phase: 'warmup', fraction: 0.4, message: 'step 600' } as PhaseEvent;
  const run = {
    id: ID,
    dir: '/runs/x',
    status: 'running',
    info: { name: 'demo', algorithm: 'trapo', device: 'cpu', world_size: 1, host: 'h' },
    crash: { crashed: false },
    step: null,
    totalSteps: 250,
    lastReward: null,
    evals: [],
    skipped: { malformed: 0, unknown: 0, badValues: 0, torn: 0 },
    runStarted: null,
    finished: null,
    stepClock: { etaSeconds: () => null },
    preparing,
    anomalies: [],
    nonFiniteLoss: null,
    checkpoints: [],
    resumeStep: null,
  };
  assert.equal(stepText(run as never), 'preparing 40%');
  assert.match(String(new RunNode(run as never).description), /^trapo · preparing 40%$/);
  assert.equal(statusBarText(run as never), '$(loading~spin) TRAPO preparing 40%');
  const started = { ...run, preparing: null, step: 3 };
  assert.equal(stepText(started as never), '3/250');
  assert.match(statusBarText(started as never), /TRAPO 3\/250/);
});
