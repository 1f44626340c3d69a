// The sbatch script: what it asks Slurm for, how it runs torchrun, and (run by bash against fake srun, scontrol and
// scancel) what it does on Slurm's time-limit signal, on a Stop, and when it resumes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_JOB_OPTIONS,
  SbatchScriptRequest,
  SlurmJobOptions,
  activateScriptFor,
  buildSbatchScript,
  directiveLine,
  parseSignalSpec,
  parseTimeLimit,
  shellQuote,
  validateJobOptions,
} from '../../src/core/slurmScript';
import { jobOptionsFrom, nextScriptPath, readLaunchInfo, recordJob } from '../../src/core/launchFile';
import { parseLaunchInfo } from '../../src/core/runFormat';
import { tempDir } from '../helpers/runDir';

function request(options: Partial<SlurmJobOptions> = {}, over: Partial<SbatchScriptRequest> = {}): SbatchScriptRequest {
  return {
    runId: '20261201-120000-demo-ab12',
    runName: 'demo trapo',
    runDir: '/shared/ws/runs/20261201-120000-demo-ab12',
    cwd: '/shared/ws',
    python: '/shared/venv/bin/python',
    configFile: '/shared/ws/my config.trapo.yaml',
    options: { ...DEFAULT_JOB_OPTIONS, ...options },
    writtenAt: new Date('2026-12-01T12:00:00Z'),
    ...over,
  };
}

function script(options: Partial<SlurmJobOptions> = {}, over: Partial<SbatchScriptRequest> = {}, activate: string | null = null): string {
  const r = buildSbatchScript(request(options, over), activate);
  if (!r.ok) throw new Error(r.error);
  return r.script;
}

test('the directives: nodes, one task per node, GPUs, CPUs, time, partition, account, signal, requeue, extra lines', () => {
  const s = script({
    nodes: 2,
    gpusPerNode: 8,
    processesPerNode: 8,
    cpusPerTask: 64,
    time: '04:00:00',
    partition: 'gpu',
    account: 'proj-42',
    extraDirectives: ['--qos=high', '#SBATCH --mem=200G'],
    requeue: true,
  });
  const directives = s.split('\n').filter((l) => l.startsWith('#SBATCH'));
  assert.deepEqual(directives, [
    '#SBATCH --job-name=trapo-demo-trapo',
    '#SBATCH --output=/shared/ws/runs/20261201-120000-demo-ab12/logs/slurm-%j.out',
    '#SBATCH --open-mode=append',
    '#SBATCH --chdir=/shared/ws',
    '#SBATCH --nodes=2',
    '#SBATCH --ntasks-per-node=1',
    '#SBATCH --cpus-per-task=64',
    '#SBATCH --gpus-per-node=8',
    '#SBATCH --time=04:00:00',
    '#SBATCH --partition=gpu',
    '#SBATCH --account=proj-42',
    '#SBATCH --signal=B:USR1@120',
    '#SBATCH --requeue',
    '#SBATCH --qos=high',
    '#SBATCH --mem=200G',
  ]);
  // Every #SBATCH line comes before the first command (sbatch stops reading them there).
  const firstCommand = s.split('\n').findIndex((l) => l && !l.startsWith('#'));
  const lastDirective = s.split('\n').reduce((last, l, i) => (l.startsWith('#SBATCH') ? i : last), -1);
  assert.ok(lastDirective < firstCommand);
  assert.equal(spawnSync('bash', ['-n'], { input: s }).status, 0, 'bash -n: the script parses');
});

test('defaults ask for little: no GPUs, CPUs, time, partition or account lines; no requeue', () => {
  const s = script();
  for (const re of [/--gpus-per-node/, /--cpus-per-task/, /--time=/, /--partition/, /--account/]) assert.doesNotMatch(s, re);
  assert.match(s, /^#SBATCH --no-requeue$/m);
  assert.doesNotMatch(script({ signal: '' }), /--signal=|scancel/);
});

test('srun torchrun with a c10d rendezvous on the first node, the nodes of the job, the venv activated', () => {
  const s = script({ nodes: 4, processesPerNode: 8 }, {}, '/shared/venv/bin/activate');
  assert.match(s, /^source \/shared\/venv\/bin\/activate$/m);
  assert.match(s, /^head_node=\$\(scontrol show hostnames "\$SLURM_JOB_NODELIST" \| head -n 1\)$/m);
  assert.match(s, /^srun --ntasks-per-node=1 --kill-on-bad-exit=1 "\$PYTHON" -m torch\.distributed\.run \\$/m);
  assert.match(s, /--nnodes="\$SLURM_NNODES" --nproc-per-node=8/);
  assert.match(s, /--rdzv-backend=c10d --rdzv-endpoint="\$head_node:\$port" --rdzv-id="\$SLURM_JOB_ID"/);
  assert.match(s, /-m trapo train --run-dir "\$RUN_DIR" "\$@" >>"\$RUN_DIR\/logs\/trainer\.log" 2>&1 &/);
  assert.match(s, /^CONFIG='\/shared\/ws\/my config\.trapo\.yaml'$/m, 'a path with a space is quoted');
  assert.match(s, /^export PET_SIGNALS_TO_HANDLE=SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1$/m);
  assert.match(script({}, { torchrunPath: '/opt/torchrun' }), /^srun --ntasks-per-node=1 --kill-on-bad-exit=1 \/opt\/torchrun \\$/m);
  assert.match(script({ setupCommands: ['module load cuda/12.4'] }), /^module load cuda\/12\.4$/m);
});

test('bad options are refused with the field named', () => {
  const bad = (o: Partial<SlurmJobOptions>) => validateJobOptions({ ...DEFAULT_JOB_OPTIONS, ...o });
  assert.match(bad({ nodes: 0 })!, /^nodes/);
  assert.match(bad({ processesPerNode: 1.5 })!, /^processes per node/);
  assert.match(bad({ time: '4h' })!, /^time "4h"/);
  assert.match(bad({ signal: 'USR9@10' })!, /^signal: signal USR9/);
  assert.match(bad({ time: '1', signal: 'USR1@120' })!, /would come at once/);
  assert.match(bad({ signal: '', requeue: true })!, /requeue needs a signal/);
  assert.match(bad({ partition: 'gpu; rm -rf /' })!, /^partition/);
  assert.match(bad({ extraDirectives: ['--mem=1G\nrm -rf /'] })!, /extra #SBATCH line/);
  assert.match(bad({ extraDirectives: ['echo hi'] })!, /extra #SBATCH line/);
  assert.equal(bad({ time: '2-00:00:00', signal: 'USR2@600', requeue: true }), null);
  const r = buildSbatchScript(request({}, { runDir: 'runs/x' }));
  assert.ok(!r.ok && /absolute/.test(r.error));
});

test('Slurm time formats, signal specs, directive lines, quoting', () => {
  assert.equal(parseTimeLimit('90'), 5400);
  assert.equal(parseTimeLimit('90:30'), 5430);
  assert.equal(parseTimeLimit('04:00:00'), 14400);
  assert.equal(parseTimeLimit('1-12'), 129600);
  assert.equal(parseTimeLimit('1-00:30'), 88200);
  assert.equal(parseTimeLimit('2-01:02:03'), 176523);
  assert.equal(parseTimeLimit('UNLIMITED'), null);
  assert.equal(parseTimeLimit('four hours'), undefined);
  assert.deepEqual(parseSignalSpec('B:SIGUSR1@90'), { signal: 'USR1', seconds: 90 });
  assert.ok('error' in parseSignalSpec('USR1'));
  assert.equal(directiveLine('-q high'), '#SBATCH -q high');
  assert.equal(directiveLine('qos=high'), null);
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(
    activateScriptFor('python3', () => true),
    null,
    'a bare name has no venv to activate',
  );
  assert.equal(
    activateScriptFor('/v/bin/python', (f) => f === '/v/bin/activate'),
    '/v/bin/activate',
  );
});

test('launch.json: the first job creates it, later jobs append; options read back with defaults for what is wrong', async () => {
  const dir = tempDir();
  const run = { runId: 'R', name: 'demo', algorithm: 'trapo', configFile: '/ws/demo.trapo.yaml', totalSteps: 250, now: 1 };
  assert.equal(nextScriptPath(null), 'slurm/job-1.sbatch');
  await recordJob(dir, run, { job_id: '10', submitted_at: 2, script: 'slurm/job-1.sbatch', reason: 'start', options: { nodes: 2 } });
  const info = await recordJob(dir, run, { job_id: '11', submitted_at: 3, script: nextScriptPath(await readLaunchInfo(dir)), reason: 'resume' });
  assert.deepEqual(
    info.jobs.map((j) => [j.job_id, j.script, j.reason]),
    [
      ['10', 'slurm/job-1.sbatch', 'start'],
      ['11', 'slurm/job-2.sbatch', 'resume'],
    ],
  );
  const again = parseLaunchInfo(fs.readFileSync(path.join(dir, 'launch.json'), 'utf8'));
  assert.equal(again.config_file, '/ws/demo.trapo.yaml');
  assert.deepEqual(fs.readdirSync(dir), ['launch.json'], 'written atomically: no temp file left');
  const o = jobOptionsFrom({ nodes: 2, time: '10', requeue: true, gpusPerNode: 'eight', extraDirectives: ['--qos=x', 3] });
  assert.equal(o.nodes, 2);
  assert.equal(o.time, '10');
  assert.equal(o.requeue, true);
  assert.equal(o.gpusPerNode, DEFAULT_JOB_OPTIONS.gpusPerNode);
  assert.deepEqual(o.extraDirectives, []);
  assert.throws(
    () => parseLaunchInfo('{"format":"trapo-launch/1","launcher":"slurm","run_id":"R","name":"d","created_at":1,"jobs":[{"job_id":"x"}]}'),
    /"jobs"/,
  );
});

// ------------------------------------------------------------------------------------------------ the script, run

const FAKE_SRUN = `#!/bin/bash
# A trainer under srun: writes run.json as the trainer does, and on SIGUSR1/SIGINT "saves" and stops.
echo "$*" >"$FAKE/srun.args"
echo $$ >"$FAKE/srun.pid"
run_json() { printf '{"status": "%s", "step": %s, "slurm": {"job_id": "%s", "restart_count": %s}}\\n' "$1" "$2" "$SLURM_JOB_ID" "\${SLURM_RESTART_COUNT:-0}" >"$RUN_DIR/run.json"; }
run_json running "$FAKE_START_STEP"
stop=
trap 'stop=1' USR1 TERM
while [ -z "$stop" ]; do sleep 0.05; done
run_json stopped "$FAKE_END_STEP"
exit 1  # torchrun exits non-zero after passing a signal on
`;
// The fake srun runs in the background of a non-interactive bash, where SIGINT is ignored (the real step's tasks are
// children of slurmstepd, not of the batch shell): the fake scancel delivers a Stop's INT to it as TERM.
const FAKE_SCANCEL = `#!/bin/bash
echo "$*" >>"$FAKE/scancel.log"
case "$1" in --signal=INT) kill -TERM "$(cat "$FAKE/srun.pid")" ;; --signal=*) kill -"\${1#--signal=}" "$(cat "$FAKE/srun.pid")" ;; esac
`;
const FAKE_SCONTROL = `#!/bin/bash
case "$1" in
  show) echo node1; echo node2 ;;
  requeue) echo "$2" >>"$FAKE/requeue.log" ;;
esac
`;

interface ScriptRun {
  code: number | null;
  fake: string;
  runDir: string;
  read(name: string): string;
}

/**
 * Runs the generated script with bash against the fakes; `signal` is sent to the batch shell (as Slurm's
 * --signal=B:... does) or, with `stopWith: 'scancel'`, a Stop's `scancel --signal=INT` reaches the step.
 */
async function runScript(o: {
  options?: Partial<SlurmJobOptions>;
  send: 'time-signal' | 'stop';
  startStep: number;
  endStep: number;
  existingRun?: boolean;
}): Promise<ScriptRun> {
  const fake = tempDir('trapo-fake-slurm-');
  const runDir = path.join(fake, 'run');
  fs.mkdirSync(path.join(runDir, 'logs'), { recursive: true });
  const bin = path.join(fake, 'bin');
  fs.mkdirSync(bin);
  for (const [name, text] of Object.entries({ srun: FAKE_SRUN, scancel: FAKE_SCANCEL, scontrol: FAKE_SCONTROL })) {
    fs.writeFileSync(path.join(bin, name), text, { mode: 0o755 });
  }
  if (o.existingRun) fs.writeFileSync(path.join(runDir, 'run.json'), '{"status": "stopped", "step": 2}\n');
  const s = script({ signal: 'USR1@60', ...o.options }, { runDir, cwd: fake, python: 'python3', configFile: '/ws/c.yaml' });
  fs.writeFileSync(path.join(fake, 'job.sbatch'), s);
  const env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    FAKE: fake,
    RUN_DIR: runDir,
    FAKE_START_STEP: String(o.startStep),
    FAKE_END_STEP: String(o.endStep),
    SLURM_JOB_ID: '77',
    SLURM_JOB_NODELIST: 'node[1-2]',
    SLURM_NNODES: '2',
  };
  const child = spawn('bash', [path.join(fake, 'job.sbatch')], { env, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const read = (name: string) => (fs.existsSync(path.join(fake, name)) ? fs.readFileSync(path.join(fake, name), 'utf8') : '');
  const deadline = Date.now() + 20_000;
  while (!read('run/run.json').includes('"running"')) {
    if (Date.now() > deadline) throw new Error('the fake trainer did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  if (o.send === 'time-signal') child.kill('SIGUSR1');
  else spawnSync(path.join(bin, 'scancel'), ['--signal=INT', '77'], { env });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  return { code, fake, runDir, read };
}

test('the time-limit signal: passed on to the step once the trainer is up, and with requeue the job is requeued', async () => {
  const r = await runScript({ options: { requeue: true }, send: 'time-signal', startStep: 0, endStep: 3 });
  assert.equal(r.code, 0, 'the trainer stopped: the job ends well even though srun exited 1');
  assert.equal(r.read('scancel.log'), '--signal=USR1 77\n');
  assert.equal(r.read('requeue.log'), '77\n');
  assert.match(
    r.read('srun.args').trim(),
    /--nnodes=2 --nproc-per-node=1 --rdzv-backend=c10d --rdzv-endpoint=node1:\d+ --rdzv-id=77 -m trapo train --run-dir \S+ --config \/ws\/c\.yaml$/,
  );
  const log = r.read('run/logs/trainer.log');
  assert.match(log, /SIGUSR1: the time limit is near/);
  assert.match(log, /requeueing job 77/);
});

test('the time-limit signal without progress in the job: no requeue (it would loop for ever)', async () => {
  const r = await runScript({ options: { requeue: true }, send: 'time-signal', startStep: 2, endStep: 2, existingRun: true });
  assert.equal(r.code, 0);
  assert.equal(r.read('requeue.log'), '');
  assert.match(r.read('srun.args').trim(), / --resume$/, 'run.json existed: the job resumes');
  assert.match(r.read('run/logs/trainer.log'), /not requeueing: no step was completed in this job/);
});

test('a Stop (scancel --signal=INT to the step) is not requeued even with requeue on', async () => {
  const r = await runScript({ options: { requeue: true }, send: 'stop', startStep: 0, endStep: 4 });
  assert.equal(r.code, 0);
  assert.equal(r.read('requeue.log'), '');
  assert.match(r.read('run/logs/trainer.log'), /srun exited with 1; the run is stopped at step 4/);
});
