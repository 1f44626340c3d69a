// Writing launch.json (no vscode): the extension is its only writer (the trainer records its own job in run.json).
// Rewritten atomically (temp file, rename), as run.json is, so a reader never sees half of it.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LAUNCH_FORMAT, LaunchInfo, LaunchJob, parseLaunchInfo, runPaths } from './runFormat';
import { DEFAULT_JOB_OPTIONS, SlurmJobOptions } from './slurmScript';

export async function readLaunchInfo(runDir: string): Promise<LaunchInfo | null> {
  const file = runPaths.launch(runDir);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return null;
  }
  return parseLaunchInfo(text, file);
}

export async function writeLaunchInfo(runDir: string, info: LaunchInfo): Promise<void> {
  const file = runPaths.launch(runDir);
  const tmp = path.join(runDir, `.launch.json.tmp-${process.pid}`);
  await fs.writeFile(tmp, `${JSON.stringify(info, null, 2)}\n`, 'utf8');
  await fs.rename(tmp, file);
}

export interface NewLaunch {
  runId: string;
  name: string;
  algorithm?: string;
  configFile: string | null;
  totalSteps: number | null;
  now: number;
}

/** Appends a submitted job to the run's launch.json, creating the file for the run's first job. */
export async function recordJob(runDir: string, run: NewLaunch, job: LaunchJob): Promise<LaunchInfo> {
  const existing = await readLaunchInfo(runDir).catch(() => null);
  const info: LaunchInfo = existing ?? {
    format: LAUNCH_FORMAT,
    launcher: 'slurm',
    run_id: run.runId,
    name: run.name,
    ...(run.algorithm ? { algorithm: run.algorithm } : {}),
    created_at: run.now,
    config_file: run.configFile,
    total_steps: run.totalSteps,
    jobs: [],
  };
  info.jobs.push(job);
  await writeLaunchInfo(runDir, info);
  return info;
}

/** Relative path of the script of the run's next job: slurm/job-<n>.sbatch. */
export function nextScriptPath(info: LaunchInfo | null): string {
  return `slurm/job-${(info?.jobs.length ?? 0) + 1}.sbatch`;
}

/** The job options recorded with a job, each field checked, the defaults for what is missing or of the wrong type. */
export function jobOptionsFrom(record: Record<string, unknown> | undefined, defaults: SlurmJobOptions = DEFAULT_JOB_OPTIONS): SlurmJobOptions {
  const o = record ?? {};
  const str = (k: keyof SlurmJobOptions) => (typeof o[k] === 'string' ? (o[k] as string) : (defaults[k] as string));
  const int = (k: keyof SlurmJobOptions) => (Number.isInteger(o[k]) ? (o[k] as number) : (defaults[k] as number));
  const lines = (k: keyof SlurmJobOptions) =>
    Array.isArray(o[k]) && (o[k] as unknown[]).every((x) => typeof x === 'string') ? [...(o[k] as string[])] : [...(defaults[k] as string[])];
  return {
    partition: str('partition'),
    account: str('account'),
    nodes: int('nodes'),
    gpusPerNode: int('gpusPerNode'),
    processesPerNode: int('processesPerNode'),
    cpusPerTask: int('cpusPerTask'),
    time: str('time'),
    extraDirectives: lines('extraDirectives'),
    setupCommands: lines('setupCommands'),
    signal: str('signal'),
    requeue: typeof o.requeue === 'boolean' ? o.requeue : defaults.requeue,
  };
}
