// launch.json as the extension writes it (recordJob, src/core/launchFile.ts) against the run format's schema
// (trainer/trapo/schemas/launch.schema.json, draft 2020-12), validated with ajv: the first job of a new run and the
// job of a Resume, with the arguments slurmLauncher.ts passes. The schema is compiled strictly, and a few wrong
// files are shown to be refused, so that a schema that accepted anything would fail here too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { readLaunchInfo, recordJob } from '../../src/core/launchFile';
import { DEFAULT_JOB_OPTIONS } from '../../src/core/slurmScript';
import { tempDir } from '../helpers/runDir';

const SCHEMA = path.join(__dirname, '..', '..', 'trainer', 'trapo', 'schemas', 'launch.schema.json');
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(JSON.parse(fs.readFileSync(SCHEMA, 'utf8')));

function check(value: unknown): string[] {
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

const onDisk = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'launch.json'), 'utf8'));

test('launch.json of a first job and of a resume job is valid against launch.schema.json', async () => {
  const dir = tempDir();
  const now = Date.now() / 1000;
  // as submitSlurmRun records a new run (startRun.ts: config file, total steps, the options of the quick pick)
  await recordJob(
    dir,
    { runId: '20261125-142501-demo-3f9a', name: 'demo', algorithm: 'trapo', configFile: '/ws/demo.trapo.yaml', totalSteps: 250, now },
    {
      job_id: '4242',
      submitted_at: now,
      script: 'slurm/job-1.sbatch',
      reason: 'start',
      options: { ...DEFAULT_JOB_OPTIONS, nodes: 2, extraDirectives: ['--qos=high'] },
    },
  );
  const first = onDisk(dir);
  assert.deepEqual(check(first), []);
  assert.equal(first.jobs.length, 1);

  // as resumeRun records a Resume (no config file, the run's own total steps), here of a requeued array task's id
  await recordJob(
    dir,
    { runId: '20261125-142501-demo-3f9a', name: 'demo', algorithm: 'trapo', configFile: null, totalSteps: 250, now: now + 60 },
    { job_id: '4250_3', submitted_at: now + 60, script: 'slurm/job-2.sbatch', reason: 'resume', options: { ...DEFAULT_JOB_OPTIONS } },
  );
  const resumed = onDisk(dir);
  assert.deepEqual(check(resumed), []);
  assert.deepEqual(
    resumed.jobs.map((j: { reason: string }) => j.reason),
    ['start', 'resume'],
  );
  assert.equal(resumed.config_file, '/ws/demo.trapo.yaml', "a resume keeps the first job's config file");
  assert.deepEqual(await readLaunchInfo(dir), resumed, 'the reader reads back what the schema accepts');

  // a resume of a run whose first job recorded no algorithm nor total steps (a run started outside the extension)
  const bare = tempDir();
  await recordJob(
    bare,
    { runId: 'r', name: 'r', configFile: null, totalSteps: null, now },
    { job_id: '7', submitted_at: now, script: 'slurm/job-1.sbatch', reason: 'resume' },
  );
  assert.deepEqual(check(onDisk(bare)), []);
});

test('the schema refuses what the format forbids (the check above can fail)', async () => {
  const dir = tempDir();
  await recordJob(
    dir,
    { runId: 'r', name: 'demo', configFile: null, totalSteps: 10, now: 1 },
    { job_id: '10', submitted_at: 2, script: 'slurm/job-1.sbatch', reason: 'start' },
  );
  const good = onDisk(dir);
  assert.deepEqual(check(good), []);
  type Launch = Record<string, unknown> & { jobs: Record<string, unknown>[] };
  const bad: [string, (x: Launch) => void, RegExp][] = [
    ["a job id that is not Slurm's", (x) => (x.jobs[0].job_id = 'abc'), /\/jobs\/0\/job_id must match pattern/],
    ['a reason outside start/resume', (x) => (x.jobs[0].reason = 'requeue'), /\/jobs\/0\/reason must be equal to one of the allowed values/],
    ['a job without its script', (x) => delete x.jobs[0].script, /\/jobs\/0 must have required property 'script'/],
    ['an empty name', (x) => (x.name = ''), /\/name must NOT have fewer than 1 characters/],
    ['another format', (x) => (x.format = 'trapo-launch/2'), /\/format must be equal to constant/],
    ['a negative total_steps', (x) => (x.total_steps = -1), /\/total_steps must be >= 0/],
  ];
  for (const [what, spoil, want] of bad) {
    const copy = structuredClone(good) as Launch;
    spoil(copy);
    assert.match(check(copy).join('; '), want, what);
  }
});
