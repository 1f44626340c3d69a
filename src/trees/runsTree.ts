// The Runs view: one node per run (status icon, algorithm, step/total, best benchmark average), with checkpoints
// and their accuracy, rollouts by step, evaluations, the config and the log under it. contextValues match the
// `view/item/context` menus of package.json (run.<status>, checkpoint).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatPercent } from '../core/benchmarks';
import { preparingDetail, preparingOf, preparingText } from '../core/preparing';
import { DisplayStatus, RunState, RunStore, bestEvalAverage, etaSeconds, skippedTotal } from '../core/runStore';
import { runPaths } from '../core/runFormat';
import { anomalyText, resumeText } from '../core/runText';
import { visibleControls } from '../core/visibleText';
import { describeRunJob, jobActivity } from '../core/jobStatus';
import { formatDuration } from '../core/time';
import { alertLines, alertMark } from '../core/alerts';

const MAX_CHILDREN = 200;

export function statusIcon(status: DisplayStatus): vscode.ThemeIcon {
  switch (status) {
    case 'running':
      return new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue'));
    case 'finished':
      return new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'));
    case 'failed':
      return new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'));
    case 'stopped':
      return new vscode.ThemeIcon('debug-stop');
    case 'crashed':
      return new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'));
    default: {
      const never: never = status;
      return new vscode.ThemeIcon(String(never));
    }
  }
}

/** The icon of a Slurm job that is not training yet (queued, starting, suspended). */
export function jobActivityIcon(activity: 'queued' | 'starting' | 'suspended'): vscode.ThemeIcon {
  switch (activity) {
    case 'queued':
      return new vscode.ThemeIcon('clock', new vscode.ThemeColor('charts.yellow'));
    case 'starting':
      return new vscode.ThemeIcon('loading~spin', new vscode.ThemeColor('charts.blue'));
    case 'suspended':
      return new vscode.ThemeIcon('debug-pause');
    default: {
      const never: never = activity;
      return new vscode.ThemeIcon(String(never));
    }
  }
}

export function stepText(run: RunState): string {
  const preparing = preparingOf(run);
  if (preparing) return preparingText(preparing);
  if (run.step === null) return run.totalSteps !== null ? `0/${run.totalSteps}` : 'no steps yet';
  return run.totalSteps !== null ? `${run.step}/${run.totalSteps}` : `step ${run.step}`;
}

export class RunNode extends vscode.TreeItem {
  readonly kind = 'run';
  constructor(readonly run: RunState) {
    super(visibleControls(run.info.name || run.id), vscode.TreeItemCollapsibleState.Collapsed);
    this.id = `run:${run.id}`;
    const best = bestEvalAverage(run);
    const anomaly = anomalyText(run);
    this.description = [
      run.info.algorithm,
      stepText(run),
      best ? `best ${formatPercent(best.average)}` : '',
      anomaly ? `⚠ ${run.nonFiniteLoss!.value} loss` : '',
      resumeText(run) ?? '',
      alertMark(run.anomalies),
      run.job ? describeRunJob(run.job) : '',
    ]
      .filter(Boolean)
      .join(' · ');
    // A non-finite loss is an anomaly: the warning icon says so whatever the status (the status is in the tooltip).
    const activity = run.job ? jobActivity(run.writtenStatus, run.job) : null;
    this.iconPath = activity
      ? jobActivityIcon(activity)
      : anomaly && run.status !== 'crashed' && run.status !== 'failed'
        ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'))
        : statusIcon(run.status);
    this.contextValue = `run.${run.status}`;
    this.tooltip = runTooltip(run);
  }
  get runId(): string {
    return this.run.id;
  }
}

function runTooltip(run: RunState): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.supportHtml = false;
  md.isTrusted = false;
  const line = (k: string, v: string) => md.appendMarkdown(`**${k}:** `).appendText(v).appendMarkdown('  \n');
  line('Run', run.id);
  line('Status', run.status + (run.crash.crashed ? ` (${run.crash.detail})` : ''));
  line('Algorithm', run.info.algorithm);
  line('Steps', stepText(run));
  const preparing = preparingOf(run);
  if (preparing) line('Preparing', preparingDetail(preparing));
  if (run.lastReward !== null) line('Reward', run.lastReward.toFixed(3));
  const eta = etaSeconds(run);
  if (eta !== null) line('ETA', formatDuration(eta));
  const best = bestEvalAverage(run);
  if (best) line('Best average', `${formatPercent(best.average)} at step ${best.step}`);
  if (run.hasRunJson !== false) line('Device', `${run.info.device} × ${run.info.world_size} on ${run.info.host}`);
  if (run.job) line('Slurm', `${describeRunJob(run.job)}${run.job.script ? ` · ${path.relative(run.dir, run.job.script)}` : ' · submitted outside VS Code'}`);
  if (run.runStarted) line('Model', `${run.runStarted.model.name} (${run.runStarted.model.parameters.toLocaleString()} parameters)`);
  if (run.finished?.error) line('Error', `${run.finished.error.type}: ${run.finished.error.message}`);
  const anomaly = anomalyText(run);
  if (anomaly) line('Anomaly', `${anomaly} (${run.nonFiniteValues} non-finite value${run.nonFiniteValues === 1 ? '' : 's'} in all)`);
  const resume = resumeText(run);
  if (resume)
    line(
      'Resume',
      run.resumeStep !== null ? `continues from the checkpoint at step ${run.resumeStep}` : 'no checkpoint with trainer state: starts over at step 0',
    );
  for (const a of alertLines(run.anomalies)) line('Alert', a);
  if (skippedTotal(run.skipped) > 0) {
    const s = run.skipped;
    line(
      'Skipped in events.jsonl',
      `${s.malformed} malformed, ${s.unknown} of unknown type, ${s.torn} torn last line, ${s.badValues} unreadable metric values`,
    );
  }
  line('Folder', run.dir);
  return md;
}

type GroupKind = 'checkpoints' | 'rollouts' | 'evals';

export class GroupNode extends vscode.TreeItem {
  readonly kind = 'group';
  constructor(
    readonly run: RunState,
    readonly group: GroupKind,
    count: number,
  ) {
    super(
      { checkpoints: 'Checkpoints', rollouts: 'Rollouts', evals: 'Evaluations' }[group],
      count ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None,
    );
    this.id = `run:${run.id}/${group}`;
    this.description = String(count);
    this.iconPath = new vscode.ThemeIcon({ checkpoints: 'save-all', rollouts: 'comment-discussion', evals: 'beaker' }[group]);
    this.contextValue = `group.${group}`;
  }
  get runId(): string {
    return this.run.id;
  }
}

export class CheckpointNode extends vscode.TreeItem {
  readonly kind = 'checkpoint';
  constructor(
    readonly run: RunState,
    readonly step: number,
    readonly dir: string,
    readonly onnx: string | null,
    bytes: number,
    accuracy: number | null,
  ) {
    super(`step ${step}`, vscode.TreeItemCollapsibleState.None);
    this.id = `run:${run.id}/checkpoint/${step}`;
    this.description = [accuracy !== null ? `avg ${formatPercent(accuracy)}` : 'not evaluated', formatBytes(bytes), onnx ? 'ONNX' : '']
      .filter(Boolean)
      .join(' · ');
    this.iconPath = new vscode.ThemeIcon('package');
    this.contextValue = 'checkpoint';
    this.tooltip = `${dir}${onnx ? `\n${onnx}` : ''}`;
    this.resourceUri = vscode.Uri.file(dir);
  }
  get runId(): string {
    return this.run.id;
  }
}

export class RolloutStepNode extends vscode.TreeItem {
  readonly kind = 'rolloutStep';
  constructor(
    readonly run: RunState,
    readonly step: number,
    readonly file: string,
    count: number,
  ) {
    super(`step ${step}`, vscode.TreeItemCollapsibleState.None);
    this.id = `run:${run.id}/rollouts/${step}`;
    this.description = `${count} rollouts`;
    this.iconPath = new vscode.ThemeIcon('file');
    this.contextValue = 'rollouts';
    this.command = { command: 'vscode.open', title: 'Open Rollouts', arguments: [vscode.Uri.file(file), { preview: true }] };
  }
  get runId(): string {
    return this.run.id;
  }
}

export class EvalNode extends vscode.TreeItem {
  readonly kind = 'eval';
  constructor(
    readonly run: RunState,
    readonly step: number,
    average: number,
    benchmarks: number,
  ) {
    super(`step ${step}`, vscode.TreeItemCollapsibleState.Collapsed);
    this.id = `run:${run.id}/evals/${step}`;
    this.description = `avg ${formatPercent(average)} over ${benchmarks} benchmark${benchmarks === 1 ? '' : 's'}`;
    this.iconPath = new vscode.ThemeIcon('beaker');
    this.contextValue = 'evaluation';
  }
  get runId(): string {
    return this.run.id;
  }
}

export class EvalFileNode extends vscode.TreeItem {
  readonly kind = 'evalFile';
  constructor(
    readonly run: RunState,
    readonly step: number,
    readonly benchmark: string,
    accuracy: number,
    n: number,
    file: string,
  ) {
    super(visibleControls(benchmark), vscode.TreeItemCollapsibleState.None);
    this.id = `run:${run.id}/evals/${step}/${benchmark}`;
    this.description = `${formatPercent(accuracy)} of ${n}`;
    this.iconPath = new vscode.ThemeIcon('checklist');
    this.contextValue = 'evaluationFile';
    const uri = vscode.Uri.file(path.resolve(run.dir, file));
    this.command = { command: 'vscode.open', title: 'Open Results', arguments: [uri, { preview: true }] };
  }
}

export class RunFileNode extends vscode.TreeItem {
  readonly kind = 'file';
  constructor(
    readonly run: RunState,
    which: 'config' | 'log',
  ) {
    super(which === 'config' ? 'Config' : 'Log', vscode.TreeItemCollapsibleState.None);
    this.id = `run:${run.id}/${which}`;
    this.iconPath = new vscode.ThemeIcon(which === 'config' ? 'settings-gear' : 'output');
    this.contextValue = `file.${which}`;
    if (which === 'config') {
      this.description = 'resolved, in run.json';
      this.command = { command: 'trapo.openRunConfig', title: 'Open Run Config', arguments: [{ runId: run.id }] };
    } else {
      this.description = 'logs/trainer.log';
      this.command = { command: 'trapo.showRunLog', title: 'Show Run Log', arguments: [{ runId: run.id }] };
    }
  }
  get runId(): string {
    return this.run.id;
  }
}

export class InfoNode extends vscode.TreeItem {
  readonly kind = 'info';
  constructor(id: string, label: string) {
    super(label, vscode.TreeItemCollapsibleState.None);
    this.id = id;
    this.contextValue = 'info';
  }
}

/** A folder whose run.json is not a readable run: shown with the reason, opening the file (not hidden, not stale). */
export class InvalidRunNode extends vscode.TreeItem {
  readonly kind = 'invalidRun';
  constructor(
    readonly dir: string,
    readonly reason: string,
  ) {
    super(path.basename(dir), vscode.TreeItemCollapsibleState.None);
    this.id = `invalid:${dir}`;
    this.description = 'invalid run';
    const md = new vscode.MarkdownString(undefined, true);
    md.supportHtml = false;
    md.isTrusted = false;
    md.appendMarkdown('**Not a readable run:** ').appendText(reason).appendMarkdown('  \n**Folder:** ').appendText(dir);
    this.tooltip = md;
    this.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground'));
    this.contextValue = 'invalidRun'; // not run.*: the run menus need a readable run
    this.command = { command: 'vscode.open', title: 'Open run.json', arguments: [vscode.Uri.file(runPaths.runJson(dir))] };
  }
}

export type RunsTreeNode = RunNode | GroupNode | CheckpointNode | RolloutStepNode | EvalNode | EvalFileNode | RunFileNode | InfoNode | InvalidRunNode;

export class RunsTreeProvider implements vscode.TreeDataProvider<RunsTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly store: RunStore) {}

  refresh(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(node: RunsTreeNode): vscode.TreeItem {
    return node;
  }

  getParent(node: RunsTreeNode): RunsTreeNode | undefined {
    if (node instanceof RunNode || node instanceof InfoNode || node instanceof InvalidRunNode) return undefined;
    const run = this.store.get((node as { run: RunState }).run.id);
    if (!run) return undefined;
    if (node instanceof GroupNode || node instanceof RunFileNode) return new RunNode(run);
    if (node instanceof CheckpointNode) return new GroupNode(run, 'checkpoints', run.checkpoints.length);
    if (node instanceof RolloutStepNode) return new GroupNode(run, 'rollouts', run.rolloutFiles.length);
    if (node instanceof EvalNode) return new GroupNode(run, 'evals', run.evals.length);
    if (node instanceof EvalFileNode) {
      const e = run.evals.find((x) => x.step === node.step);
      return e ? new EvalNode(run, e.step, e.average, Object.keys(e.benchmarks).length) : undefined;
    }
    return undefined;
  }

  getChildren(node?: RunsTreeNode): RunsTreeNode[] {
    if (!node) {
      const invalid = [...this.store.invalidRuns].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([dir, reason]) => new InvalidRunNode(dir, reason));
      return [...this.store.runs().map((r) => new RunNode(r)), ...invalid];
    }
    const run = this.store.get((node as { run?: RunState }).run?.id ?? '');
    if (!run) return [];
    if (node instanceof RunNode) {
      return [
        new GroupNode(run, 'checkpoints', run.checkpoints.length),
        new GroupNode(run, 'rollouts', run.rolloutFiles.length),
        new GroupNode(run, 'evals', run.evals.length),
        new RunFileNode(run, 'config'),
        new RunFileNode(run, 'log'),
      ];
    }
    if (node instanceof GroupNode) {
      switch (node.group) {
        case 'checkpoints': {
          const avgByStep = new Map(run.evals.map((e) => [e.step, e.average]));
          // a checkpoint evaluated only by Evaluate Checkpoint shows that average
          for (const e of run.checkpointEvals) if (!avgByStep.has(e.step)) avgByStep.set(e.step, e.average);
          return [...run.checkpoints].reverse().map((c) => new CheckpointNode(run, c.step, c.dir, c.onnx, c.bytes, avgByStep.get(c.step) ?? null));
        }
        case 'rollouts': {
          const newest = [...run.rolloutFiles].reverse();
          const shown: RunsTreeNode[] = newest.slice(0, MAX_CHILDREN).map((r) => new RolloutStepNode(run, r.step, r.file, r.count));
          if (newest.length > MAX_CHILDREN) {
            shown.push(new InfoNode(`run:${run.id}/rollouts/more`, `… ${newest.length - MAX_CHILDREN} older steps in ${path.join(run.dir, 'rollouts')}`));
          }
          return shown;
        }
        case 'evals':
          return [...run.evals].reverse().map((e) => new EvalNode(run, e.step, e.average, Object.keys(e.benchmarks).length));
        default: {
          const never: never = node.group;
          return never;
        }
      }
    }
    if (node instanceof EvalNode) {
      const e = run.evals.find((x) => x.step === node.step);
      if (!e) return [];
      return Object.entries(e.benchmarks).map(([name, b]) => new EvalFileNode(run, e.step, name, b.accuracy, b.n, b.file));
    }
    return [];
  }

  dispose(): void {
    this.changed.dispose();
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
