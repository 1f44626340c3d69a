// The run directory format `trapo-run/1` as TypeScript types and parsers. No `vscode` import.
// Specified in architecture.md §2; the JSON Schemas in trainer/trapo/schemas/ are the source of truth and the
// fixture runs under test/fixtures/runs/ (written by the Python writer) are parsed by test/unit/runFormat.test.ts.
// A run submitted to Slurm also holds launch.json (its jobs; written by the extension, src/core/launchFile.ts) and
// run.json's `slurm` (the job its trainer runs in).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export const RUN_FORMAT = 'trapo-run/1';
export const EVENT_VERSION = 1;

export type RunStatus = 'running' | 'finished' | 'failed' | 'stopped';
export const ALGORITHMS = ['trapo', 'grpo', 'sft', 'sft_then_rl', 'luffy', 'prefix_context', 'prefix_sft'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export interface RunInfo {
  format: typeof RUN_FORMAT;
  id: string;
  name: string;
  algorithm: string;
  created_at: number;
  updated_at?: number;
  config: Record<string, unknown>;
  status: RunStatus;
  pid: number | null;
  host: string;
  trainer_version: string;
  world_size: number;
  device: string;
  total_steps?: number | null;
  step?: number | null;
  /** The Slurm job the trainer runs in; null or absent outside Slurm. */
  slurm?: SlurmRunInfo | null;
}

export interface SlurmRunInfo {
  job_id: string;
  /** SLURM_RESTART_COUNT: how often the job was requeued. */
  restart_count: number;
  node_list: string;
  cluster?: string | null;
}

export const LAUNCH_FORMAT = 'trapo-launch/1';

/** One job submitted for a run (launch.json `jobs`). */
export interface LaunchJob {
  job_id: string;
  submitted_at: number;
  /** The sbatch script, relative to the run directory. */
  script: string;
  reason: 'start' | 'resume';
  /** The job settings the script was written from. */
  options?: Record<string, unknown>;
}

/** launch.json: the jobs submitted for a run (trainer/trapo/schemas/launch.schema.json). */
export interface LaunchInfo {
  format: typeof LAUNCH_FORMAT;
  launcher: 'slurm';
  run_id: string;
  name: string;
  algorithm?: string;
  created_at: number;
  config_file?: string | null;
  total_steps?: number | null;
  jobs: LaunchJob[];
}

interface EventBase {
  v: 1;
  time: number;
  step: number | null;
}

export interface RunStartedEvent extends EventBase {
  type: 'run_started';
  config: Record<string, unknown>;
  total_steps: number;
  model: { name: string; parameters: number };
  device: string;
  world_size: number;
  resumed_from_step: number | null;
  /** The first training row's prompt as the model sees it (trainers before it was added write none). */
  prompt_example?: string | null;
}
export interface MetricsEvent extends EventBase {
  type: 'metrics';
  values: Record<string, number>;
}
export interface StageRecord {
  n: number;
  ratio: number;
  guided: boolean;
  correct: number;
  correct_before: number;
}
export interface PromptAllocation {
  prompt_id: string;
  level: number;
  stages: StageRecord[];
}
export interface PrefixAllocationEvent extends EventBase {
  type: 'prefix_allocation';
  prompts: PromptAllocation[];
}
export interface RolloutsEvent extends EventBase {
  type: 'rollouts';
  file: string;
  count: number;
}
export interface BenchmarkResult {
  accuracy: number;
  n: number;
  samples_per_problem: number;
  file: string;
  /** What `accuracy` is: "avg@k" (the mean over k samples a problem) or "pass@1"; absent from older trainers. */
  metric?: string;
}
export interface EvalEvent extends EventBase {
  type: 'eval';
  benchmarks: Record<string, BenchmarkResult>;
  average: number;
}
export interface CheckpointEvent extends EventBase {
  type: 'checkpoint';
  path: string;
  onnx: string | null;
  bytes: number;
}
export type Phase = 'rollout' | 'train' | 'eval' | 'checkpoint';
export interface HeartbeatEvent extends EventBase {
  type: 'heartbeat';
  phase: Phase;
}
export interface LogEvent extends EventBase {
  type: 'log';
  level: 'debug' | 'info' | 'warning' | 'error';
  message: string;
}
export interface RunFinishedEvent extends EventBase {
  type: 'run_finished';
  status: 'finished' | 'failed' | 'stopped';
  error?: { type: string; message: string; traceback: string } | null;
}

export type RunEvent =
  | RunStartedEvent
  | MetricsEvent
  | PrefixAllocationEvent
  | RolloutsEvent
  | EvalEvent
  | CheckpointEvent
  | HeartbeatEvent
  | LogEvent
  | RunFinishedEvent;
export type RunEventType = RunEvent['type'];

export interface TokenInfo {
  text: string;
  logprob: number;
  entropy: number;
  prefix: boolean;
}
export interface RolloutRecord {
  step: number;
  prompt_id: string;
  sample: number;
  stage: number;
  level: number;
  prompt: string;
  prefix: string;
  prefix_ratio?: number;
  completion: string;
  reward: number;
  advantage: number;
  answer: string;
  extracted: string | null;
  sft_owner: boolean;
  tokens?: TokenInfo[];
}
export interface EvalSample {
  completion: string;
  extracted: string | null;
  correct: boolean;
}
export interface EvalRecord {
  problem_id: string;
  prompt: string;
  answer: string;
  samples: EvalSample[];
  accuracy: number;
}

export type ParsedLine =
  | { kind: 'event'; event: RunEvent }
  | { kind: 'unknown'; type: string }
  | { kind: 'malformed'; reason: string };

export class RunFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunFormatError';
  }
}

// ----------------------------------------------------------------------------------------------- small checkers

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isInt = (x: unknown): x is number => Number.isInteger(x);
const isStr = (x: unknown): x is string => typeof x === 'string';
const isBool = (x: unknown): x is boolean => typeof x === 'boolean';
const isNullOr = <T>(check: (x: unknown) => x is T) => (x: unknown): x is T | null => x === null || check(x);

/** Returns the name of the first field that fails its check, or undefined when all pass. */
function firstBad(o: Obj, checks: Record<string, (x: unknown) => boolean>): string | undefined {
  for (const [key, check] of Object.entries(checks)) if (!check(o[key])) return key;
  return undefined;
}

const STAGE_CHECKS = { n: isInt, ratio: isNum, guided: isBool, correct: isInt, correct_before: isInt };
const isStage = (x: unknown) => isObj(x) && firstBad(x, STAGE_CHECKS) === undefined;
const isPromptAllocation = (x: unknown) =>
  isObj(x) && isStr(x.prompt_id) && isInt(x.level) && Array.isArray(x.stages) && x.stages.every(isStage);
const isBenchmarkResult = (x: unknown) =>
  isObj(x) && isNum(x.accuracy) && isInt(x.n) && isInt(x.samples_per_problem) && isStr(x.file);

/** Payload checks per event type. A `Record` over the union's tags: adding a type without its check fails to compile. */
const EVENT_CHECKS: Record<RunEventType, Record<string, (x: unknown) => boolean>> = {
  run_started: {
    config: isObj,
    total_steps: isInt,
    model: (m) => isObj(m) && isStr(m.name) && isInt(m.parameters),
    device: isStr,
    world_size: isInt,
    resumed_from_step: isNullOr(isInt),
  },
  metrics: { values: (v) => isObj(v) && Object.values(v).every(isNum) },
  prefix_allocation: { prompts: (p) => Array.isArray(p) && p.every(isPromptAllocation) },
  rollouts: { file: isStr, count: isInt },
  eval: { benchmarks: (b) => isObj(b) && Object.values(b).every(isBenchmarkResult), average: isNum },
  checkpoint: { path: isStr, onnx: isNullOr(isStr), bytes: isInt },
  heartbeat: { phase: (p) => p === 'rollout' || p === 'train' || p === 'eval' || p === 'checkpoint' },
  log: { level: (l) => l === 'debug' || l === 'info' || l === 'warning' || l === 'error', message: isStr },
  run_finished: {
    status: (s) => s === 'finished' || s === 'failed' || s === 'stopped',
    error: (e) =>
      e === undefined || e === null || (isObj(e) && isStr(e.type) && isStr(e.message) && isStr(e.traceback)),
  },
};

export function isKnownEventType(type: string): type is RunEventType {
  return Object.prototype.hasOwnProperty.call(EVENT_CHECKS, type);
}

/** Parses one line of events.jsonl. Never throws: bad lines are `malformed`, unknown types `unknown`. */
export function parseEventLine(line: string): ParsedLine {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return { kind: 'malformed', reason: 'not JSON' };
  }
  return parseEventObject(obj);
}

export function parseEventObject(obj: unknown): ParsedLine {
  if (!isObj(obj)) return { kind: 'malformed', reason: 'not an object' };
  if (!isStr(obj.type)) return { kind: 'malformed', reason: 'no "type"' };
  if (obj.v !== EVENT_VERSION) {
    // A future version of the format: not ours to interpret.
    return isInt(obj.v) ? { kind: 'unknown', type: `${obj.type}@v${obj.v}` } : { kind: 'malformed', reason: 'no "v"' };
  }
  if (!isNum(obj.time)) return { kind: 'malformed', reason: 'no numeric "time"' };
  if (!(obj.step === null || (isInt(obj.step) && obj.step >= 0))) return { kind: 'malformed', reason: 'bad "step"' };
  if (!isKnownEventType(obj.type)) return { kind: 'unknown', type: obj.type };
  const bad = firstBad(obj, EVENT_CHECKS[obj.type]);
  if (bad !== undefined) return { kind: 'malformed', reason: `${obj.type}: bad "${bad}"` };
  return { kind: 'event', event: obj as unknown as RunEvent };
}

const RUN_INFO_CHECKS = {
  id: isStr,
  name: isStr,
  algorithm: isStr,
  created_at: isNum,
  config: isObj,
  status: (s: unknown) => s === 'running' || s === 'finished' || s === 'failed' || s === 'stopped',
  pid: isNullOr(isInt),
  host: isStr,
  trainer_version: isStr,
  world_size: isInt,
  device: isStr,
};

/** A Slurm job id ("123", "123_4"): it goes on squeue's and scancel's command lines. */
const isJobId = (x: unknown): x is string => isStr(x) && /^\d+(_\d+)?$/.test(x);
const SLURM_INFO_CHECKS = { job_id: isJobId, restart_count: isInt, node_list: isStr };
const LAUNCH_JOB_CHECKS = {
  job_id: isJobId,
  submitted_at: isNum,
  script: isStr,
  reason: (x: unknown) => x === 'start' || x === 'resume',
  options: (x: unknown) => x === undefined || isObj(x),
};
const LAUNCH_CHECKS = {
  launcher: (x: unknown) => x === 'slurm',
  run_id: isStr,
  name: isStr,
  created_at: isNum,
  jobs: (x: unknown) => Array.isArray(x) && x.every((j) => isObj(j) && firstBad(j, LAUNCH_JOB_CHECKS) === undefined),
};

/** Parses launch.json. Throws RunFormatError naming the field at fault. */
export function parseLaunchInfo(text: string, where = 'launch.json'): LaunchInfo {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new RunFormatError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObj(obj)) throw new RunFormatError(`${where}: not a JSON object`);
  if (obj.format !== LAUNCH_FORMAT) throw new RunFormatError(`${where}: format is ${JSON.stringify(obj.format)}, expected "${LAUNCH_FORMAT}"`);
  const bad = firstBad(obj, LAUNCH_CHECKS);
  if (bad !== undefined) throw new RunFormatError(`${where}: missing or invalid "${bad}"`);
  return obj as unknown as LaunchInfo;
}

/** Parses run.json. Throws RunFormatError naming the field at fault. */
export function parseRunInfo(text: string, where = 'run.json'): RunInfo {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new RunFormatError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObj(obj)) throw new RunFormatError(`${where}: not a JSON object`);
  if (obj.format !== RUN_FORMAT) throw new RunFormatError(`${where}: format is ${JSON.stringify(obj.format)}, expected "${RUN_FORMAT}"`);
  const bad = firstBad(obj, RUN_INFO_CHECKS);
  if (bad !== undefined) throw new RunFormatError(`${where}: missing or invalid "${bad}"`);
  // An unreadable slurm field loses only the job's state, not the run.
  if (obj.slurm !== undefined && obj.slurm !== null && !(isObj(obj.slurm) && firstBad(obj.slurm, SLURM_INFO_CHECKS) === undefined)) {
    obj.slurm = null;
  }
  return obj as unknown as RunInfo;
}

const TOKEN_CHECKS = { text: isStr, logprob: isNum, entropy: isNum, prefix: isBool };
const ROLLOUT_CHECKS = {
  step: isInt,
  prompt_id: isStr,
  sample: isInt,
  stage: isInt,
  level: isInt,
  prompt: isStr,
  prefix: isStr,
  completion: isStr,
  reward: isNum,
  advantage: isNum,
  answer: isStr,
  extracted: isNullOr(isStr),
  sft_owner: isBool,
  prefix_ratio: (x: unknown) => x === undefined || isNum(x),
  tokens: (x: unknown) => x === undefined || (Array.isArray(x) && x.every((t) => isObj(t) && firstBad(t, TOKEN_CHECKS) === undefined)),
};

/** One rollout line, or undefined when it is not one (torn, malformed). */
export function parseRolloutLine(line: string): RolloutRecord | undefined {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return undefined;
  }
  return isObj(obj) && firstBad(obj, ROLLOUT_CHECKS) === undefined ? (obj as unknown as RolloutRecord) : undefined;
}

const EVAL_SAMPLE_CHECKS = { completion: isStr, extracted: isNullOr(isStr), correct: isBool };
const EVAL_CHECKS = {
  problem_id: isStr,
  prompt: isStr,
  answer: isStr,
  samples: (x: unknown) => Array.isArray(x) && x.every((s) => isObj(s) && firstBad(s, EVAL_SAMPLE_CHECKS) === undefined),
  accuracy: isNum,
};

/** One evaluated problem, or undefined when the line is not one. */
export function parseEvalLine(line: string): EvalRecord | undefined {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return undefined;
  }
  return isObj(obj) && firstBad(obj, EVAL_CHECKS) === undefined ? (obj as unknown as EvalRecord) : undefined;
}

// ----------------------------------------------------------------------------------------------- files

export async function readRunInfo(runDir: string): Promise<RunInfo> {
  const file = path.join(runDir, 'run.json');
  return parseRunInfo(await fs.readFile(file, 'utf8'), file);
}

export interface JsonLines<T> {
  records: T[];
  skipped: number;
}

/** Reads a whole (small) JSON-lines file; lines `parse` rejects are skipped and counted. */
export async function readJsonLines<T>(file: string, parse: (line: string) => T | undefined): Promise<JsonLines<T>> {
  const text = await fs.readFile(file, 'utf8');
  const records: T[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const rec = parse(line);
    if (rec === undefined) skipped++;
    else records.push(rec);
  }
  return { records, skipped };
}

/** Paths inside a run directory (architecture.md §2). */
export const runPaths = {
  runJson: (runDir: string) => path.join(runDir, 'run.json'),
  events: (runDir: string) => path.join(runDir, 'events.jsonl'),
  rollouts: (runDir: string, step: number) => path.join(runDir, 'rollouts', `${pad6(step)}.jsonl`),
  evalFile: (runDir: string, step: number, benchmark: string) => path.join(runDir, 'evals', pad6(step), `${benchmark}.jsonl`),
  checkpoint: (runDir: string, step: number) => path.join(runDir, 'checkpoints', pad6(step)),
  log: (runDir: string) => path.join(runDir, 'logs', 'trainer.log'),
  launch: (runDir: string) => path.join(runDir, 'launch.json'),
  slurmLog: (runDir: string, jobId: string) => path.join(runDir, 'logs', `slurm-${jobId}.out`),
};

export function pad6(step: number): string {
  return String(step).padStart(6, '0');
}
