// The Slurm client against fake squeue/sacct/sbatch/scancel outputs (as Slurm 22.05 prints them), the monitor's
// polling, and Stop's escalation through scancel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProcessResult } from '../../src/core/configValidation';
import { JobStatus, SlurmClient, SlurmMonitor, compareJobIds, describeJobStatus, parseSacct, parseSqueue, phaseOf } from '../../src/core/slurm';
import { describeSlurmStop, stopSlurmJob } from '../../src/core/slurmStop';

type Call = { command: string; args: string[] };
const ok = (stdout: string): ProcessResult => ({ code: 0, stdout, stderr: '' });
const fail = (stderr: string, code = 1): ProcessResult => ({ code, stdout: '', stderr });

/** A runner answering from `answer(command, args)`, recording the calls. */
function fakeRunner(answer: (c: Call) => ProcessResult) {
  const calls: Call[] = [];
  const run = async (command: string, args: string[]) => {
    const call = { command, args };
    calls.push(call);
    return answer(call);
  };
  return { run, calls };
}

test('squeue lines: pending with its reason, running, completing; junk skipped', () => {
  const m = parseSqueue('12|PENDING|Resources\n13|RUNNING|None\n14|COMPLETING|None\n\nslurm_load_jobs error\n15|CONFIGURING|None\n');
  assert.deepEqual([...m.keys()], ['12', '13', '14', '15']);
  assert.equal(m.get('12')!.phase, 'pending');
  assert.equal(m.get('12')!.reason, 'Resources');
  assert.equal(describeJobStatus(m.get('12')!), 'pending (Resources)');
  assert.equal(m.get('13')!.reason, null, 'a running job has no reason');
  assert.equal(describeJobStatus(m.get('13')!), 'running');
  assert.equal(m.get('14')!.phase, 'completing');
  assert.equal(m.get('15')!.phase, 'pending');
  for (const s of m.values()) assert.equal(s.final, false);
});

test('end states from squeue -t all and sacct: completed, failed, cancelled, timeout, preempted, out of memory', () => {
  const q = parseSqueue(
    '1|COMPLETED|None\n2|FAILED|NonZeroExitCode\n3|CANCELLED|None\n4|TIMEOUT|None\n5|PREEMPTED|None\n6|OUT_OF_MEMORY|OutOfMemory\n7|NODE_FAIL|None\n',
  );
  assert.deepEqual(
    [...q.values()].map((s) => s.phase),
    ['completed', 'failed', 'cancelled', 'timeout', 'preempted', 'out-of-memory', 'node-fail'],
  );
  for (const s of q.values()) assert.equal(s.final, true, s.state);
  assert.equal(describeJobStatus(q.get('6')!), 'out of memory');
  // sacct -P: "CANCELLED by 0", exit codes, the .batch/.0 step lines of a plain sacct skipped; a requeued job's last line wins.
  const a = parseSacct(
    '21|CANCELLED by 0|0:15\n21.batch|CANCELLED|0:15\n22|FAILED|1:0\n23|BOOT_FAIL|0:0\n24|REQUEUED|0:0\n24|COMPLETED|0:0\n25_3|TIMEOUT|0:0\n',
  );
  assert.equal(a.get('21')!.state, 'CANCELLED');
  assert.equal(a.get('21')!.phase, 'cancelled');
  assert.ok(!a.has('21.batch'));
  assert.equal(describeJobStatus(a.get('22')!), 'failed (exit 1:0)');
  assert.equal(describeJobStatus(a.get('23')!), 'failed (boot fail)');
  assert.equal(a.get('24')!.phase, 'completed');
  assert.equal(a.get('25_3')!.phase, 'timeout');
});

test('states Slurm may add later are not final and are shown as they are', () => {
  assert.equal(phaseOf('SOMETHING_NEW'), 'unknown');
  const s = parseSqueue('9|SOMETHING_NEW|None\n').get('9')!;
  assert.equal(s.final, false);
  assert.equal(describeJobStatus(s), 'something_new');
  assert.ok(compareJobIds('100', '99') > 0 && compareJobIds('7_2', '7_10') < 0 && compareJobIds('8', '8') === 0);
});

test('query: one squeue call for all jobs; jobs it no longer shows from sacct; unknown to both: not found (final)', async () => {
  const { run, calls } = fakeRunner(({ command, args }) => {
    if (command === 'squeue') return ok('31|RUNNING|None\n');
    if (command === 'sacct' && args.includes('-j')) return ok('30|COMPLETED|0:0\n');
    throw new Error(`unexpected ${command}`);
  });
  const client = new SlurmClient(run);
  const r = await client.query(['30', '31', '29', '31']);
  assert.ok(r.ok);
  assert.equal(r.statuses.get('31')!.phase, 'running');
  assert.equal(r.statuses.get('30')!.phase, 'completed');
  assert.equal(r.statuses.get('30')!.source, 'sacct');
  assert.equal(r.statuses.get('29')!.source, 'not-found');
  assert.equal(r.statuses.get('29')!.final, true);
  assert.equal(describeJobStatus(r.statuses.get('29')!), 'not known to Slurm');
  assert.deepEqual(calls[0], { command: 'squeue', args: ['-h', '-t', 'all', '-j', '30,31,29', '-O', 'JobID:|,State:|,Reason:|,RestartCnt:'] });
  assert.deepEqual(calls[1].args.slice(0, 2), ['-j', '30,29']);
});

test('squeue -O with the restart count; a squeue without that field is asked with -o from then on', async () => {
  assert.equal(parseSqueue('60|PENDING|BeginTime|1\n').get('60')!.restarts, 1, 'requeued once');
  assert.equal(parseSqueue('60|RUNNING|None\n').get('60')!.restarts, null);
  const { run, calls } = fakeRunner(({ args }) =>
    args.includes('-O') ? fail('squeue: error: Invalid job format specification: restartcnt') : ok('61|RUNNING|None\n'),
  );
  const client = new SlurmClient(run);
  const r = await client.query(['61']);
  assert.ok(r.ok && r.statuses.get('61')!.phase === 'running');
  await client.query(['61']);
  assert.deepEqual(
    calls.map((c) => (c.args.includes('-O') ? '-O' : '-o')),
    ['-O', '-o', '-o'],
  );
});

test('without an accounting database sacct -c (the job completion file) is used, and remembered', async () => {
  const { run, calls } = fakeRunner(({ command, args }) => {
    // squeue knows none of the ids: exit 1 with "Invalid job id specified" (Slurm 22.05)
    if (command === 'squeue') return fail('slurm_load_jobs error: Invalid job id specified');
    if (command === 'sacct' && !args.includes('-c')) return fail('Slurm accounting storage is disabled');
    return ok('40|TIMEOUT|0:0\n');
  });
  const client = new SlurmClient(run);
  const a = await client.query(['40']);
  assert.ok(a.ok);
  assert.equal(a.statuses.get('40')!.phase, 'timeout');
  const b = await client.query(['40']);
  assert.ok(b.ok);
  assert.deepEqual(
    calls.map((c) => `${c.command}${c.args.includes('-c') ? ' -c' : ''}`),
    ['squeue', 'sacct', 'sacct -c', 'squeue', 'sacct -c'],
  );
});

test('errors: squeue missing (not a login node), the controller down', async () => {
  const missing = new SlurmClient(async () => ({ code: null, stdout: '', stderr: '', spawnError: 'ENOENT: spawn squeue ENOENT' }));
  const r = await missing.query(['1']);
  assert.ok(!r.ok);
  assert.match(r.error, /squeue could not be run/);
  const down = new SlurmClient(async () => fail('slurm_load_jobs error: Unable to contact slurm controller (connect failure)'));
  const d = await down.query(['1']);
  assert.ok(!d.ok);
  assert.match(d.error, /Unable to contact slurm controller/);
});

test('sbatch --parsable: the job id (a cluster suffix dropped); a refusal names the reason', async () => {
  const { run, calls } = fakeRunner(({ args }) =>
    args.includes('/bad.sbatch')
      ? fail('sbatch: error: invalid partition specified: gpux\nsbatch: error: Batch job submission failed: Invalid partition name specified')
      : ok('1234;cluster1\n'),
  );
  const client = new SlurmClient(run);
  assert.deepEqual(await client.submit('/run/slurm/job-1.sbatch'), { ok: true, jobId: '1234' });
  assert.deepEqual(calls[0].args, ['--parsable', '/run/slurm/job-1.sbatch']);
  const bad = await client.submit('/bad.sbatch');
  assert.ok(!bad.ok);
  assert.match(bad.error, /Invalid partition name/);
  await client.cancel('1234', 'INT');
  await client.cancel('1234');
  assert.deepEqual(
    calls.slice(2).map((c) => c.args),
    [['--signal=INT', '1234'], ['1234']],
  );
});

test('the monitor polls only jobs that are not final, all in one call, and runs nothing while there are none', async () => {
  const states: Record<string, string> = { '50': 'PENDING|Priority', '51': 'RUNNING|None' };
  const { run, calls } = fakeRunner(({ command, args }) => {
    if (command !== 'squeue') return ok('');
    const ids = args[args.indexOf('-j') + 1].split(',');
    return ok(ids.map((id) => `${id}|${states[id]}`).join('\n'));
  });
  const seen: JobStatus[] = [];
  const sink = {
    jobsToPoll: () => Object.keys(states).filter((id) => !seen.some((s) => s.jobId === id && s.final)),
    setJobStatus: (s: JobStatus) => seen.push(s),
  };
  const monitor = new SlurmMonitor(new SlurmClient(run), sink, { intervalMs: 60_000 });
  await monitor.pollNow();
  assert.equal(calls.length, 1);
  assert.deepEqual(
    seen.map((s) => `${s.jobId} ${describeJobStatus(s)}`),
    ['50 pending (Priority)', '51 running'],
  );
  states['50'] = 'RUNNING|None';
  states['51'] = 'COMPLETED|None';
  await monitor.pollNow();
  assert.equal(calls.length, 2);
  states['50'] = 'CANCELLED|None';
  await monitor.pollNow();
  assert.deepEqual(calls[2].args[calls[2].args.indexOf('-j') + 1], '50', '51 ended: it is not asked for again');
  await monitor.pollNow();
  assert.equal(calls.length, 3, 'every job final: nothing is run');
  monitor.dispose();
});

test('the monitor started with no job to poll polls a job that appears later (on its timer)', async () => {
  const jobs: string[] = [];
  const seen: string[] = [];
  const { run, calls } = fakeRunner(() => ok('70|PENDING|Resources|0\n'));
  const monitor = new SlurmMonitor(new SlurmClient(run), { jobsToPoll: () => jobs, setJobStatus: (st) => seen.push(st.jobId) }, { intervalMs: 20 });
  monitor.start();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(calls.length, 0, 'nothing to poll: nothing run');
  jobs.push('70');
  for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(seen.slice(0, 1), ['70']);
  monitor.dispose();
});

test('the monitor reports a failing squeue once and backs off', async () => {
  const errors: string[] = [];
  const monitor = new SlurmMonitor(
    new SlurmClient(async () => fail('Unable to contact slurm controller')),
    { jobsToPoll: () => ['1'], setJobStatus: () => undefined },
    {
      intervalMs: 10,
      errorBackoffMs: 60_000,
      onError: (e) => errors.push(e),
    },
  );
  await monitor.pollNow();
  await monitor.pollNow();
  assert.deepEqual(errors, ['Unable to contact slurm controller']);
  assert.equal(monitor.error, 'Unable to contact slurm controller');
  monitor.dispose();
});

/** A fake cluster for Stop: the job's state per squeue call follows `script`, scancel calls are recorded. */
function fakeCluster(script: (cancels: string[][]) => string) {
  const cancels: string[][] = [];
  const client = new SlurmClient(async (command, args) => {
    if (command === 'scancel') {
      cancels.push(args);
      return ok('');
    }
    if (command === 'squeue') return ok(`7|${script(cancels)}|None\n`);
    return ok('');
  });
  return { client, cancels };
}

const running = parseSqueue('7|RUNNING|None').get('7')!;

test('Stop: scancel --signal=INT, and the job ends (the trainer saved)', async () => {
  const { client, cancels } = fakeCluster((c) => (c.length ? 'COMPLETED' : 'RUNNING'));
  const r = await stopSlurmJob(client, { jobId: '7', trainerStarted: true, status: running, graceMs: 1000, pollMs: 5 });
  assert.equal(r.outcome, 'stopped');
  assert.deepEqual(cancels, [['--signal=INT', '7']]);
  assert.equal(describeSlurmStop(r), 'it saved and stopped');
});

test('Stop: a job ended without the trainer saving is not called saved', async () => {
  const { client } = fakeCluster((c) => (c.length ? 'FAILED' : 'RUNNING'));
  const r = await stopSlurmJob(client, { jobId: '7', trainerStarted: true, status: running, graceMs: 1000, pollMs: 5 });
  assert.equal(r.outcome, 'stopped');
  assert.equal(describeSlurmStop(r, 'stopped'), 'it saved and stopped');
  assert.equal(describeSlurmStop(r, 'failed'), 'its job ended, but the trainer failed while stopping instead of saving (see its log)');
  assert.equal(describeSlurmStop(r, 'running'), 'its job ended, but the trainer did not save and record its stop (see its log)');
});

test('Stop: a job the store last saw pending that runs now, its trainer started, is asked to save (SIGINT), not cancelled', async () => {
  const { client, cancels } = fakeCluster((c) => (c.length ? 'COMPLETED' : 'RUNNING'));
  const stalePending = parseSqueue('7|PENDING|Resources').get('7')!;
  const r = await stopSlurmJob(client, { jobId: '7', trainerStarted: true, status: stalePending, graceMs: 1000, pollMs: 5 });
  assert.equal(r.outcome, 'stopped');
  assert.deepEqual(cancels, [['--signal=INT', '7']]);
});

test('Stop: a job that does not end after the grace period is cancelled, then killed', async () => {
  const cancelled = fakeCluster((c) => (c.length >= 2 ? 'CANCELLED' : 'RUNNING'));
  const r1 = await stopSlurmJob(cancelled.client, { jobId: '7', trainerStarted: true, status: running, graceMs: 30, cancelWaitMs: 30, pollMs: 5 });
  assert.equal(r1.outcome, 'stopped-scancel');
  assert.deepEqual(cancelled.cancels, [['--signal=INT', '7'], ['7']]);
  const stubborn = fakeCluster((c) => (c.length >= 3 ? 'CANCELLED' : 'RUNNING'));
  const r2 = await stopSlurmJob(stubborn.client, { jobId: '7', trainerStarted: true, status: running, graceMs: 30, cancelWaitMs: 30, pollMs: 5 });
  assert.equal(r2.outcome, 'stopped-kill');
  assert.deepEqual(stubborn.cancels.at(-1), ['--signal=KILL', '7']);
});

test('Stop: past the grace period a trainer whose heartbeat goes on is waited for, not cancelled', async () => {
  let polls = 0;
  const { client, cancels } = fakeCluster(() => (++polls > 12 ? 'COMPLETED' : 'RUNNING'));
  const r = await stopSlurmJob(client, { jobId: '7', trainerStarted: true, status: running, graceMs: 10, pollMs: 2, stillWorking: () => true });
  assert.equal(r.outcome, 'stopped');
  assert.deepEqual(cancels, [['--signal=INT', '7']], 'no scancel while the heartbeat goes on');
});

test('Stop: a pending job (or one whose trainer has not started) is cancelled at once: nothing to save', async () => {
  const { client, cancels } = fakeCluster((c) => (c.length ? 'CANCELLED' : 'PENDING'));
  const pending = parseSqueue('7|PENDING|Resources').get('7')!;
  const r = await stopSlurmJob(client, { jobId: '7', trainerStarted: false, status: pending, graceMs: 1000, pollMs: 5 });
  assert.equal(r.outcome, 'cancelled-before-start');
  assert.deepEqual(cancels, [['7']]);
  const ended = fakeCluster(() => 'COMPLETED');
  assert.equal((await stopSlurmJob(ended.client, { jobId: '7', trainerStarted: true, status: null, graceMs: 10, pollMs: 5 })).outcome, 'already-ended');
  assert.deepEqual(ended.cancels, []);
});
