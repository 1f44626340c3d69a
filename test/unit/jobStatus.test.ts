// A run's Slurm job in the run store: a submitted run shows before its trainer writes run.json, its job state decides
// what the run shows (queued, starting, running, the trainer's own end), a job that ends without run_finished is a
// crash with the Slurm state as its reason, and a job submitted from a terminal is watched too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunStore } from '../../src/core/runStore';
import { currentJob, jobActivity, jobVerdict, needsPolling } from '../../src/core/jobStatus';
import { recordJob } from '../../src/core/launchFile';
import { JobStatus, parseSqueue } from '../../src/core/slurm';
import type { CrashProbe } from '../../src/core/crash';
import type { LaunchInfo, RunInfo } from '../../src/core/runFormat';
import { append, events as E, tempDir, writeRunJson } from '../helpers/runDir';

const ID = '20261201-120000-demo-ab12';
const state = (id: string, s: string, reason = 'None'): JobStatus => parseSqueue(`${id}|${s}|${reason}`).get(id)!;

function probe(now = 2000): CrashProbe {
  // The trainer of these runs ran on another node: only the heartbeat can tell whether it lives.
  return { now: () => now, hostname: 'login-node', isPidAlive: () => false };
}

function store(root: string, now = 2000) {
  return new RunStore({ roots: [root], crashProbe: probe(now), watch: false, heartbeatTimeoutSeconds: 120 });
}

async function submit(runDir: string, jobId: string, reason: 'start' | 'resume' = 'start', at = 1000) {
  fs.mkdirSync(runDir, { recursive: true });
  await recordJob(
    runDir,
    { runId: path.basename(runDir), name: 'demo', algorithm: 'grpo', configFile: '/ws/demo.trapo.yaml', totalSteps: 50, now: at },
    { job_id: jobId, submitted_at: at, script: `slurm/job-${jobId}.sbatch`, reason },
  );
}

/** run.json as the trainer writes it under Slurm (slurm.job_id from its environment), on node07. */
function trainerWrote(dir: string, jobId: string, status: RunInfo['status'], updatedAt: number) {
  writeRunJson(dir, { id: ID, status, host: 'node07', created_at: 1000, updated_at: updatedAt, total_steps: 50 });
  const file = path.join(dir, 'run.json');
  const info = JSON.parse(fs.readFileSync(file, 'utf8'));
  info.slurm = { job_id: jobId, restart_count: 0, node_list: 'node07', cluster: null };
  fs.writeFileSync(file, JSON.stringify(info));
}

test("a submitted run shows from launch.json while its job is pending: active, queued with Slurm's reason, polled", async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  await submit(dir, '101');
  const s = store(root, 99_999); // long after submission: no heartbeat to judge by, and none is needed
  await s.refresh();
  const run = s.get(ID)!;
  assert.ok(run, 'the run is found without run.json');
  assert.equal(run.hasRunJson, false);
  assert.equal(run.info.name, 'demo');
  assert.equal(run.info.algorithm, 'grpo');
  assert.equal(run.totalSteps, 50);
  assert.equal(run.status, 'running', 'not crashed: a pending job has no heartbeat yet');
  assert.equal(run.job?.jobId, '101');
  assert.equal(run.job?.status, null);
  assert.deepEqual(s.jobsToPoll(), ['101']);
  const changes: string[] = [];
  s.onDidChange((c) => c.kind === 'updated' && changes.push(`${c.run.status} ${c.run.job?.status?.state}`));
  s.setJobStatus(state('101', 'PENDING', 'Resources'));
  assert.equal(jobActivity(run.writtenStatus, run.job!), 'queued');
  assert.equal(s.get(ID)!.job?.status?.reason, 'Resources');
  s.setJobStatus(state('101', 'PENDING', 'Resources'));
  assert.deepEqual(changes, ['running PENDING'], 'the same answer again changes nothing');
  s.setJobStatus(state('101', 'RUNNING'));
  assert.equal(jobActivity(run.writtenStatus, run.job!), 'starting', 'running, trainer not started yet');
  s.dispose();
});

test('the job fails before the trainer starts: crashed, the Slurm state and its log named; polling stops', async () => {
  const root = tempDir();
  await submit(path.join(root, ID), '102');
  const s = store(root);
  await s.refresh();
  s.setJobStatus(state('102', 'FAILED', 'NonZeroExitCode'));
  const run = s.get(ID)!;
  assert.equal(run.status, 'crashed');
  assert.ok(run.crash.crashed && run.crash.reason === 'job-ended');
  assert.match(run.crash.crashed ? run.crash.detail : '', /Slurm job 102 ended FAILED before the trainer started \(see logs\/slurm-102\.out\)/);
  assert.deepEqual(s.jobsToPoll(), []);
  s.dispose();
});

test('the trainer starts, trains and finishes: running from run.json, then finished, whatever the job says after', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  await submit(dir, '103');
  const s = store(root, 1100);
  await s.refresh();
  s.setJobStatus(state('103', 'RUNNING'));
  trainerWrote(dir, '103', 'running', 1050);
  append(dir, E.runStarted(1050, 50) + E.heartbeat(1090, 1));
  await s.refresh();
  const run = s.get(ID)!;
  assert.equal(run.hasRunJson, true);
  assert.equal(run.job?.trainerStarted, true);
  assert.equal(jobActivity(run.writtenStatus, run.job!), null, 'training: no job activity shown over the run');
  assert.equal(run.status, 'running');
  append(dir, E.finished(1095, 'finished'));
  trainerWrote(dir, '103', 'finished', 1096);
  await s.refresh();
  s.setJobStatus(state('103', 'COMPLETED'));
  assert.equal(run.status, 'finished');
  assert.deepEqual(s.jobsToPoll(), []);
  s.dispose();
});

test('a job killed under a running trainer (scancel --signal=KILL, out of memory, time limit) is a crash with its state', async () => {
  for (const [word, phase] of [
    ['CANCELLED', 'cancelled'],
    ['OUT_OF_MEMORY', 'out-of-memory'],
    ['TIMEOUT', 'timeout'],
    ['NODE_FAIL', 'node-fail'],
  ]) {
    const root = tempDir();
    const dir = path.join(root, ID);
    await submit(dir, '104');
    trainerWrote(dir, '104', 'running', 1050);
    append(dir, E.runStarted(1050, 50) + E.heartbeat(1090, 3));
    const s = store(root, 1100); // the heartbeat is fresh: only the job's state tells
    await s.refresh();
    s.setJobStatus(state('104', 'RUNNING'));
    assert.equal(s.get(ID)!.status, 'running');
    s.setJobStatus(state('104', word));
    const run = s.get(ID)!;
    assert.equal(run.job?.status?.phase, phase);
    assert.equal(run.status, 'crashed', word);
    assert.match(run.crash.crashed ? run.crash.detail : '', new RegExp(`Slurm job 104 ended ${word} while the trainer was running`));
    s.dispose();
  }
});

test('Resume: a new job on a stopped run shows queued (not stopped) until its trainer writes run.json', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  await submit(dir, '105', 'start', 1000);
  trainerWrote(dir, '105', 'stopped', 1500);
  const s = store(root, 1600);
  await s.refresh();
  s.setJobStatus(state('105', 'COMPLETED'));
  assert.equal(s.get(ID)!.status, 'stopped');
  await submit(dir, '110', 'resume', 1700);
  await s.refresh();
  let run = s.get(ID)!;
  assert.equal(run.job?.jobId, '110');
  assert.equal(run.job?.trainerStarted, false);
  assert.equal(run.status, 'running');
  assert.deepEqual(s.jobsToPoll(), ['110']);
  s.setJobStatus(state('110', 'PENDING', 'Priority'));
  assert.equal(jobActivity(run.writtenStatus, run.job!), 'queued');
  trainerWrote(dir, '110', 'running', 1800);
  await s.refresh();
  run = s.get(ID)!;
  assert.equal(run.job?.trainerStarted, true);
  s.dispose();
});

test('a job submitted from a terminal (only run.json names it) is watched; a requeued one shows queued again', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  trainerWrote(dir, '120', 'running', 1050);
  append(dir, E.runStarted(1050, 50));
  const s = store(root, 1100);
  await s.refresh();
  const run = s.get(ID)!;
  assert.equal(run.job?.jobId, '120');
  assert.equal(run.job?.origin, 'terminal');
  assert.equal(run.job?.script, null);
  assert.deepEqual(s.jobsToPoll(), ['120']);
  // Preempted and requeued (same id, restart count 1): pending again while run.json still says running.
  s.setJobStatus(parseSqueue('120|PENDING|BeginTime|1').get('120')!);
  assert.equal(run.status, 'running');
  assert.equal(jobActivity(run.writtenStatus, run.job!), 'queued');
  // Running again: starting (not the old run's status) until the new run of the job writes run.json.
  s.setJobStatus(parseSqueue('120|RUNNING|None|1').get('120')!);
  assert.equal(run.job?.trainerStarted, false);
  assert.equal(jobActivity(run.writtenStatus, run.job!), 'starting');
  s.dispose();
});

test('verdicts and polling, case by case', () => {
  const launch: LaunchInfo = {
    format: 'trapo-launch/1',
    launcher: 'slurm',
    run_id: ID,
    name: 'demo',
    created_at: 1,
    jobs: [
      { job_id: '9', submitted_at: 10, script: 'slurm/job-1.sbatch', reason: 'start' },
      { job_id: '12', submitted_at: 20, script: 'slurm/job-2.sbatch', reason: 'resume' },
    ],
  };
  const job = currentJob('/runs/x', launch, null, () => undefined)!;
  assert.equal(job.jobId, '12', 'the newest job (largest id)');
  assert.equal(job.script, '/runs/x/slurm/job-2.sbatch');
  assert.equal(job.origin, 'resume');
  assert.deepEqual(jobVerdict('running', job), { kind: 'active', phase: 'queued' });
  assert.ok(needsPolling('running', job));
  // A trainer that does not record its job: run.json rewritten after the submission counts as started.
  const info = { updated_at: 25, created_at: 1 } as RunInfo;
  assert.equal(currentJob('/runs/x', launch, info, () => undefined)!.trainerStarted, true);
  assert.equal(currentJob('/runs/x', launch, { ...info, updated_at: 15 }, () => undefined)!.trainerStarted, false);
  const ended = { ...job, trainerStarted: true, status: state('12', 'COMPLETED') };
  assert.deepEqual(jobVerdict('stopped', ended), { kind: 'none' });
  assert.equal(jobVerdict('running', ended).kind, 'ended');
  assert.ok(!needsPolling('stopped', ended));
  assert.ok(!needsPolling('stopped', { ...ended, status: null }), 'an old finished run is not asked about');
  assert.deepEqual(jobVerdict('running', { ...ended, status: state('12', 'SUSPENDED') }), { kind: 'active', phase: 'suspended' });
  assert.equal(
    currentJob('/runs/x', null, null, () => undefined),
    null,
  );
});

test("run.json: a slurm field that is not a job loses only the job (its id goes on squeue's command line)", async () => {
  const { parseRunInfo } = await import('../../src/core/runFormat');
  const base = {
    format: 'trapo-run/1',
    id: ID,
    name: 'd',
    algorithm: 'trapo',
    created_at: 1,
    config: {},
    status: 'running',
    pid: 1,
    host: 'h',
    trainer_version: '0',
    world_size: 1,
    device: 'cpu',
  };
  assert.equal(parseRunInfo(JSON.stringify({ ...base, slurm: { job_id: '--clusters=all', restart_count: 0, node_list: 'n' } })).slurm, null);
  assert.equal(parseRunInfo(JSON.stringify({ ...base, slurm: { job_id: '7', restart_count: 0, node_list: 'n' } })).slurm?.job_id, '7');
});

test('a resumed run shows running from its rewritten run.json before its run_started (appended after the set-up)', async () => {
  const root = tempDir();
  const dir = path.join(root, ID);
  writeRunJson(dir, { id: ID, status: 'running', host: 'node07', created_at: 1000, updated_at: 1005 });
  append(dir, E.runStarted(1001, 50) + E.finished(1010, 'stopped'));
  const s = store(root, 1012);
  await s.refresh();
  assert.equal(s.get(ID)!.status, 'stopped', 'run_finished is newer than run.json: the trainer is on its way out');
  writeRunJson(dir, { id: ID, status: 'running', host: 'node07', created_at: 1000, updated_at: 1011 });
  await s.refresh();
  assert.equal(s.get(ID)!.status, 'running', 'run.json rewritten by the resume after that run_finished');
  s.dispose();
});
