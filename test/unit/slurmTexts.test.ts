// How the Runs tree and the status bar word a run's Slurm job (issue 20): queued (submitted, pending with Slurm's
// reason), starting (running, trainer not started), suspended, training, and ended (the trainer's own end, or a crash
// with the Slurm state). Runs come from the real run store (launch.json, run.json, setJobStatus) as in
// jobStatus.test.ts; the tree items and status bar text through the vscode stub.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunStore } from '../../src/core/runStore';
import { recordJob } from '../../src/core/launchFile';
import { JobStatus, parseSqueue } from '../../src/core/slurm';
import type { RunInfo } from '../../src/core/runFormat';
import { ThemeIcon, installVscodeStub } from '../helpers/vscodeStub';
import { append, events as E, tempDir, writeRunJson } from '../helpers/runDir';

installVscodeStub();

const ID = '20261201-120000-demo-ab12';
const squeue = (id: string, s: string, reason = 'None'): JobStatus => parseSqueue(`${id}|${s}|${reason}`).get(id)!;

async function submitted(jobId: string) {
  const root = tempDir();
  const dir = path.join(root, ID);
  fs.mkdirSync(dir, { recursive: true });
  await recordJob(
    dir,
    { runId: ID, name: 'demo', algorithm: 'grpo', configFile: '/ws/demo.trapo.yaml', totalSteps: 50, now: 1000 },
    { job_id: jobId, submitted_at: 1000, script: 'slurm/job-1.sbatch', reason: 'start' },
  );
  const store = new RunStore({
    roots: [root],
    crashProbe: { now: () => 1100, hostname: 'login-node', isPidAlive: () => false },
    watch: false,
    heartbeatTimeoutSeconds: 120,
  });
  await store.refresh();
  return { dir, store };
}

/** run.json as the trainer writes it under Slurm, on node07. */
function trainerWrote(dir: string, jobId: string, status: RunInfo['status'], updatedAt: number) {
  writeRunJson(dir, { id: ID, status, host: 'node07', created_at: 1000, updated_at: updatedAt, total_steps: 50, algorithm: 'grpo' });
  const file = path.join(dir, 'run.json');
  const info = JSON.parse(fs.readFileSync(file, 'utf8'));
  info.name = 'demo';
  info.slurm = { job_id: jobId, restart_count: 0, node_list: 'node07', cluster: null };
  fs.writeFileSync(file, JSON.stringify(info));
}

async function views() {
  const { RunNode, jobActivityIcon } = await import('../../src/trees/runsTree');
  const { statusBarText } = await import('../../src/runs/statusBar');
  return { RunNode, jobActivityIcon, statusBarText };
}

/** The tooltip's markdown with the stub's escapes (appendText) taken out. */
const tooltip = (node: { tooltip?: unknown }) => String((node.tooltip as { value: string }).value).replace(/\\(.)/g, '$1');

const icon = (x: unknown) => {
  const i = x as ThemeIcon;
  return `${i.id}${i.color ? ` ${i.color.id}` : ''}`;
};

test('jobActivityIcon: a clock while queued, a spinner while starting, a pause while suspended', async () => {
  const { jobActivityIcon } = await views();
  assert.equal(icon(jobActivityIcon('queued')), 'clock charts.yellow');
  assert.equal(icon(jobActivityIcon('starting')), 'loading~spin charts.blue');
  assert.equal(icon(jobActivityIcon('suspended')), 'debug-pause');
});

test('a job before its trainer trains: submitted, pending (reason), starting, suspended', async () => {
  const { RunNode, statusBarText } = await views();
  const { store } = await submitted('101');
  const run = () => store.get(ID)!;
  const node = () => new RunNode(run());

  // no answer from Slurm yet
  assert.equal(node().description, 'grpo · 0/50 · job 101 submitted');
  assert.equal(icon(node().iconPath), 'clock charts.yellow');
  assert.equal(statusBarText(run()), '$(clock) TRAPO demo job 101 submitted');

  store.setJobStatus(squeue('101', 'PENDING', 'Resources'));
  assert.equal(node().description, 'grpo · 0/50 · job 101 pending (Resources)');
  assert.equal(icon(node().iconPath), 'clock charts.yellow');
  assert.equal(node().contextValue, 'run.running', 'a queued run can be stopped (scancel)');
  assert.equal(statusBarText(run()), '$(clock) TRAPO demo job 101 pending (Resources)');

  store.setJobStatus(squeue('101', 'RUNNING'));
  assert.equal(node().description, 'grpo · 0/50 · job 101 running');
  assert.equal(icon(node().iconPath), 'loading~spin charts.blue');
  assert.equal(statusBarText(run()), '$(loading~spin) TRAPO demo starting (job 101)');

  store.setJobStatus(squeue('101', 'SUSPENDED'));
  assert.equal(node().description, 'grpo · 0/50 · job 101 suspended');
  assert.equal(icon(node().iconPath), 'debug-pause');
  assert.equal(statusBarText(run()), '$(clock) TRAPO demo job 101 suspended');
  store.dispose();
});

test('a training job shows the run (step, reward) with its job; an ended job shows the end or the crash', async () => {
  const { RunNode, statusBarText } = await views();
  const { dir, store } = await submitted('103');
  store.setJobStatus(squeue('103', 'RUNNING'));
  trainerWrote(dir, '103', 'running', 1050);
  append(dir, E.runStarted(1050, 50) + E.metrics(1080, 3, { 'reward/mean': 0.25 }) + E.heartbeat(1090, 3));
  await store.refresh();
  const run = () => store.get(ID)!;
  const node = () => new RunNode(run());
  assert.equal(node().description, 'grpo · 3/50 · job 103 running');
  assert.equal(icon(node().iconPath), 'sync~spin charts.blue', 'training: the run status icon, not the job activity');
  assert.match(statusBarText(run()), /^\$\(sync~spin\) TRAPO 3\/50 · reward 0\.25/);
  assert.match(tooltip(node()), /\*\*Slurm:\*\* job 103 running · slurm\/job-1\.sbatch/);

  // killed under the running trainer: crashed, the Slurm state in the description and the tooltip
  store.setJobStatus(squeue('103', 'TIMEOUT'));
  assert.equal(run().status, 'crashed');
  assert.equal(node().description, 'grpo · 3/50 · resume starts over at step 0 · job 103 timeout', 'no checkpoint saved: Resume starts over');
  assert.equal(icon(node().iconPath), 'warning list.warningForeground');
  assert.equal(node().contextValue, 'run.crashed');
  assert.match(tooltip(node()), /crashed \(Slurm job 103 ended TIMEOUT while the trainer was running\)/);
  store.dispose();
});

test('a job whose trainer wrote its own end shows that end (finished), not the job', async () => {
  const { RunNode } = await views();
  const { dir, store } = await submitted('104');
  trainerWrote(dir, '104', 'finished', 1095);
  append(dir, E.runStarted(1050, 50) + E.metrics(1080, 50, { 'reward/mean': 0.5 }) + E.finished(1095, 'finished', 50));
  await store.refresh();
  store.setJobStatus(squeue('104', 'COMPLETED'));
  const node = new RunNode(store.get(ID)!);
  assert.equal(node.description, 'grpo · 50/50 · job 104 completed');
  assert.equal(icon(node.iconPath), 'pass testing.iconPassed');
  assert.equal(node.contextValue, 'run.finished');
  store.dispose();
});
