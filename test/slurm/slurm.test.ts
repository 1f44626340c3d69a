// Against a real one-node Slurm (scripts/slurm-local.sh; 2 CPUs): the demo config, made small, submitted as the
// extension submits it (the sbatch script of src/core/slurmScript.ts, launch.json) with 2 trainer processes on the
// node (gloo), watched through the run store and the Slurm client as the extension watches it:
//   1. a run that waits for another (pending, with Slurm's reason), then runs and finishes;
//   2. Stop with scancel --signal=INT: the trainer saves and stops; Resume: a new job on the same run directory,
//      pending while the node is busy, continuing from the checkpoint;
//   3. a job whose step is killed with scancel --signal=KILL: shown as crashed with the Slurm state;
//   4. a job submitted with sbatch from a terminal (no launch.json) whose time limit comes: the trainer saves on
//      Slurm's SIGUSR1, the job requeues itself and resumes.
// Slow by nature (each job starts torch in three processes): every wait is on a condition, with wide limits.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { RunStore, RunState } from '../../src/core/runStore';
import { systemCrashProbe } from '../../src/core/crash';
import { jobActivity } from '../../src/core/jobStatus';
import { recordJob } from '../../src/core/launchFile';
import { SlurmClient, describeJobStatus } from '../../src/core/slurm';
import { DEFAULT_JOB_OPTIONS, SlurmJobOptions, activateScriptFor, buildSbatchScript } from '../../src/core/slurmScript';
import { stopSlurmJob } from '../../src/core/slurmStop';
import { makeRunId } from '../../src/core/launch';
import { REPO, SKIP_SLURM, ensureSlurm, runCommand, stopSlurmIfOurs } from '../helpers/slurmCluster';
import { tempDir } from '../helpers/runDir';

const PYTHON = process.env.TRAPO_E2E_PYTHON ?? path.join(REPO, 'trainer', '.venv', 'bin', 'python');
const DEMO = path.join(REPO, 'trainer', 'trapo', 'configs', 'demo.trapo.yaml');
const MIN = 60_000;

/** The demo config made small: no warm-up, no evaluations, no ONNX export, `steps` steps of 2 prompts. */
function demoConfig(dir: string, name: string, steps: number): string {
  const c = yaml.load(fs.readFileSync(DEMO, 'utf8')) as Record<string, Record<string, unknown>>;
  c.name = name as never;
  c.model = { ...c.model, warmup: { enabled: false }, cache_dir: path.join(dir, 'cache') };
  c.data = { ...c.data, train_size: 32, benchmark_size: 2 };
  c.rollout = { ...c.rollout, max_new_tokens: 12 };
  c.train = { ...c.train, steps, prompts_per_step: 2, micro_batch_size: 8, threads: 1 };
  c.eval = { ...c.eval, every: 0, at_start: false };
  c.checkpoint = { ...c.checkpoint, every: 0, onnx: false };
  c.logging = { ...c.logging, heartbeat_s: 2, token_stats: false };
  const file = path.join(dir, `${name}.trapo.yaml`);
  fs.writeFileSync(file, yaml.dump(c));
  return file;
}

const JOB: SlurmJobOptions = { ...DEFAULT_JOB_OPTIONS, processesPerNode: 2, cpusPerTask: 2 };

describe('runs on a one-node Slurm', { skip: SKIP_SLURM }, () => {
  const client = new SlurmClient(runCommand);
  let work = '';
  let root = '';
  let store: RunStore;
  let polling: NodeJS.Timeout | undefined;
  /** What each run showed over time: "queued (pending (Resources))", "starting", "running", "stopped", ... */
  const seen = new Map<string, string[]>();
  const ids: Record<string, string> = {};
  const jobs: Record<string, string> = {};
  let stoppedAt = 0;

  const shown = (run: RunState) => {
    const activity = run.job ? jobActivity(run.writtenStatus, run.job) : null;
    if (activity === 'queued' && run.job?.status) return `queued (${describeJobStatus(run.job.status)})`;
    return activity ?? run.status;
  };
  const tick = async () => {
    await store.refresh();
    const r = await client.query(store.jobsToPoll());
    if (r.ok) for (const s of r.statuses.values()) store.setJobStatus(s);
    for (const run of store.runs()) {
      const list = seen.get(run.id) ?? [];
      const now = shown(run);
      if (list[list.length - 1] !== now) list.push(now);
      seen.set(run.id, list);
    }
  };
  const waitFor = async <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms: number): Promise<T> => {
    const t0 = Date.now();
    for (;;) {
      await tick();
      const v = await fn();
      if (v) {
        process.stderr.write(`[slurm test] ${what}: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
        return v;
      }
      if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}; seen: ${JSON.stringify([...seen])}`);
      await new Promise((r) => setTimeout(r, 1500));
    }
  };
  const readJson = (file: string) => {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      return null;
    }
  };
  const runJson = (key: string) => readJson(path.join(root, ids[key], 'run.json'));
  const eventsOf = (key: string): { type: string; step: number | null; resumed_from_step?: number | null }[] => {
    const f = path.join(root, ids[key], 'events.jsonl');
    return fs.existsSync(f)
      ? fs
          .readFileSync(f, 'utf8')
          .split('\n')
          .filter(Boolean)
          .flatMap((l) => {
            try {
              return [JSON.parse(l)];
            } catch {
              return [];
            }
          })
      : [];
  };
  const logOf = (key: string) => {
    const f = path.join(root, ids[key], 'logs', 'trainer.log');
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
  };

  /** Writes the run's sbatch script and submits it; `asExtension` also records the job in launch.json. */
  const submit = async (key: string, steps: number, options: Partial<SlurmJobOptions>, asExtension: boolean, reason: 'start' | 'resume' = 'start') => {
    ids[key] ??= makeRunId(
      `slurm-${key}`,
      new Date(),
      Math.floor(Math.random() * 0xffff)
        .toString(16)
        .padStart(4, '0'),
    );
    const runDir = path.join(root, ids[key]);
    const config = reason === 'start' ? demoConfig(work, `slurm-${key}`, steps) : undefined;
    fs.mkdirSync(path.join(runDir, 'logs'), { recursive: true });
    fs.mkdirSync(path.join(runDir, 'slurm'), { recursive: true });
    const scriptRel = `slurm/job-${fs.readdirSync(path.join(runDir, 'slurm')).length + 1}.sbatch`;
    const built = buildSbatchScript(
      {
        runId: ids[key],
        runName: `slurm-${key}`,
        runDir,
        cwd: work,
        python: PYTHON,
        configFile: config,
        options: { ...JOB, ...options },
        writtenAt: new Date(),
      },
      activateScriptFor(PYTHON, fs.existsSync),
    );
    assert.ok(built.ok, built.ok ? '' : built.error);
    fs.writeFileSync(path.join(runDir, scriptRel), built.script);
    const r = asExtension ? await client.submit(path.join(runDir, scriptRel)) : await terminalSbatch(path.join(runDir, scriptRel));
    assert.ok(r.ok, r.ok ? '' : r.error);
    jobs[key] = r.jobId;
    if (asExtension) {
      await recordJob(
        runDir,
        { runId: ids[key], name: `slurm-${key}`, algorithm: 'trapo', configFile: config ?? null, totalSteps: steps, now: Date.now() / 1000 },
        { job_id: r.jobId, submitted_at: Date.now() / 1000, script: scriptRel, reason },
      );
    }
    return r.jobId;
  };
  /** `sbatch script` as a person types it: its output, not the client. */
  const terminalSbatch = async (script: string) => {
    const r = await runCommand('sbatch', [script]);
    const id = /Submitted batch job (\d+)/.exec(r.stdout)?.[1];
    return id ? { ok: true as const, jobId: id } : { ok: false as const, error: r.stderr };
  };

  before(async () => {
    const up = ensureSlurm();
    process.stderr.write(`[slurm test] one-node Slurm ${up.started ? 'started' : 'already running'} (${up.seconds.toFixed(1)} s)\n`);
    work = tempDir('trapo-slurm-test-');
    root = path.join(work, 'runs');
    fs.mkdirSync(root);
    process.env.TRAPO_CACHE = path.join(work, 'trapo-cache');
    store = new RunStore({ roots: [root], crashProbe: systemCrashProbe(os.hostname()), watch: false, heartbeatTimeoutSeconds: 600 });
    polling = setInterval(() => void tick().catch(() => undefined), 3000);
  });
  after(async () => {
    if (polling) clearInterval(polling);
    for (const id of Object.values(jobs)) await client.cancel(id, 'KILL').catch(() => undefined);
    store?.dispose();
    stopSlurmIfOurs();
  });

  test("a run that waits for the node is pending with Slurm's reason, then runs and finishes", { timeout: 25 * MIN }, async () => {
    // A (long) takes both CPUs of the node; B (3 steps) waits for them.
    await submit('a', 2000, {}, true);
    await submit('b', 3, {}, true);
    await waitFor('B pending with a reason', () => store.get(ids.b) && /^queued \(pending \((Resources|Priority)\)\)$/.test(shown(store.get(ids.b)!)), 2 * MIN);
    await waitFor(
      'A training (its trainer wrote run.json and a step)',
      () => store.get(ids.a)?.job?.trainerStarted && (store.get(ids.a)?.step ?? 0) >= 1,
      15 * MIN,
    );
    assert.equal(store.get(ids.a)!.status, 'running');
    assert.equal(runJson('a').world_size, 2, 'two trainer processes (gloo)');
    assert.equal(runJson('a').slurm.job_id, jobs.a);
    assert.match(shown(store.get(ids.b)!), /^queued/, 'B still waits while A runs');

    // Stop A as the extension does: scancel --signal=INT, the trainer saves and stops.
    const stop = await stopSlurmJob(client, { jobId: jobs.a, trainerStarted: true, status: store.get(ids.a)!.job!.status, graceMs: 10 * MIN });
    assert.equal(stop.outcome, 'stopped', JSON.stringify(stop));
    assert.equal(stop.final?.state, 'COMPLETED', 'the job ends well when its trainer stopped');
    const a = await waitFor('A shown stopped', () => store.get(ids.a)?.status === 'stopped' && store.get(ids.a), 2 * MIN);
    stoppedAt = runJson('a').step as number;
    assert.ok(stoppedAt >= 1);
    assert.ok(fs.existsSync(path.join(a.dir, 'checkpoints', String(stoppedAt).padStart(6, '0'))), `checkpoint of step ${stoppedAt} saved on Stop`);

    // Resume A now: its new job waits for B, which runs on the freed node.
    await submit('a', 2000, {}, true, 'resume');
    await waitFor("A's new job shown queued, not stopped", () => /^queued/.test(shown(store.get(ids.a)!)) && store.get(ids.a)!.job!.jobId === jobs.a, 2 * MIN);
    await waitFor('B finished', () => store.get(ids.b)?.status === 'finished', 15 * MIN);
    // The trainer writes its end a moment before the job's script (and so the job) ends.
    await waitFor("B's job completed", () => store.get(ids.b)?.job?.status?.state === 'COMPLETED', 2 * MIN);
    assert.equal(store.get(ids.b)!.status, 'finished');
    const b = seen.get(ids.b)!;
    assert.match(b[0], /^queued \(pending/, `B: ${b.join(' -> ')}`);
    assert.ok(b.indexOf('running') > 0 && b.indexOf('finished') > b.indexOf('running'), `B: ${b.join(' -> ')}`);
    process.stderr.write(`[slurm test] B: ${b.join(' -> ')}\n`);
    process.stderr.write(`[slurm test] A: ${seen.get(ids.a)!.join(' -> ')}\n`);
  });

  test(
    'Resume continues from the checkpoint; a job killed with scancel --signal=KILL is shown crashed with its Slurm state',
    { timeout: 20 * MIN },
    async () => {
      assert.ok(stoppedAt >= 1, 'the first test stopped A');
      await waitFor(
        'A resumed and training',
        () => {
          const ev = eventsOf('a');
          return ev.filter((e) => e.type === 'run_started').length === 2 && ev.some((e) => e.type === 'metrics' && (e.step ?? 0) > stoppedAt);
        },
        15 * MIN,
      );
      const starts = eventsOf('a').filter((e) => e.type === 'run_started');
      assert.deepEqual(
        starts.map((e) => e.resumed_from_step),
        [null, stoppedAt],
      );
      assert.equal(
        eventsOf('a')
          .filter((e) => e.type === 'metrics')
          .find((e) => (e.step ?? 0) > stoppedAt)?.step,
        stoppedAt + 1,
      );
      assert.equal(store.get(ids.a)!.status, 'running');
      // SIGKILL to the job's step, at once (`scancel --signal=KILL JOB` on the whole job sends SIGTERM first and
      // SIGKILL only after KillWait, time in which the trainer saves and stops if it can).
      const killed = await runCommand('scancel', ['--signal=KILL', `${jobs.a}.0`]);
      assert.equal(killed.code, 0, killed.stderr);
      // Where the trainer ran on this host its dead pid may be seen first ("process ... is gone"); the Slurm state
      // comes with the monitor's next poll and then names the crash.
      const slurmEnd = new RegExp(`^Slurm job ${jobs.a} ended FAILED while the trainer was running$`);
      const run = await waitFor(
        'A shown crashed with its Slurm state',
        () => {
          const r = store.get(ids.a);
          return r?.status === 'crashed' && r.crash.crashed && slurmEnd.test(r.crash.detail) && r;
        },
        3 * MIN,
      );
      const detail = run.crash.crashed ? run.crash.detail : '';
      assert.match(detail, new RegExp(`^Slurm job ${jobs.a} ended FAILED while the trainer was running$`));
      assert.equal(runJson('a').status, 'running', 'killed: the trainer could not write its end');
      process.stderr.write(`[slurm test] killed: ${detail}\n`);
    },
  );

  test(
    'sbatch from a terminal: the run shows up with its job; near the time limit the trainer saves, the job requeues and resumes',
    { timeout: 25 * MIN },
    async () => {
      // Submitted as a person does (sbatch, no launch.json), with a requeue on the time-limit signal.
      const jobId = await submit('c', 2000, { time: '15', signal: 'USR1@240', requeue: true }, false);
      const run = await waitFor(
        "the terminal job's run, training",
        () => {
          const r = store.get(ids.c ?? '');
          return r && (r.step ?? 0) >= 1 && r;
        },
        15 * MIN,
      );
      assert.equal(run.job?.origin, 'terminal');
      assert.equal(run.job?.jobId, jobId);
      assert.ok(!fs.existsSync(path.join(run.dir, 'launch.json')));
      // The time limit comes near: shortened as an administrator would, to 170-230 s from now, within the 240 s notice.
      const elapsed = (await runCommand('squeue', ['-h', '-j', jobId, '-o', '%M'])).stdout.trim();
      const parts = elapsed.split(/[-:]/).map(Number);
      const seconds = parts.reduce((acc, x) => acc * 60 + x, 0);
      const minutes = Math.floor((seconds + 230) / 60);
      const upd = await runCommand('scontrol', ['update', `JobId=${jobId}`, `TimeLimit=${minutes}`]);
      assert.equal(upd.code, 0, upd.stderr);
      await waitFor('the trainer stopped on the notice', () => runJson('c')?.status === 'stopped', 6 * MIN);
      const savedAt = runJson('c').step as number;
      assert.ok(fs.existsSync(path.join(run.dir, 'checkpoints', String(savedAt).padStart(6, '0'))), `checkpoint of step ${savedAt}`);
      assert.match(logOf('c'), /SIGUSR1: Slurm's notice before the time limit/);
      await waitFor('the job requeueing itself', () => new RegExp(`requeueing job ${jobId}`).test(logOf('c')), 3 * MIN);
      await waitFor('the requeued job shown queued', () => /^queued/.test(shown(store.get(ids.c)!)), 3 * MIN);
      // The new run of the job gets the time back (the shortened limit would warn it at once).
      await runCommand('scontrol', ['update', `JobId=${jobId}`, 'TimeLimit=15']);
      await waitFor(
        'the requeued job resumed from the checkpoint',
        () => eventsOf('c').some((e) => e.type === 'run_started' && e.resumed_from_step === savedAt),
        15 * MIN,
      );
      assert.equal(runJson('c').slurm.restart_count, 1);
      const stop = await stopSlurmJob(client, { jobId, trainerStarted: true, status: store.get(ids.c)!.job!.status, graceMs: 10 * MIN });
      assert.equal(stop.outcome, 'stopped');
      await waitFor('C shown stopped', () => store.get(ids.c)?.status === 'stopped', 2 * MIN);
      process.stderr.write(`[slurm test] C: ${seen.get(ids.c)!.join(' -> ')}\n`);
    },
  );
});
