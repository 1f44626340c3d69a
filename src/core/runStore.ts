// The run store (no vscode): finds run directories under the runs roots, tails each events.jsonl incrementally and
// keeps per-run state that the trees, the status bar, the dashboard and the compare view read.
//
// - Discovery: every direct subfolder of a root that holds a run.json of format trapo-run/1 (or 1.1) is a run, whoever started
//   it (VS Code, a terminal, torchrun, a cluster job writing to a shared folder). A folder with launch.json but no
//   run.json yet is a run submitted to Slurm whose trainer has not started: it shows from launch.json, and its job's
//   state (setJobStatus, from the Slurm monitor) decides its status (src/core/jobStatus.ts).
// - Change detection: fs.watch on the roots and on each run folder for low latency, plus a periodic poll that works
//   where fs.watch does not (network file systems). Each poll stats first and reads only new bytes.
// - Never blocks: a large file is read in slices of `maxBytesPerSlice`, yielding to the event loop between slices.
// - Memory: metrics in typed arrays (SeriesStore); prefix allocations kept for the newest `maxPrefixSteps` steps;
//   log events for the newest `maxLogEvents`.
import { promises as fs, watch as fsWatch, FSWatcher } from 'node:fs';
import * as path from 'node:path';
import {
  AnomalyEvent,
  CheckpointEvent,
  EvalEvent,
  LaunchInfo,
  LogEvent,
  PhaseEvent,
  PromptAllocation,
  RunEvent,
  RunFinishedEvent,
  RunInfo,
  RunStartedEvent,
  RunStatus,
  parseLaunchInfo,
  parseRunInfo,
  runPaths,
} from './runFormat';
import { EventTail } from './tail';
import { checkpointsStamp, readCheckpointsOnDisk } from './checkpointsOnDisk';
import { NonFiniteToken, nonFiniteToken } from '../shared/nonFinite';
import { CheckpointEvalEntry, checkpointEvalsStamp, readCheckpointEvals } from './checkpointEvals';
import { SeriesStore } from './series';
import { CrashProbe, CrashVerdict, detectCrash } from './crash';
import { StepClock } from './time';
import { RunJob, currentJob, jobVerdict, needsPolling } from './jobStatus';
import type { JobStatus } from './slurm';

export type DisplayStatus = RunStatus | 'crashed';

export interface Disposable {
  dispose(): void;
}

/** A minimal typed event emitter (the vscode one cannot be used here). */
export class Emitter<T> {
  private listeners = new Set<(value: T) => void>();
  readonly event = (listener: (value: T) => void): Disposable => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) {
      try {
        l(value);
      } catch (err) {
        // A failing listener must not stop the others nor the store.
        console.error('[trapo] run store listener failed:', err);
      }
    }
  }
  dispose(): void {
    this.listeners.clear();
  }
}

/** How many numbers each stage takes in CompactPrefixStep's stage table: n, ratio, guided, correct, correct_before. */
const STAGE_FIELDS = 5;

/**
 * One step's prefix allocation, kept compactly: a parsed event holds ~5 objects a prompt (about 1.6 KB for 4 stages);
 * here a prompt is its id string plus a few typed-array slots, so a thousand steps of 64 prompts take ~7 MB instead of
 * ~100 MB, and long-lived objects do not pile up in the old generation of the garbage collector.
 */
export class PrefixStep {
  readonly promptCount: number;
  /** Prompts that reached a guidance level above 0. */
  readonly guidedCount: number;
  /** Share of prompts at guidance level k (index k), summing to 1 when there are prompts. */
  readonly levelShares: number[];
  private readonly ids: string[];
  private readonly levels: Uint16Array;
  private readonly stageStart: Uint32Array;
  private readonly stages: Float32Array;

  constructor(
    readonly step: number,
    readonly time: number,
    prompts: readonly PromptAllocation[],
  ) {
    this.promptCount = prompts.length;
    this.guidedCount = prompts.filter((p) => p.level > 0).length;
    this.levelShares = levelShares(prompts);
    this.ids = prompts.map((p) => p.prompt_id);
    this.levels = Uint16Array.from(prompts, (p) => Math.max(0, p.level));
    this.stageStart = new Uint32Array(prompts.length + 1);
    let total = 0;
    prompts.forEach((p, i) => {
      this.stageStart[i] = total;
      total += p.stages.length;
    });
    this.stageStart[prompts.length] = total;
    this.stages = new Float32Array(total * STAGE_FIELDS);
    let k = 0;
    for (const p of prompts) {
      for (const st of p.stages) {
        this.stages.set([st.n, st.ratio, st.guided ? 1 : 0, st.correct, st.correct_before], k);
        k += STAGE_FIELDS;
      }
    }
  }

  /** The i-th prompt as the event had it (ratios are stored as 32-bit floats). */
  prompt(i: number): PromptAllocation {
    const stages = [];
    for (let s = this.stageStart[i]; s < this.stageStart[i + 1]; s++) {
      const o = s * STAGE_FIELDS;
      const d = this.stages;
      stages.push({ n: d[o], ratio: roundRatio(d[o + 1]), guided: d[o + 2] === 1, correct: d[o + 3], correct_before: d[o + 4] });
    }
    return { prompt_id: this.ids[i], level: this.levels[i], stages };
  }

  get prompts(): PromptAllocation[] {
    return Array.from({ length: this.promptCount }, (_, i) => this.prompt(i));
  }
}

/** A float32 ratio back to the short decimal it was written as (0.25, 0.3, 0.5), to 6 digits. */
function roundRatio(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

export interface EvalEntry {
  step: number;
  time: number;
  benchmarks: EvalEvent['benchmarks'];
  average: number;
}

export interface CheckpointEntry {
  step: number;
  time: number;
  /** Absolute path of the checkpoint folder. */
  dir: string;
  /** Absolute path of model.onnx, or null. */
  onnx: string | null;
  bytes: number;
}

export interface RolloutFileEntry {
  step: number;
  /** Absolute path. */
  file: string;
  count: number;
}

/** Everything the views know about one run. Read-only to consumers; the store mutates it. */
export interface RunState {
  readonly id: string;
  readonly dir: string;
  readonly root: string;
  readonly info: RunInfo;
  /** Status as written (run.json, or a newer run_finished event). */
  readonly writtenStatus: RunStatus;
  /** Status shown: the written one, or 'crashed' when a running run's process is gone. */
  readonly status: DisplayStatus;
  readonly crash: CrashVerdict;
  /** Last completed step (from metrics events, else run.json). */
  readonly step: number | null;
  readonly totalSteps: number | null;
  /** Last reward/mean (else reward/unguided_mean). */
  readonly lastReward: number | null;
  readonly stepClock: StepClock;
  readonly runStarted: RunStartedEvent | null;
  readonly finished: RunFinishedEvent | null;
  readonly lastEventTime: number | null;
  readonly lastHeartbeat: { time: number; phase: string } | null;
  /** The trainer's preparation before its first step (model load, warm-up), until run_started; else null. */
  readonly preparing: PhaseEvent | null;
  readonly metrics: SeriesStore;
  /** Oldest first; bounded to the newest `maxPrefixSteps`. */
  readonly prefixSteps: readonly PrefixStep[];
  readonly evals: readonly EvalEntry[];
  /** The checkpoints of `checkpoint` events whose folder is on disk (pruned or deleted ones leave). */
  /** Evaluations asked for after training (checkpoint_evals/), oldest step first. */
  readonly checkpointEvals: readonly CheckpointEvalEntry[];
  readonly checkpoints: readonly CheckpointEntry[];
  /**
   * The step a Resume continues from: the newest checkpoint folder with trainer state on disk (what the trainer
   * picks), or null when there is none (a Resume starts over at step 0).
   */
  readonly resumeStep: number | null;
  /** Unix seconds (this machine's clock) when new events were last read: the trainer's latest sign of life. */
  readonly lastSeenAlive: number | null;
  readonly rolloutFiles: readonly RolloutFileEntry[];
  /** Newest `maxLogEvents` log events, oldest first. */
  readonly logs: readonly LogEvent[];
  /** Health alerts (`anomaly` events), oldest first; the newest MAX_ANOMALIES kept. */
  readonly anomalies: readonly AnomalyEvent[];
  readonly skipped: SkippedCounts;
  /** Metric values that were NaN or +-Infinity. */
  readonly nonFiniteValues: number;
  /** The first NaN or infinite `loss/*` value: an anomaly the tree marks and a notification names. */
  readonly nonFiniteLoss: NonFiniteLoss | null;
  readonly bytesRead: number;
  /** True until the first complete read of events.jsonl. */
  readonly loading: boolean;
  /** Increments on every change. */
  readonly version: number;
  /**
   * Increments when history already reported was rewritten: a resume dropped the steps it re-runs, or a step came
   * again and replaced what was held for it. Views that keep copies (the dashboard) read the run again.
   */
  readonly historyVersion: number;
  /** launch.json of a run submitted to Slurm, else null. */
  readonly launch: LaunchInfo | null;
  /** The run's current Slurm job with its state, else null. */
  readonly job: RunJob | null;
  /** False for a submitted run whose trainer has not written run.json yet (`info` then comes from launch.json). */
  readonly hasRunJson: boolean;
}

/** What a reader of events.jsonl had to leave out (shown in the Runs tree's tooltip and on the dashboard). */
export interface SkippedCounts {
  /** Lines that are not JSON or not a valid event. */
  readonly malformed: number;
  /** Valid lines of a type this reader does not know. */
  readonly unknown: number;
  /** Metric values that were neither numbers nor non-finite tokens (their lines' other values were kept). */
  readonly badValues: number;
  /** 1 when the run is no longer running and its last line has no newline: torn by a process that died writing. */
  readonly torn: number;
}

/** Lines and values left out in all (0 when nothing was). */
export function skippedTotal(s: SkippedCounts): number {
  return s.malformed + s.unknown + s.badValues + s.torn;
}

export interface NonFiniteLoss {
  step: number | null;
  metric: string;
  value: NonFiniteToken;
}

/** Seconds until the last step, or null. */
export function etaSeconds(run: RunState): number | null {
  if (run.status !== 'running') return null;
  return run.stepClock.etaSeconds(run.totalSteps);
}

/** Best eval average over the run with its step, or null. */
export function bestEvalAverage(run: RunState): { average: number; step: number } | null {
  let best: { average: number; step: number } | null = null;
  for (const e of run.evals) if (best === null || e.average > best.average) best = { average: e.average, step: e.step };
  return best;
}

export type RunChange =
  | { kind: 'added'; run: RunState }
  | { kind: 'removed'; id: string; dir: string }
  | {
      kind: 'updated';
      run: RunState;
      /** Events appended since the last change of this run, in file order (empty when only status or info changed). */
      events: readonly RunEvent[];
      /** Set when the displayed status changed. */
      statusChange?: { from: DisplayStatus; to: DisplayStatus };
    };

export interface RunStoreOptions {
  roots: string[];
  crashProbe: CrashProbe;
  heartbeatTimeoutSeconds?: number;
  /** Periodic poll of every run (fallback for file systems without change notification). */
  pollIntervalMs?: number;
  /** Periodic rescan of the roots for new and removed runs. */
  scanIntervalMs?: number;
  /** Use fs.watch for low latency (off in tests that drive refresh() themselves). */
  watch?: boolean;
  maxBytesPerSlice?: number;
  maxPrefixSteps?: number;
  maxLogEvents?: number;
}

class MutableRun implements RunState {
  status: DisplayStatus;
  writtenStatus: RunStatus;
  crash: CrashVerdict = { crashed: false };
  step: number | null;
  totalSteps: number | null;
  lastReward: number | null = null;
  readonly stepClock = new StepClock();
  runStarted: RunStartedEvent | null = null;
  finished: RunFinishedEvent | null = null;
  /** run_started or run_finished, whichever came last. */
  lastLifecycle: RunStartedEvent | RunFinishedEvent | null = null;
  lastEventTime: number | null = null;
  lastHeartbeat: { time: number; phase: string } | null = null;
  preparing: PhaseEvent | null = null;
  metrics = new SeriesStore();
  prefixSteps: PrefixStep[] = [];
  evals: EvalEntry[] = [];
  /** Every checkpoint event (one a step); `checkpoints` is the part still on disk. */
  checkpointEvents: CheckpointEntry[] = [];
  checkpointEvals: CheckpointEvalEntry[] = [];
  checkpoints: CheckpointEntry[] = [];
  /** The checkpoint events changed since the folder was last compared with them. */
  checkpointsDirty = true;
  resumeStep: number | null = null;
  lastSeenAlive: number | null = null;
  rolloutFiles: RolloutFileEntry[] = [];
  logs: LogEvent[] = [];
  anomalies: AnomalyEvent[] = [];
  skipped: SkippedCounts = { malformed: 0, unknown: 0, badValues: 0, torn: 0 };
  nonFiniteValues = 0;
  nonFiniteLoss: NonFiniteLoss | null = null;
  bytesRead = 0;
  loading = true;
  version = 0;
  historyVersion = 0;
  launch: LaunchInfo | null = null;
  job: RunJob | null = null;

  constructor(
    readonly id: string,
    readonly dir: string,
    readonly root: string,
    public info: RunInfo,
    public hasRunJson = true,
  ) {
    this.writtenStatus = info.status;
    this.status = info.status;
    this.step = info.step ?? null;
    this.totalSteps = info.total_steps ?? null;
  }
}

interface Entry {
  run: MutableRun;
  tail: EventTail;
  runJsonStamp: string;
  checkpointEvalsStamp: string;
  launchStamp: string;
  polling: Promise<void> | null;
  pollAgain: boolean;
  watcher: FSWatcher | null;
  pending: RunEvent[];
  /** mtime of checkpoints/ when it was last read (a folder added or deleted there changes it). */
  checkpointsStamp: string | null;
}

const REWARD_METRICS = ['reward/mean', 'reward/unguided_mean'];
const MAX_ANOMALIES = 100;

export class RunStore implements Disposable {
  private roots: string[];
  private readonly entries = new Map<string, Entry>();
  private readonly byDir = new Map<string, string>();
  private readonly changes = new Emitter<RunChange>();
  readonly onDidChange = this.changes.event;
  private readonly opts: Required<Omit<RunStoreOptions, 'roots' | 'crashProbe'>>;
  private readonly probe: CrashProbe;
  private timers: NodeJS.Timeout[] = [];
  private rootWatchers: FSWatcher[] = [];
  private scanning: Promise<void> | null = null;
  private scanAgain = false;
  private disposed = false;
  private readonly debounce = new Map<string, NodeJS.Timeout>();
  /** Folders with a run.json that is not a readable run, with the reason (the Runs tree shows them). */
  readonly invalidRuns = new Map<string, string>();
  private readonly invalidChanges = new Emitter<void>();
  /** Fires when `invalidRuns` changed (a run.json became unreadable, was fixed, or its folder went). */
  readonly onDidChangeInvalidRuns = this.invalidChanges.event;
  /** Slurm's latest answer per job id (setJobStatus). */
  private readonly jobStatuses = new Map<string, JobStatus>();

  constructor(options: RunStoreOptions) {
    this.roots = dedupe(options.roots.map((r) => path.resolve(r)));
    this.probe = options.crashProbe;
    this.opts = {
      heartbeatTimeoutSeconds: options.heartbeatTimeoutSeconds ?? 120,
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      scanIntervalMs: options.scanIntervalMs ?? 3000,
      watch: options.watch ?? true,
      maxBytesPerSlice: options.maxBytesPerSlice ?? 1 << 20,
      maxPrefixSteps: options.maxPrefixSteps ?? 1000,
      maxLogEvents: options.maxLogEvents ?? 500,
    };
  }

  // ------------------------------------------------------------------------------------------------ queries

  /** All runs, newest id first (ids are sortable by start time). */
  runs(): RunState[] {
    return [...this.entries.values()].map((e) => e.run).sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  get(id: string): RunState | undefined {
    return this.entries.get(id)?.run;
  }

  getByDir(dir: string): RunState | undefined {
    const id = this.byDir.get(path.resolve(dir));
    return id === undefined ? undefined : this.get(id);
  }

  getRoots(): readonly string[] {
    return this.roots;
  }

  // ------------------------------------------------------------------------------------------------ lifecycle

  /** Starts watching and polling; resolves after the first scan and read of every run. */
  async start(): Promise<void> {
    if (this.disposed) return;
    this.watchRoots();
    this.timers.push(setInterval(() => void this.scan(), this.opts.scanIntervalMs));
    this.timers.push(setInterval(() => void this.pollAll(), this.opts.pollIntervalMs));
    await this.refresh();
  }

  /** Changes the roots (setting changed); runs under roots no longer listed are dropped. */
  async setRoots(roots: string[]): Promise<void> {
    this.roots = dedupe(roots.map((r) => path.resolve(r)));
    this.unwatchRoots();
    if (this.opts.watch && this.timers.length > 0) this.watchRoots();
    await this.refresh();
  }

  setHeartbeatTimeout(seconds: number): void {
    this.opts.heartbeatTimeoutSeconds = seconds;
  }

  /** One scan of the roots and one poll of every run. */
  async refresh(): Promise<void> {
    await this.scan();
    await this.pollAll();
  }

  dispose(): void {
    this.disposed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const t of this.debounce.values()) clearTimeout(t);
    this.debounce.clear();
    this.unwatchRoots();
    for (const e of this.entries.values()) e.watcher?.close();
    this.changes.dispose();
    this.invalidChanges.dispose();
  }

  // ------------------------------------------------------------------------------------------------ discovery

  private async scan(): Promise<void> {
    if (this.scanning) {
      this.scanAgain = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.scanAgain = false;
        await this.scanOnce();
      } while (this.scanAgain && !this.disposed);
    })();
    try {
      await this.scanning;
    } finally {
      this.scanning = null;
    }
  }

  private async scanOnce(): Promise<void> {
    const seen = new Set<string>();
    for (const root of this.roots) {
      let names: string[];
      try {
        names = (await fs.readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() || d.isSymbolicLink()).map((d) => d.name);
      } catch {
        continue; // A root that does not exist (yet) holds no runs.
      }
      for (const name of names) {
        const dir = path.join(root, name);
        const candidates = [dir];
        // A folder that is not a run itself may group runs one level down (an experiment's runs, e.g. the
        // comparison's runs/comparison/<algorithm>-seed<k>), so they show up without adding a root. New ones
        // there are found by the periodic rescan (fs.watch is on the roots and the run folders only).
        if (!this.byDir.has(dir) && !(await isRunDir(dir))) candidates.push(...(await subdirs(dir)));
        for (const d of candidates) {
          if (seen.has(d)) continue;
          seen.add(d);
          if (this.byDir.has(d)) continue;
          await this.tryAdd(root, d);
        }
      }
    }
    for (const [dir, id] of [...this.byDir]) {
      if (seen.has(dir) && (await isRunDir(dir))) continue;
      this.remove(id);
    }
    for (const dir of [...this.invalidRuns.keys()]) if (!seen.has(dir)) this.setInvalid(dir, undefined);
  }

  /** Records (or clears, with undefined) why a folder's run.json is not a run; tells listeners when that changed. */
  private setInvalid(dir: string, reason: string | undefined): void {
    if (this.invalidRuns.get(dir) === reason) return;
    if (reason === undefined) this.invalidRuns.delete(dir);
    else this.invalidRuns.set(dir, reason);
    if (!this.disposed) this.invalidChanges.fire();
  }

  private async tryAdd(root: string, dir: string): Promise<void> {
    const file = runPaths.runJson(dir);
    let text: string;
    let stamp: string;
    try {
      const st = await fs.stat(file);
      stamp = `${st.mtimeMs}:${st.size}`;
      text = await fs.readFile(file, 'utf8');
    } catch {
      // No run.json: a run submitted to Slurm whose trainer has not started yet shows from its launch.json.
      return this.tryAddSubmitted(root, dir);
    }
    let info: RunInfo;
    try {
      info = parseRunInfo(text, file);
    } catch (err) {
      this.setInvalid(dir, (err as Error).message);
      return;
    }
    if (this.disposed || this.byDir.has(dir)) return;
    if (this.entries.has(info.id)) {
      // The same run copied into two roots: the first one found stays.
      this.setInvalid(dir, `run id ${info.id} is already shown from ${this.entries.get(info.id)!.run.dir}`);
      return;
    }
    this.setInvalid(dir, undefined);
    this.addEntry(new MutableRun(info.id, dir, root, info), stamp);
  }

  private async tryAddSubmitted(root: string, dir: string): Promise<void> {
    let launch: LaunchInfo;
    try {
      launch = parseLaunchInfo(await fs.readFile(runPaths.launch(dir), 'utf8'), runPaths.launch(dir));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.setInvalid(dir, (err as Error).message);
      return;
    }
    this.setInvalid(dir, undefined);
    if (this.disposed || this.byDir.has(dir) || this.entries.has(launch.run_id)) return;
    this.addEntry(new MutableRun(launch.run_id, dir, root, infoFromLaunch(launch), false), '');
  }

  private addEntry(run: MutableRun, runJsonStamp: string): void {
    const { id: runId, dir } = run;
    const entry: Entry = {
      run,
      tail: new EventTail(runPaths.events(dir), { maxBytesPerPoll: this.opts.maxBytesPerSlice }),
      runJsonStamp,
      launchStamp: '',
      checkpointEvalsStamp: '',
      polling: null,
      pollAgain: false,
      watcher: null,
      pending: [],
      checkpointsStamp: null,
    };
    this.entries.set(runId, entry);
    this.byDir.set(dir, runId);
    this.watchRun(entry);
    this.changes.fire({ kind: 'added', run });
    void this.pollRun(runId);
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.watcher?.close();
    this.entries.delete(id);
    this.byDir.delete(entry.run.dir);
    this.changes.fire({ kind: 'removed', id, dir: entry.run.dir });
  }

  // ------------------------------------------------------------------------------------------------ polling

  private async pollAll(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((id) => this.pollRun(id)));
  }

  /** Polls one run now (serialised per run: a request during a poll runs once more after it). */
  pollRun(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return Promise.resolve();
    if (entry.polling) {
      entry.pollAgain = true;
      return entry.polling;
    }
    entry.polling = (async () => {
      try {
        do {
          entry.pollAgain = false;
          await this.pollOnce(entry);
        } while (entry.pollAgain && !this.disposed && this.entries.get(id) === entry);
      } catch (err) {
        console.error(`[trapo] reading run ${id} failed:`, err);
      } finally {
        entry.polling = null;
      }
    })();
    return entry.polling;
  }

  private async pollOnce(entry: Entry): Promise<void> {
    const run = entry.run;
    let changed = await this.reloadLaunch(entry);
    changed = (await this.reloadRunJson(entry)) || changed;
    changed = (await this.readNewEvents(entry)) || changed;
    changed = (await this.syncCheckpoints(entry)) || changed;
    changed = (await this.reloadCheckpointEvals(entry)) || changed;
    const before = run.status;
    this.updateStatus(run);
    if (run.crash.crashed && run.crash.reason === 'pid-dead') {
      // The process may have written its final status between our read and the pid probe: read once more.
      changed = (await this.reloadRunJson(entry)) || changed;
      changed = (await this.readNewEvents(entry)) || changed;
      changed = (await this.syncCheckpoints(entry)) || changed;
      this.updateStatus(run);
    }
    // A last line without its newline is the writer mid-line while the run runs; once it has ended it is torn.
    const torn = entry.tail.stats.heldBackBytes > 0 && run.status !== 'running' ? 1 : 0;
    if (torn !== run.skipped.torn) {
      run.skipped = { ...run.skipped, torn };
      changed = true;
    }
    if (run.loading) {
      run.loading = false;
      changed = true;
    }
    if (this.disposed || this.entries.get(run.id) !== entry) return;
    if (changed || run.status !== before) this.emitUpdate(entry, before);
  }

  private emitUpdate(entry: Entry, statusBefore: DisplayStatus): void {
    const run = entry.run;
    run.version++;
    const events = entry.pending;
    entry.pending = [];
    this.changes.fire({
      kind: 'updated',
      run,
      events,
      statusChange: run.status !== statusBefore ? { from: statusBefore, to: run.status } : undefined,
    });
  }

  private async reloadRunJson(entry: Entry): Promise<boolean> {
    const file = runPaths.runJson(entry.run.dir);
    try {
      const st = await fs.stat(file);
      const stamp = `${st.mtimeMs}:${st.size}`;
      if (stamp === entry.runJsonStamp) return false;
      const info = await this.readRunJsonTwice(entry, file);
      if (info === undefined) return false;
      entry.runJsonStamp = stamp;
      if (info.id !== entry.run.id) return false; // Replaced by another run: the next scan sorts it out.
      entry.run.info = info;
      entry.run.hasRunJson = true;
      if (info.total_steps != null && entry.run.runStarted === null) entry.run.totalSteps = info.total_steps;
      if (info.step != null && entry.run.step === null) entry.run.step = info.step;
      return true;
    } catch {
      return false; // Gone (the scan removes it) or mid-rewrite on a file system without atomic rename.
    }
  }

  /**
   * run.json as a run, or undefined when it is not one: then the run leaves the runs and is shown as invalid with
   * the reason (not kept with its old information, not hidden). A file system without atomic rename may show a
   * half-written file for a moment, so an unreadable one is read once more before that.
   */
  private async readRunJsonTwice(entry: Entry, file: string): Promise<RunInfo | undefined> {
    try {
      return parseRunInfo(await fs.readFile(file, 'utf8'), file);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch {
      return undefined; // Gone: the next scan removes the run.
    }
    try {
      return parseRunInfo(text, file);
    } catch (err) {
      if (this.disposed || this.entries.get(entry.run.id) !== entry) return undefined;
      this.remove(entry.run.id);
      this.setInvalid(entry.run.dir, (err as Error).message);
      return undefined;
    }
  }

  /** Re-reads checkpoint_evals/ when its folder changed (one stat a poll otherwise). */
  private async reloadCheckpointEvals(entry: Entry): Promise<boolean> {
    const stamp = await checkpointEvalsStamp(entry.run.dir);
    if (stamp === entry.checkpointEvalsStamp) return false;
    const { entries, problems } = await readCheckpointEvals(entry.run.dir);
    for (const p of problems) console.warn(`[trapo] ${p}`);
    entry.checkpointEvalsStamp = stamp;
    entry.run.checkpointEvals = entries;
    return true;
  }

  /** Rereads launch.json when it changed (a job was submitted). */
  private async reloadLaunch(entry: Entry): Promise<boolean> {
    const file = runPaths.launch(entry.run.dir);
    try {
      const st = await fs.stat(file);
      const stamp = `${st.mtimeMs}:${st.size}`;
      if (stamp === entry.launchStamp) return false;
      const launch = parseLaunchInfo(await fs.readFile(file, 'utf8'), file);
      entry.launchStamp = stamp;
      entry.run.launch = launch;
      return true;
    } catch {
      return false; // No launch.json (a run started directly), or mid-rewrite.
    }
  }

  // ------------------------------------------------------------------------------------------------ Slurm jobs

  /** The job ids whose state the runs still need (src/core/jobStatus.ts needsPolling). */
  jobsToPoll(): string[] {
    const ids = new Set<string>();
    for (const { run } of this.entries.values()) if (run.job && needsPolling(run.writtenStatus, run.job)) ids.add(run.job.jobId);
    return [...ids];
  }

  /** Slurm's answer for a job (from the monitor): the runs of that job are re-evaluated, changes fired. */
  setJobStatus(status: JobStatus): void {
    const old = this.jobStatuses.get(status.jobId);
    this.jobStatuses.set(status.jobId, status);
    if (old && old.state === status.state && old.reason === status.reason && old.source === status.source && old.restarts === status.restarts) return;
    for (const entry of this.entries.values()) {
      if (entry.run.job?.jobId !== status.jobId || this.disposed) continue;
      const before = entry.run.status;
      this.updateStatus(entry.run);
      this.emitUpdate(entry, before);
    }
  }

  /** Reads new bytes of events.jsonl in slices, yielding between them. Returns whether anything was applied. */
  private async readNewEvents(entry: Entry): Promise<boolean> {
    const file = runPaths.events(entry.run.dir);
    let size: number;
    try {
      size = (await fs.stat(file)).size;
    } catch {
      return false;
    }
    if (size === entry.tail.stats.offset) return false;
    let applied = false;
    for (;;) {
      const statsBefore = { ...entry.tail.stats };
      const { events, more, restarted } = await entry.tail.poll();
      if (restarted) this.resetEvents(entry.run);
      for (const ev of events) this.apply(entry.run, ev);
      for (const ev of events) entry.pending.push(ev);
      if (events.length) entry.run.lastSeenAlive = this.probe.now();
      const s = entry.tail.stats;
      entry.run.skipped = { malformed: s.malformed, unknown: s.unknown, badValues: s.badValues, torn: entry.run.skipped.torn };
      entry.run.bytesRead = s.offset;
      applied ||=
        events.length > 0 || restarted || s.malformed !== statsBefore.malformed || s.unknown !== statsBefore.unknown || s.badValues !== statsBefore.badValues;
      if (!more || this.disposed) break;
      // A large file: hand the event loop back between slices, and let views see progress.
      if (entry.run.loading && events.length > 0) this.emitUpdate(entry, entry.run.status);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return applied;
  }

  private resetEvents(run: MutableRun): void {
    // The file was replaced or truncated: rebuild everything from its start.
    run.historyVersion++;
    run.metrics = new SeriesStore();
    run.prefixSteps = [];
    run.evals = [];
    run.checkpointEvents = [];
    run.checkpointsDirty = true;
    run.rolloutFiles = [];
    run.logs = [];
    run.anomalies = [];
    run.runStarted = null;
    run.finished = null;
    run.lastLifecycle = null;
    run.lastHeartbeat = null;
    run.preparing = null;
    run.lastEventTime = null;
    run.lastReward = null;
    run.nonFiniteValues = 0;
    run.nonFiniteLoss = null;
    run.stepClock.reset();
  }

  // ------------------------------------------------------------------------------------------------ state

  private apply(run: MutableRun, ev: RunEvent): void {
    if (run.lastEventTime === null || ev.time > run.lastEventTime) run.lastEventTime = ev.time;
    switch (ev.type) {
      case 'run_started': {
        // A resume re-runs every step after the checkpoint it starts from: what is held of those steps goes, so that
        // each step shows once. A later run_started without resumed_from_step (a trainer that resumed without a
        // checkpoint and said so with null) starts over from step 0.
        const from = ev.resumed_from_step ?? (run.runStarted !== null ? 0 : null);
        if (from !== null) {
          this.truncateAfter(run, from);
          run.step = from > 0 ? from : null;
        }
        run.runStarted = ev;
        run.lastLifecycle = ev;
        run.preparing = null;
        run.finished = null;
        run.totalSteps = ev.total_steps;
        // A resume restarts the clock: the downtime before it is not a step.
        run.stepClock.reset();
        if (run.step !== null) run.stepClock.observe(run.step, ev.time);
        break;
      }
      case 'metrics': {
        if (ev.step === null) break;
        // A step seen again replaced points: count the non-finite values of all that is held again (this line's too).
        if (run.metrics.push(ev.step, ev.time, ev.values)) this.historyRewritten(run);
        else for (const name in ev.values) this.countNonFinite(run, ev.step, name, ev.values[name]);
        run.step = ev.step;
        run.stepClock.observe(ev.step, ev.time);
        for (const name of REWARD_METRICS) {
          const v = ev.values[name];
          if (typeof v === 'number') {
            run.lastReward = v;
            break;
          }
        }
        break;
      }
      case 'prefix_allocation': {
        if (ev.step === null) break;
        this.putByStep(run, run.prefixSteps, new PrefixStep(ev.step, ev.time, ev.prompts));
        if (run.prefixSteps.length > this.opts.maxPrefixSteps) run.prefixSteps.shift();
        break;
      }
      case 'rollouts':
        if (ev.step !== null) this.putByStep(run, run.rolloutFiles, { step: ev.step, file: path.resolve(run.dir, ev.file), count: ev.count });
        break;
      case 'eval':
        if (ev.step !== null) this.putByStep(run, run.evals, { step: ev.step, time: ev.time, benchmarks: ev.benchmarks, average: ev.average });
        break;
      case 'checkpoint':
        if (ev.step === null) break;
        this.putByStep(run, run.checkpointEvents, checkpointEntry(run.dir, ev as CheckpointEvent & { step: number }));
        run.checkpointsDirty = true;
        break;
      case 'heartbeat':
        run.lastHeartbeat = { time: ev.time, phase: ev.phase };
        break;
      case 'phase':
        run.preparing = ev;
        break;
      case 'log':
        run.logs.push(ev);
        if (run.logs.length > this.opts.maxLogEvents) run.logs.shift();
        break;
      case 'anomaly':
        run.anomalies.push(ev);
        if (run.anomalies.length > MAX_ANOMALIES) run.anomalies.shift();
        break;
      case 'run_finished':
        run.finished = ev;
        run.lastLifecycle = ev;
        run.preparing = null;
        break;
      default: {
        const never: never = ev;
        throw new Error(`unhandled event ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Appends an entry of a per-step list (oldest first, one entry a step). A step seen again replaces the entries
   * from that step on, so that every step is listed once and tree ids stay unique.
   */
  private putByStep<T extends { step: number }>(run: MutableRun, list: T[], entry: T): void {
    let n = list.length;
    while (n > 0 && list[n - 1].step >= entry.step) n--;
    if (n < list.length) {
      list.length = n;
      this.historyRewritten(run);
    }
    list.push(entry);
  }

  /** Drops what is held of the steps after `step` (a resume from `step` runs them again). */
  private truncateAfter(run: MutableRun, step: number): void {
    let dropped = run.metrics.truncateAfter(step);
    const keep = <T extends { step: number }>(list: T[]): T[] => {
      const kept = list.filter((x) => x.step <= step);
      if (kept.length !== list.length) dropped = true;
      return kept;
    };
    run.prefixSteps = keep(run.prefixSteps);
    run.rolloutFiles = keep(run.rolloutFiles);
    run.evals = keep(run.evals);
    run.checkpointEvents = keep(run.checkpointEvents);
    run.checkpointsDirty = true;
    // Alerts of the steps run again are raised again (or not) by the resumed trainer.
    run.anomalies = run.anomalies.filter((a) => a.step === null || a.step <= step);
    if (dropped) this.historyRewritten(run);
  }

  /**
   * Compares the checkpoint events with the checkpoints/ folder (when either changed): checkpoints pruned by
   * keep_last or deleted by hand leave the list, and the step a Resume would continue from is the newest folder with
   * trainer state, as the trainer picks it. Returns whether anything shown changed.
   */
  private async syncCheckpoints(entry: Entry): Promise<boolean> {
    const run = entry.run;
    const stamp = await checkpointsStamp(run.dir);
    if (stamp === entry.checkpointsStamp && !run.checkpointsDirty) return false;
    entry.checkpointsStamp = stamp;
    run.checkpointsDirty = false;
    const onDisk = await readCheckpointsOnDisk(run.dir);
    const shown = run.checkpointEvents.filter((c) => onDisk.dirs.has(c.dir));
    // A folder not seen yet for a checkpoint just reported (a network file system that shows it late): look again.
    const now = this.probe.now();
    if (run.checkpointEvents.some((c) => !onDisk.dirs.has(c.dir) && now - c.time < 30)) run.checkpointsDirty = true;
    const changed = onDisk.resumeStep !== run.resumeStep || shown.length !== run.checkpoints.length || shown.some((c, i) => c !== run.checkpoints[i]);
    run.checkpoints = shown;
    run.resumeStep = onDisk.resumeStep;
    return changed;
  }

  /** History was rewritten: say so, and count the non-finite values of what is left again. */
  private historyRewritten(run: MutableRun): void {
    run.historyVersion++;
    run.nonFiniteValues = 0;
    run.nonFiniteLoss = null;
    const byStep: { step: number; name: string; value: number }[] = [];
    for (const name of run.metrics.names()) {
      const s = run.metrics.get(name)!;
      const steps = s.steps();
      const values = s.values();
      for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) byStep.push({ step: steps[i], name, value: values[i] });
    }
    byStep.sort((a, b) => a.step - b.step);
    for (const x of byStep) this.countNonFinite(run, x.step, x.name, x.value);
  }

  private countNonFinite(run: MutableRun, step: number | null, name: string, value: number): void {
    const token = nonFiniteToken(value);
    if (token === undefined) return;
    run.nonFiniteValues++;
    if (run.nonFiniteLoss === null && name.startsWith('loss/')) run.nonFiniteLoss = { step, metric: name, value: token };
  }

  private updateStatus(run: MutableRun): void {
    // run.json is rewritten after run_finished is appended; until then the event is the newer word. A run.json
    // rewritten after that event (a resume, which appends run_started only after its set-up) is the newer one.
    const lifecycle = run.lastLifecycle;
    const resumedSince = lifecycle?.type === 'run_finished' && (run.info.updated_at ?? 0) > lifecycle.time;
    run.writtenStatus = run.info.status === 'running' && lifecycle?.type === 'run_finished' && !resumedSince ? lifecycle.status : run.info.status;
    const signs = [run.lastEventTime, run.info.updated_at ?? null, run.info.created_at].filter((x): x is number => typeof x === 'number');
    run.job = currentJob(run.dir, run.launch, run.hasRunJson ? run.info : null, (id) => this.jobStatuses.get(id));
    const verdict = run.job ? jobVerdict(run.writtenStatus, run.job) : { kind: 'none' as const };
    if (verdict.kind === 'active') {
      // Queued or starting on Slurm: active, whatever an older run.json says; no pid or heartbeat to judge yet.
      run.crash = { crashed: false };
      run.status = 'running';
      return;
    }
    if (verdict.kind === 'ended') {
      run.crash = { crashed: true, reason: 'job-ended', detail: verdict.detail };
      run.status = 'crashed';
      return;
    }
    run.crash = detectCrash(
      {
        status: run.writtenStatus,
        pid: run.info.pid,
        host: run.info.host,
        lastSignOfLife: signs.length ? Math.max(...signs) : null,
      },
      this.probe,
      this.opts.heartbeatTimeoutSeconds,
    );
    run.status = run.crash.crashed ? 'crashed' : run.writtenStatus;
  }

  // ------------------------------------------------------------------------------------------------ watching

  private watchRoots(): void {
    if (!this.opts.watch) return;
    for (const root of this.roots) {
      try {
        const w = fsWatch(root, { persistent: false }, () => this.debounced(`scan:${root}`, 50, () => void this.scan()));
        w.on('error', () => w.close());
        this.rootWatchers.push(w);
      } catch {
        // Missing root or no watch support: the periodic scan covers it.
      }
    }
  }

  private unwatchRoots(): void {
    for (const w of this.rootWatchers) w.close();
    this.rootWatchers = [];
  }

  private watchRun(entry: Entry): void {
    if (!this.opts.watch) return;
    try {
      const id = entry.run.id;
      // A short debounce coalesces the several writes of one trainer step into one read.
      const w = fsWatch(entry.run.dir, { persistent: false }, () => this.debounced(`run:${id}`, 15, () => void this.pollRun(id)));
      w.on('error', () => w.close());
      entry.watcher = w;
    } catch {
      entry.watcher = null;
    }
  }

  private debounced(key: string, ms: number, fn: () => void): void {
    if (this.disposed || this.debounce.has(key)) return;
    this.debounce.set(
      key,
      setTimeout(() => {
        this.debounce.delete(key);
        if (!this.disposed) fn();
      }, ms),
    );
  }
}

export function levelShares(prompts: readonly PromptAllocation[]): number[] {
  const counts: number[] = [];
  for (const p of prompts) {
    const level = Math.max(0, Math.floor(p.level));
    while (counts.length <= level) counts.push(0);
    counts[level]++;
  }
  return counts.map((c) => c / prompts.length);
}

function checkpointEntry(dir: string, ev: CheckpointEvent & { step: number }): CheckpointEntry {
  return {
    step: ev.step,
    time: ev.time,
    dir: path.resolve(dir, ev.path),
    onnx: ev.onnx === null ? null : path.resolve(dir, ev.onnx),
    bytes: ev.bytes,
  };
}

/** A run directory: it holds run.json, or launch.json of a submitted run whose trainer has not started. */
async function isRunDir(dir: string): Promise<boolean> {
  return (await exists(runPaths.runJson(dir))) || (await exists(runPaths.launch(dir)));
}

/** What launch.json tells about a run before its trainer writes run.json. */
function infoFromLaunch(launch: LaunchInfo): RunInfo {
  return {
    format: 'trapo-run/1',
    id: launch.run_id,
    name: launch.name,
    algorithm: launch.algorithm ?? '',
    created_at: launch.created_at,
    config: {},
    status: 'running',
    pid: null,
    host: '',
    trainer_version: '',
    world_size: 1,
    device: '',
    total_steps: launch.total_steps ?? null,
    step: null,
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch {
    return false;
  }
}

/** The folders directly inside `dir` (none when it cannot be read). */
async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory() || d.isSymbolicLink()).map((d) => path.join(dir, d.name));
  } catch {
    return [];
  }
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}
