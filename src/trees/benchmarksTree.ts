// The Benchmarks view for the selected run: per benchmark the latest accuracy, the best with its step and the change
// since the previous evaluation; under it the evaluations by step, each opening its per-problem results.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { AVERAGE, BenchmarkPoint, BenchmarkSummary, benchmarkSummaries, formatChange, formatPercent } from '../core/benchmarks';
import type { RunState } from '../core/runStore';
import { SelectedRunTreeProvider } from './selectedRunTree';
import { visibleControls } from '../core/visibleText';

export class BenchmarkNode extends vscode.TreeItem {
  readonly kind = 'benchmark';
  constructor(readonly run: RunState, readonly summary: BenchmarkSummary) {
    super(summary.name === AVERAGE ? 'Average' : visibleControls(summary.name), vscode.TreeItemCollapsibleState.Collapsed);
    this.id = `bench:${run.id}/${summary.name}`;
    const parts = [
      formatPercent(summary.latest.accuracy),
      `best ${formatPercent(summary.best.accuracy)} @${summary.best.step}`,
    ];
    if (summary.change !== null) parts.push(formatChange(summary.change));
    this.description = parts.join(' · ');
    this.tooltip =
      `${summary.name}: ${formatPercent(summary.latest.accuracy)} at step ${summary.latest.step}` +
      `\nbest ${formatPercent(summary.best.accuracy)} at step ${summary.best.step}` +
      (summary.change !== null ? `\n${formatChange(summary.change)} since the previous evaluation` : '');
    const up = summary.change !== null && summary.change > 0;
    const down = summary.change !== null && summary.change < 0;
    this.iconPath = new vscode.ThemeIcon(
      summary.name === AVERAGE ? 'graph' : up ? 'arrow-up' : down ? 'arrow-down' : 'dash',
      up ? new vscode.ThemeColor('testing.iconPassed') : down ? new vscode.ThemeColor('testing.iconFailed') : undefined,
    );
    this.contextValue = summary.name === AVERAGE ? 'benchmark.average' : 'benchmark';
  }
  get runId(): string {
    return this.run.id;
  }
}

export class BenchmarkEvalNode extends vscode.TreeItem {
  readonly kind = 'benchmarkEval';
  constructor(readonly run: RunState, readonly benchmark: string, readonly point: BenchmarkPoint) {
    super(`step ${point.step}`, vscode.TreeItemCollapsibleState.None);
    this.id = `bench:${run.id}/${benchmark}/${point.step}`;
    this.description =
      formatPercent(point.accuracy) +
      (point.n !== null ? ` · ${point.n} problems × ${point.samplesPerProblem ?? 1} samples` : '');
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
    if (run.evals.length === 0) return run.loading ? `Reading ${run.info.name}…` : undefined;
    return `${run.info.name}: ${run.evals.length} evaluation${run.evals.length === 1 ? '' : 's'}`;
  }

  getChildren(node?: BenchmarksTreeNode): BenchmarksTreeNode[] {
    const run = this.selectedRun();
    if (!run) return [];
    const summaries = benchmarkSummaries(run.evals);
    if (!node) return summaries.map((s) => new BenchmarkNode(run, s));
    if (node instanceof BenchmarkNode) {
      const s = summaries.find((x) => x.name === node.summary.name);
      return s ? [...s.points].reverse().map((p) => new BenchmarkEvalNode(run, s.name, p)) : [];
    }
    return [];
  }
}
