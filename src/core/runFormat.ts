// The run directory format `trapo-run/1.1` (and the `trapo-run/1` it extends) as TypeScript types and parsers. No
// `vscode` import. Specified in trainer/trapo/schemas/README.md; the JSON Schemas beside it are the source of truth
// and the fixture runs under test/fixtures/runs/ (written by the Python writer) are parsed by test/unit/runFormat.test.ts.
// 1.1 adds rollout lines with `token_stats` (parallel arrays, read back here as 1's `tokens`), per-rollout summaries
// (left out where token_stats holds them), the prompt once per prompt id in a rollouts file (withPrompts fills it in),
// and the `anomaly` event; a 1 run reads as before.
// A run submitted to Slurm also holds launch.json (its jobs; written by the extension, src/core/launchFile.ts) and
// run.json's `slurm` (the job its trainer runs in).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TokenInfo, TokenStats, expandTokenStats, isTokenStats } from './tokenStats';
import { decodeNumber } from '../shared/nonFinite';

/** Every version this reader understands (the trainer writes the last: trainer/trapo/__init__.py RUN_FORMAT). */
export const RUN_FORMATS = ['trapo-run/1', 'trapo-run/1.1'] as const;
export type RunFormatVersion = (typeof RUN_FORMATS)[number];
export const EVENT_VERSION = 1;

export type RunStatus = 'running' | 'finished' | 'failed' | 'stopped';

export interface RunInfo {
  format: RunFormatVersion;
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
  /** As read: finite numbers, and NaN / +-Infinity where the line had "NaN", "Infinity", "-Infinity". */
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
  /** Optional: the benchmark's file as configured, or builtin:<name>. */
  source?: string;
  /** Optional: sha256 of its problems; equal digests are the same problems, whatever the file or name. */
  digest?: string;
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
/** Preparation before the first step; `run_started` ends it. */
export const PREPARE_PHASES = ['load_model', 'warmup', 'load_data'] as const;
export type PreparePhase = (typeof PREPARE_PHASES)[number];
export interface PhaseEvent extends EventBase {
  type: 'phase';
  phase: PreparePhase;
  /** 0..1, or null when the trainer cannot tell how far it is. */
  fraction: number | null;
  message: string;
}
export interface LogEvent extends EventBase {
  type: 'log';
  level: 'debug' | 'info' | 'warning' | 'error';
  message: string;
}
export const ANOMALY_KINDS = ['non_finite_loss', 'entropy_collapse', 'length_limit', 'reward_up_benchmark_down'] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];
/** trapo-run/1.1: a health rule started to hold (trainer/trapo/anomalies.py). */
export interface AnomalyEvent extends EventBase {
  type: 'anomaly';
  kind: AnomalyKind;
  message: string;
  metric: string;
  value: number | null;
  threshold: number;
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
  | PhaseEvent
  | LogEvent
  | AnomalyEvent
  | RunFinishedEvent;
export type RunEventType = RunEvent['type'];

/** Declared in tokenStats.ts (which expands trapo-run/1.1's arrays into it); re-exported as part of the format. */
export type { TokenInfo };
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
  /** trapo-run/1.1 summaries (absent in 1 lines). */
  completion_tokens?: number;
  prefix_tokens?: number;
  mean_entropy?: number | null;
  outside_trust_region?: number | null;
  /** Per-token data: 1's objects, or 1.1's `token_stats` expanded to them by parseRolloutLine. */
  tokens?: TokenInfo[];
  token_stats?: TokenStats;
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
  /** `badValues`: metric values that were neither a number nor a non-finite token, left out of `values`. */
  { kind: 'event'; event: RunEvent; badValues: number } | { kind: 'unknown'; type: string } | { kind: 'malformed'; reason: string };

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
const isNullOr =
  <T>(check: (x: unknown) => x is T) =>
  (x: unknown): x is T | null =>
    x === null || check(x);

/** Returns the name of the first field that fails its check, or undefined when all pass. */
function firstBad(o: Obj, checks: Record<string, (x: unknown) => boolean>): string | undefined {
  for (const [key, check] of Object.entries(checks)) if (!check(o[key])) return key;
  return undefined;
}

const STAGE_CHECKS = { n: isInt, ratio: isNum, guided: isBool, correct: isInt, correct_before: isInt };
const isStage = (x: unknown) => isObj(x) && firstBad(x, STAGE_CHECKS) === undefined;
const isPromptAllocation = (x: unknown) => isObj(x) && isStr(x.prompt_id) && isInt(x.level) && Array.isArray(x.stages) && x.stages.every(isStage);
const isOptStr = (x: unknown) => x === undefined || isStr(x);
export const isBenchmarkResult = (x: unknown): x is BenchmarkResult =>
  isObj(x) && isNum(x.accuracy) && isInt(x.n) && isInt(x.samples_per_problem) && isStr(x.file) && isOptStr(x.source) && isOptStr(x.digest);

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
  // Each value is checked on its own (decodeMetricValues): one bad value does not cost the line its good ones.
  metrics: { values: isObj },
  prefix_allocation: { prompts: (p) => Array.isArray(p) && p.every(isPromptAllocation) },
  rollouts: { file: isStr, count: isInt },
  eval: { benchmarks: (b) => isObj(b) && Object.values(b).every(isBenchmarkResult), average: isNum },
  checkpoint: { path: isStr, onnx: isNullOr(isStr), bytes: isInt },
  heartbeat: { phase: (p) => p === 'rollout' || p === 'train' || p === 'eval' || p === 'checkpoint' },
  phase: {
    phase: (p) => (PREPARE_PHASES as readonly unknown[]).includes(p),
    fraction: (f) => f === null || (isNum(f) && f >= 0 && f <= 1),
    message: isStr,
  },
  log: { level: (l) => l === 'debug' || l === 'info' || l === 'warning' || l === 'error', message: isStr },
  anomaly: {
    kind: (k) => (ANOMALY_KINDS as readonly unknown[]).includes(k),
    message: isStr,
    metric: isStr,
    value: isNullOr(isNum),
    threshold: isNum,
  },
  run_finished: {
    status: (s) => s === 'finished' || s === 'failed' || s === 'stopped',
    error: (e) => e === undefined || e === null || (isObj(e) && isStr(e.type) && isStr(e.message) && isStr(e.traceback)),
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
  let badValues = 0;
  if (obj.type === 'metrics') {
    const decoded = decodeMetricValues(obj.values as Obj);
    obj.values = decoded.values;
    badValues = decoded.bad;
  }
  return { kind: 'event', event: obj as unknown as RunEvent, badValues };
}

/**
 * A metrics line's values as numbers: finite numbers as they are, "NaN" / "Infinity" / "-Infinity" (how the
 * writer spells non-finite values, events.schema.json) as NaN and +-Infinity. Anything else (null from an older
 * writer, a string, a list) is left out and counted; the other values of the line are kept.
 */
export function decodeMetricValues(values: Obj): { values: Record<string, number>; bad: number } {
  const out: Record<string, number> = {};
  let bad = 0;
  for (const key of Object.keys(values)) {
    const v = decodeNumber(values[key]);
    if (v === undefined) bad++;
    else out[key] = v;
  }
  return { values: out, bad };
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

export function isRunFormat(x: unknown): x is RunFormatVersion {
  return (RUN_FORMATS as readonly unknown[]).includes(x);
}

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
  if (!isRunFormat(obj.format)) {
    throw new RunFormatError(`${where}: format is ${JSON.stringify(obj.format)}, expected one of ${RUN_FORMATS.map((f) => `"${f}"`).join(', ')}`);
  }
  const bad = firstBad(obj, RUN_INFO_CHECKS);
  if (bad !== undefined) throw new RunFormatError(`${where}: missing or invalid "${bad}"`);
  // An unreadable slurm field loses only the job's state, not the run.
  if (obj.slurm !== undefined && obj.slurm !== null && !(isObj(obj.slurm) && firstBad(obj.slurm, SLURM_INFO_CHECKS) === undefined)) {
    obj.slurm = null;
  }
  return obj as unknown as RunInfo;
}

/** A number, or a non-finite token ("NaN", "Infinity", "-Infinity"): a log-probability can be -Infinity. */
const isNumeric = (x: unknown) => decodeNumber(x) !== undefined;
const TOKEN_CHECKS = { text: isStr, logprob: isNumeric, entropy: isNumeric, prefix: isBool };
const ROLLOUT_CHECKS = {
  step: isInt,
  prompt_id: isStr,
  sample: isInt,
  stage: isInt,
  level: isInt,
  prompt: (x: unknown) => x === undefined || isStr(x),
  prefix: isStr,
  completion: isStr,
  reward: isNumeric,
  advantage: isNumeric,
  answer: isStr,
  extracted: isNullOr(isStr),
  sft_owner: isBool,
  prefix_ratio: (x: unknown) => x === undefined || isNumeric(x),
  tokens: (x: unknown) => x === undefined || (Array.isArray(x) && x.every((t) => isObj(t) && firstBad(t, TOKEN_CHECKS) === undefined)),
  token_stats: (x: unknown) => x === undefined || isTokenStats(x),
  completion_tokens: (x: unknown) => x === undefined || (isInt(x) && x >= 0),
  prefix_tokens: (x: unknown) => x === undefined || (isInt(x) && x >= 0),
  mean_entropy: (x: unknown) => x === undefined || x === null || isNum(x),
  outside_trust_region: (x: unknown) => x === undefined || x === null || isNum(x),
};

/** A rollout line as written: trapo-run/1.1 gives the prompt on the first line of its prompt id only. */
export type RolloutLine = Omit<RolloutRecord, 'prompt'> & { prompt?: string };

/** The records of one rollouts file in order, each with its prompt (from the first line of its prompt id). */
export function withPrompts(lines: readonly RolloutLine[]): RolloutRecord[] {
  const prompts = new Map<string, string>();
  for (const l of lines) if (l.prompt !== undefined && !prompts.has(l.prompt_id)) prompts.set(l.prompt_id, l.prompt);
  return lines.map((l) => (l.prompt !== undefined ? (l as RolloutRecord) : { ...l, prompt: prompts.get(l.prompt_id) ?? '' }));
}

/**
 * One rollout line, or undefined when it is not one (torn, malformed). A 1.1 line's `token_stats` is expanded into
 * `tokens` (and dropped), so both versions read alike; its prompt may be missing (see withPrompts).
 */
export function parseRolloutLine(line: string): RolloutLine | undefined {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObj(obj) || firstBad(obj, ROLLOUT_CHECKS) !== undefined) return undefined;
  // Non-finite tokens to numbers, so that consumers see numbers only.
  for (const k of ['reward', 'advantage', 'prefix_ratio'] as const) if (obj[k] !== undefined) obj[k] = decodeNumber(obj[k]);
  if (Array.isArray(obj.tokens)) {
    for (const t of obj.tokens as Obj[]) {
      t.logprob = decodeNumber(t.logprob);
      t.entropy = decodeNumber(t.entropy);
    }
  }
  const rec = obj as unknown as RolloutLine;
  if (rec.token_stats !== undefined) {
    const tokens = expandTokenStats(rec.token_stats, rec.prefix, rec.completion);
    if (tokens === undefined) return undefined;
    delete rec.token_stats;
    if (rec.tokens === undefined) rec.tokens = tokens;
  }
  return rec;
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

/** Paths inside a run directory (trainer/trapo/schemas/README.md §1). */
export const runPaths = {
  runJson: (runDir: string) => path.join(runDir, 'run.json'),
  events: (runDir: string) => path.join(runDir, 'events.jsonl'),
  rollouts: (runDir: string, step: number) => path.join(runDir, 'rollouts', `${pad6(step)}.jsonl`),
  evalFile: (runDir: string, step: number, benchmark: string) => path.join(runDir, 'evals', pad6(step), `${benchmark}.jsonl`),
  checkpoint: (runDir: string, step: number) => path.join(runDir, 'checkpoints', pad6(step)),
  /** The trainer's state in a checkpoint folder (optimizer, RNG, step): what makes it resumable. */
  trainerState: (checkpointDir: string) => path.join(checkpointDir, 'trainer_state.pt'),
  /** Evaluations asked for after training (trapo eval --run-dir): summaries <step>.json, records in <step>/. */
  checkpointEvals: (runDir: string) => path.join(runDir, 'checkpoint_evals'),
  checkpointEvalSummary: (runDir: string, step: number) => path.join(runDir, 'checkpoint_evals', `${pad6(step)}.json`),
  checkpointEvalFile: (runDir: string, step: number, benchmark: string) => path.join(runDir, 'checkpoint_evals', pad6(step), `${benchmark}.jsonl`),
  log: (runDir: string) => path.join(runDir, 'logs', 'trainer.log'),
  launch: (runDir: string) => path.join(runDir, 'launch.json'),
  slurmLog: (runDir: string, jobId: string) => path.join(runDir, 'logs', `slurm-${jobId}.out`),
};

export function pad6(step: number): string {
  return String(step).padStart(6, '0');
}
