// The Benchmarks view for the selected run: per benchmark the latest accuracy, the best with its step and the change
// since the previous evaluation; under it the evaluations by step, each opening its per-problem results.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { AVERAGE_BENCHMARK } from '../shared/dashboardProtocol';
import { BenchmarkPoint, BenchmarkSummary, CHECKPOINT_AVERAGE, benchmarkSummaries, formatChange, formatPercent } from '../core/benchmarks';
import type { RunState } from '../core/runStore';
import { SelectedRunTreeProvider } from './selectedRunTree';
import { visibleControls } from '../core/visibleText';

export class BenchmarkNode extends vscode.TreeItem {
  readonly kind = 'benchmark';
  constructor(
    readonly run: RunState,
    readonly summary: BenchmarkSummary,
  ) {
    super(
      summary.name === AVERAGE_BENCHMARK ? 'Average' : summary.name === CHECKPOINT_AVERAGE ? 'Average (Evaluate Checkpoint)' : visibleControls(summary.name),
      vscode.TreeItemCollapsibleState.Collapsed,
    );
    const average = summary.name === AVERAGE_BENCHMARK || summary.name === CHECKPOINT_AVERAGE;
    this.id = `bench:${run.id}/${summary.name}`;
    const parts = [formatPercent(summary.latest.accuracy), `best ${formatPercent(summary.best.accuracy)} @${summary.best.step}`];
    if (summary.change !== null) parts.push(formatChange(summary.change));
    this.description = parts.join(' · ');
    this.tooltip =
      `${summary.name}: ${formatPercent(summary.latest.accuracy)} at step ${summary.latest.step}` +
      `\nbest ${formatPercent(summary.best.accuracy)} at step ${summary.best.step}` +
      (summary.change !== null ? `\n${formatChange(summary.change)} since the previous evaluation` : '');
    const up = summary.change !== null && summary.change > 0;
    const down = summary.change !== null && summary.change < 0;
    this.iconPath = new vscode.ThemeIcon(
      average ? 'graph' : up ? 'arrow-up' : down ? 'arrow-down' : 'dash',
      up ? new vscode.ThemeColor('testing.iconPassed') : down ? new vscode.ThemeColor('testing.iconFailed') : undefined,
    );
    this.contextValue = average ? 'benchmark.average' : 'benchmark';
  }
  get runId(): string {
    return this.run.id;
  }
}

export class BenchmarkEvalNode extends vscode.TreeItem {
  readonly kind = 'benchmarkEval';
  constructor(
    readonly run: RunState,
    readonly benchmark: string,
    readonly point: BenchmarkPoint,
  ) {
    super(`step ${point.step}`, vscode.TreeItemCollapsibleState.None);
    // the trainer and Evaluate Checkpoint can both have evaluated a step
    this.id = `bench:${run.id}/${benchmark}/${point.step}${point.source === 'checkpoint' ? '/checkpoint' : ''}`;
    this.description =
      formatPercent(point.accuracy) +
      (point.n !== null ? ` · ${point.n} problems × ${point.samplesPerProblem ?? 1} samples` : '') +
      (point.temperature !== undefined ? ` · T=${point.temperature}` : '') +
      (point.source === 'checkpoint' ? ' · Evaluate Checkpoint' : '');
    this.iconPath = new vscode.ThemeIcon(point.file ? 'checklist' : 'graph');
    this.contextValue = point.file ? 'evaluation' : 'evaluation.average';
    if (point.file) {
      const uri = vscode.Uri.file(path.resolve(run.dir, point.file));
      this.command = { command: 'vscode.open', title: 'Open Results', arguments: [uri, { preview: true }] };
      this.tooltip = uri.fsPath;
    }
  }
  get runId(): string {
    return this.run.id;
  }
}

export type BenchmarksTreeNode = BenchmarkNode | BenchmarkEvalNode;

export class BenchmarksTreeProvider extends SelectedRunTreeProvider<BenchmarksTreeNode> {
  message(): string | undefined {
    const run = this.selectedRun();
    if (!run) return undefined;
    const n = run.evals.length + run.checkpointEvals.length;
    if (n === 0) return run.loading ? `Reading ${run.info.name}…` : undefined;
    const extra = run.checkpointEvals.length ? ` (${run.checkpointEvals.length} by Evaluate Checkpoint)` : '';
    return `${run.info.name}: ${n} evaluation${n === 1 ? '' : 's'}${extra}`;
  }

  getChildren(node?: BenchmarksTreeNode): BenchmarksTreeNode[] {
    const run = this.selectedRun();
    if (!run) return [];
    const summaries = benchmarkSummaries(run.evals, run.checkpointEvals);
    if (!node) return summaries.map((s) => new BenchmarkNode(run, s));
    if (node instanceof BenchmarkNode) {
      const s = summaries.find((x) => x.name === node.summary.name);
      return s ? [...s.points].reverse().map((p) => new BenchmarkEvalNode(run, s.name, p)) : [];
    }
    return [];
  }
}
