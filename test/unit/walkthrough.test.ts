// The walkthrough's steps complete on what the user really did (src/walkthrough.ts, src/core/walkthroughSteps.ts):
// which document is a rollout, which tab is our panel, and each step's context key set once, when a run is running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { isPanelViewType, isRolloutLocation } from '../../src/core/walkthroughSteps';
import { RunStore } from '../../src/core/runStore';
import { append, events as E, tempDir, writeRunJson } from '../helpers/runDir';
import { commands, fakeContext, installVscodeStub } from '../helpers/vscodeStub';

test("a rollout is a trapo-rollout document or a run's rollouts/<step>.jsonl file, nothing else", () => {
  const yes = [
    { scheme: 'trapo-rollout', path: '/demo/step 12/p3 · sample 1' },
    { scheme: 'file', path: '/ws/runs/20261118-080000-demo-a001/rollouts/000012.jsonl' },
    { scheme: 'file', path: 'C:\\ws\\runs\\r\\rollouts\\000001.jsonl' },
  ];
  const no = [
    { scheme: 'file', path: '/ws/runs/r/rollouts/000012.jsonl.tmp' },
    { scheme: 'file', path: '/ws/runs/r/rollouts/latest.jsonl' },
    { scheme: 'file', path: '/ws/runs/r/evals/000012/ops1.jsonl' },
    { scheme: 'file', path: '/ws/runs/r/events.jsonl' },
    { scheme: 'git', path: '/ws/runs/r/rollouts/000012.jsonl' },
    { scheme: 'untitled', path: 'Untitled-1' },
  ];
  for (const uri of yes) assert.ok(isRolloutLocation(uri), JSON.stringify(uri));
  for (const uri of no) assert.ok(!isRolloutLocation(uri), JSON.stringify(uri));
});

test("a tab is our panel when its view type is ours, with or without VS Code's prefix", () => {
  assert.ok(isPanelViewType('trapo.dashboard', 'trapo.dashboard'));
  assert.ok(isPanelViewType('mainThreadWebview-trapo.dashboard', 'trapo.dashboard'));
  assert.ok(isPanelViewType('mainThreadWebview-trapo.compare', 'trapo.compare'));
  assert.ok(!isPanelViewType('mainThreadWebview-trapo.compare', 'trapo.dashboard'));
  assert.ok(!isPanelViewType('mainThreadWebview-trapo.dashboardHistory', 'trapo.dashboard'));
  assert.ok(!isPanelViewType('mainThreadWebview-othertrapo.dashboard', 'trapo.dashboard'));
  assert.ok(!isPanelViewType('trapo.rolloutTable', 'trapo.dashboard'));
});

test('a running run completes "start a run"; a step\'s context key is set and the step marked complete once; the rollout scheme is the documents\'', async () => {
  installVscodeStub();
  const calls: unknown[][] = [];
  (commands as Record<string, unknown>).executeCommand = async (...args: unknown[]) => void calls.push(args);
  const { WALKTHROUGH_KEYS, registerWalkthrough, walkthroughDone } = await import('../../src/walkthrough');
  const { ROLLOUT_SCHEME } = await import('../../src/rollouts/rolloutUri');
  assert.equal(ROLLOUT_SCHEME, 'trapo-rollout');
  const root = tempDir();
  const id = '20261125-142501-demo-3f9a';
  writeRunJson(path.join(root, id), { id, status: 'finished', pid: null });
  append(path.join(root, id), E.runStarted(1000, 50));
  const store = new RunStore({ roots: [root], crashProbe: { now: () => 1100, hostname: 'test-host', isPidAlive: () => true }, watch: false });
  const context = fakeContext(tempDir());
  registerWalkthrough(context as never, store);
  const started = () => calls.filter((c) => c[0] === 'setContext' && c[1] === WALKTHROUGH_KEYS.startRun);
  await store.refresh();
  assert.equal(store.get(id)!.status, 'finished');
  assert.deepEqual(started(), [], 'a finished run is not the user starting one');
  writeRunJson(path.join(root, id), { id, status: 'running', updated_at: 1090 });
  append(path.join(root, id), E.heartbeat(1095, null));
  await store.refresh();
  assert.equal(store.get(id)!.status, 'running');
  assert.deepEqual(started(), [['setContext', WALKTHROUGH_KEYS.startRun, true]]);
  walkthroughDone('startRun');
  walkthroughDone('dashboard');
  walkthroughDone('dashboard');
  assert.equal(started().length, 1, 'once per window');
  assert.equal(calls.filter((c) => c[1] === WALKTHROUGH_KEYS.dashboard).length, 1);
  // Each step is also completed directly (VS Code 1.100 ignores a key already true when it registers the step).
  assert.deepEqual(
    calls.filter((c) => c[0] === 'welcome.markStepComplete'),
    [
      ['welcome.markStepComplete', 'trapo-lab.trapo#trapo.gettingStarted#startRun'],
      ['welcome.markStepComplete', 'trapo-lab.trapo#trapo.gettingStarted#dashboard'],
    ],
  );
  for (const d of context.subscriptions) d.dispose();
  store.dispose();
});
