// The three tree providers over the fixture runs (vscode stubbed): node kinds, order, labels and contextValues.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { installVscodeStub } from '../helpers/vscodeStub';
import { RunStore } from '../../src/core/runStore';
import { RunSelection } from '../../src/services';

installVscodeStub();
const fixtures = path.join(__dirname, '..', 'fixtures', 'runs');
const TRAPO = '20261118-080000-fixture-trapo-a001';
const GRPO = '20261118-090000-fixture-grpo-a002';

async function fixtureStore() {
  const store = new RunStore({
    roots: [fixtures],
    crashProbe: { now: () => Date.UTC(2026, 10, 25) / 1000, hostname: 'test-host', isPidAlive: () => false },
    watch: false,
  });
  await store.refresh();
  return store;
}

test('Runs view: runs newest first with status, algorithm, step/total and best average; children by kind', async () => {
  const { RunsTreeProvider } = await import('../../src/trees/runsTree');
  const store = await fixtureStore();
  const tree = new RunsTreeProvider(store);
  const runs = tree.getChildren();
  assert.deepEqual(
    runs.map((r) => r.contextValue),
    ['run.failed', 'run.crashed', 'run.finished', 'run.finished'],
  );
  const trapo = runs.find((r) => (r as { runId?: string }).runId === TRAPO)!;
  // best eval average of the fixture: 0.75 at step 20
  assert.equal(trapo.description, 'trapo · 20/20 · best 75.0%');
  const children = tree.getChildren(trapo);
  assert.deepEqual(
    children.map((c) => c.label),
    ['Checkpoints', 'Rollouts', 'Evaluations', 'Config', 'Log'],
  );
  const checkpoints = tree.getChildren(children[0]);
  assert.deepEqual(
    checkpoints.map((c) => c.label),
    ['step 20', 'step 15', 'step 10', 'step 5'],
  );
  assert.equal(checkpoints[0].contextValue, 'checkpoint');
  assert.match(String(checkpoints[0].description), /^avg 75\.0%/); // the eval at the checkpoint's step
  const rollouts = tree.getChildren(children[1]);
  assert.equal(rollouts.length, 20);
  assert.equal(rollouts[0].label, 'step 20');
  const evals = tree.getChildren(children[2]);
  assert.deepEqual(
    evals.map((e) => e.label),
    ['step 20', 'step 15', 'step 10', 'step 5'],
  );
  const files = tree.getChildren(evals[0]);
  assert.deepEqual(
    files.map((f) => f.label),
    ['arith-easy', 'arith-medium', 'arith-hard'],
  );
  const open = files[0].command as { command: string; arguments: { fsPath: string }[] };
  assert.equal(open.command, 'vscode.open');
  assert.equal(open.arguments[0].fsPath, path.join(fixtures, TRAPO, 'evals', '000020', 'arith-easy.jsonl'));
  store.dispose();
});

test('Prefix Allocation view follows the selected run: steps newest first, prompts with stage decisions', async () => {
  const { PrefixTreeProvider } = await import('../../src/trees/prefixTree');
  const store = await fixtureStore();
  const selection = new RunSelection();
  const tree = new PrefixTreeProvider(store, selection);
  assert.deepEqual(tree.getChildren(), []); // nothing selected: the viewsWelcome text shows
  selection.set(TRAPO);
  const steps = tree.getChildren();
  assert.equal(steps.length, 20);
  assert.equal(steps[0].label, 'step 20');
  assert.match(String(steps[0].description), /^L0 \d+% · L1 \d+%/);
  const prompts = tree.getChildren(steps[0]);
  const run = store.get(TRAPO)!;
  const last = run.prefixSteps.at(-1)!;
  assert.equal(prompts.length, last.prompts.length);
  const p0 = last.prompts[0];
  const correct = p0.stages.reduce((a, s) => a + s.correct, 0);
  const n = p0.stages.reduce((a, s) => a + s.n, 0);
  assert.ok(String(prompts[0].description).startsWith(`L${p0.level} · ${correct}/${n} correct · `));
  const cmd = prompts[0].command as { command: string; arguments: unknown[] };
  assert.deepEqual(cmd, { command: 'trapo.openPromptRollouts', title: 'Open Rollouts', arguments: [TRAPO, 20, p0.prompt_id] });
  store.dispose();
});

test('Benchmarks view: latest, best with step and change; evaluations newest first open their results', async () => {
  const { BenchmarksTreeProvider } = await import('../../src/trees/benchmarksTree');
  const store = await fixtureStore();
  const selection = new RunSelection();
  selection.set(GRPO);
  const tree = new BenchmarksTreeProvider(store, selection);
  const benches = tree.getChildren();
  // arith-extra and the second average come from Evaluate Checkpoint (checkpoint_evals/ of the fixture)
  assert.deepEqual(
    benches.map((b) => b.label),
    ['arith-easy', 'arith-medium', 'arith-hard', 'arith-extra', 'Average', 'Average (Evaluate Checkpoint)'],
  );
  // grpo fixture arith-medium: 0.0833, 0.4167, 0.4167, 0.5833 -> latest 58.3%, best 58.3% @20, +16.7 pt (0.5833-0.4167)
  assert.equal(benches[1].description, '58.3% · best 58.3% @20 · +16.7 pt');
  // average: 0.0556, 0.3333, 0.4444, 0.6667 -> +22.2 pt
  assert.equal(benches[4].description, '66.7% · best 66.7% @20 · +22.2 pt');
  const evals = tree.getChildren(benches[1]);
  assert.deepEqual(
    evals.map((e) => e.label),
    ['step 20', 'step 15', 'step 10', 'step 5'],
  );
  assert.equal((evals[0].command as { command: string }).command, 'vscode.open');
  assert.equal(tree.getChildren(benches[4])[0].command, undefined); // the average has no per-problem file
  // arith-easy at step 20: the trainer's evaluation and Evaluate Checkpoint's, each its own node (unique ids)
  const easy = tree.getChildren(benches[0]);
  assert.deepEqual(
    easy.slice(0, 2).map((e) => [e.label, e.id]),
    [
      ['step 20', `bench:${GRPO}/arith-easy/20/checkpoint`],
      ['step 20', `bench:${GRPO}/arith-easy/20`],
    ],
  );
  assert.match(String(easy[0].description), / · 6 problems × 2 samples · T=0\.6 · Evaluate Checkpoint$/);
  const opened = (easy[0].command as { arguments: { fsPath: string }[] }).arguments[0].fsPath;
  assert.ok(opened.endsWith('checkpoint_evals/000020/arith-easy.jsonl'), opened);
  assert.equal(tree.message(), 'fixture-grpo: 5 evaluations (1 by Evaluate Checkpoint)');
  store.dispose();
});

test('Runs view: deleted checkpoints leave, an invalid run.json is an invalid run with its reason, a NaN loss and the Resume step are marked', async () => {
  const fs = await import('node:fs');
  const { RunsTreeProvider } = await import('../../src/trees/runsTree');
  const { append, ev, events: E, tempDir, writeRunJson } = await import('../helpers/runDir');
  const root = tempDir();
  const id = '20261125-142501-nan-3f9a';
  const dir = path.join(root, id);
  writeRunJson(dir, { id, status: 'stopped', total_steps: 20 });
  append(dir, E.runStarted(1000, 20) + ev('metrics', 1010, 1, { values: { 'loss/total': 'NaN' } }) + E.checkpoint(1011, 5) + E.checkpoint(1012, 10));
  for (const step of ['000005', '000010']) {
    fs.mkdirSync(path.join(dir, 'checkpoints', step), { recursive: true });
    fs.writeFileSync(path.join(dir, 'checkpoints', step, 'trainer_state.pt'), 'state');
  }
  const bad = path.join(root, 'broken-run');
  fs.mkdirSync(bad);
  fs.writeFileSync(path.join(bad, 'run.json'), '{"format":"trapo-run/1","id":"x"}');
  const store = new RunStore({ roots: [root], crashProbe: { now: () => 2000, hostname: 'test-host', isPidAlive: () => false }, watch: false });
  await store.refresh();
  const tree = new RunsTreeProvider(store);
  const [runNode, invalid] = tree.getChildren();
  assert.match(String(runNode.description), /⚠ NaN loss · resumes from step 10$/);
  const md = (runNode.tooltip as { value: string }).value;
  assert.match(md, /Anomaly:\*\* loss\/total NaN at step 1/);
  assert.match(md, /Resume:\*\* continues from the checkpoint at step 10/);
  assert.deepEqual([invalid.label, invalid.description, invalid.contextValue], ['broken-run', 'invalid run', 'invalidRun']);
  assert.match((invalid.tooltip as { value: string }).value, /missing or invalid "name"/);
  const checkpoints = () => tree.getChildren(tree.getChildren(runNode)[0]).map((n) => String(n.label));
  assert.deepEqual(checkpoints(), ['step 10', 'step 5']);
  fs.rmSync(path.join(dir, 'checkpoints', '000005'), { recursive: true }); // keep_last
  await store.refresh();
  const [again] = tree.getChildren();
  assert.deepEqual(
    tree.getChildren(tree.getChildren(again)[0]).map((n) => String(n.label)),
    ['step 10'],
  );
  assert.equal(tree.getChildren(again)[0].description, '1');
  store.dispose();
});

test('untrusted names in tree labels show their bidirectional controls as markers', async () => {
  const fs = await import('node:fs');
  const { RunsTreeProvider } = await import('../../src/trees/runsTree');
  const { PrefixTreeProvider } = await import('../../src/trees/prefixTree');
  const { append, ev, events: E, tempDir, writeRunJson } = await import('../helpers/runDir');
  const root = tempDir();
  const id = '20261125-142501-bidi-3f9a';
  const dir = path.join(root, id);
  writeRunJson(dir, { id, status: 'finished' });
  const info = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ ...info, name: 'evil\u202Egnp.exe' }));
  append(dir, E.runStarted(1000, 2) + ev('prefix_allocation', 1001, 1, { prompts: [{ prompt_id: 'p\u2066x\u2069', level: 0, stages: [] }] }));
  const store = new RunStore({ roots: [root], crashProbe: { now: () => 2000, hostname: 'test-host', isPidAlive: () => false }, watch: false });
  await store.refresh();
  const [run] = new RunsTreeProvider(store).getChildren();
  assert.equal(run.label, 'evil⟨U+202E⟩gnp.exe');
  const selection = new RunSelection();
  selection.set(id);
  const prefix = new PrefixTreeProvider(store, selection);
  assert.equal(prefix.getChildren(prefix.getChildren()[0])[0].label, 'p⟨U+2066⟩x⟨U+2069⟩');
  store.dispose();
});
