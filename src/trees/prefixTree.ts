// The Prefix Allocation view for the selected run: steps newest first with their level shares; under a step the
// prompts with their stage decisions and correct counts; a prompt opens its rollouts.
import * as vscode from 'vscode';
import { formatLevelShares } from '../core/benchmarks';
import type { PromptAllocation, StageRecord } from '../core/runFormat';
import type { PrefixStep, RunState } from '../core/runStore';
import { SelectedRunTreeProvider } from './selectedRunTree';
import { visibleControls } from '../core/visibleText';

export class PrefixStepNode extends vscode.TreeItem {
  readonly kind = 'prefixStep';
  constructor(
    readonly run: RunState,
    readonly entry: PrefixStep,
  ) {
    super(`step ${entry.step}`, vscode.TreeItemCollapsibleState.Collapsed);
    this.id = `prefix:${run.id}/${entry.step}`;
    this.description = formatLevelShares(entry.levelShares);
    this.tooltip = `${entry.promptCount} prompts, ${entry.guidedCount} given expert guidance\n${formatLevelShares(entry.levelShares)}`;
    this.iconPath = new vscode.ThemeIcon('layers');
    this.contextValue = 'prefixStep';
  }
  get runId(): string {
    return this.run.id;
  }
}

/** "u 1/4 → 25% 0/2 → 50% 1/1": per stage, unguided (u) or its prefix ratio, then correct of n. */
export function stageSummary(stages: readonly StageRecord[]): string {
  return stages.map((s) => `${s.guided ? `${Math.round(s.ratio * 100)}%` : 'u'} ${s.correct}/${s.n}`).join(' → ');
}

export function stageDetails(stages: readonly StageRecord[]): string {
  return stages
    .map(
      (s, i) =>
        `stage ${i}: ${s.n} sample${s.n === 1 ? '' : 's'}, ${s.guided ? `guided with ${Math.round(s.ratio * 100)}% of the expert solution` : 'unguided'}` +
        ` (decided on ${s.correct_before} correct so far): ${s.correct} correct`,
    )
    .join('\n');
}

export class PromptNode extends vscode.TreeItem {
  readonly kind = 'prompt';
  /** `index`: the prompt's place in the step (a step can draw the same problem twice, at an epoch boundary). */
  constructor(
    readonly run: RunState,
    readonly step: number,
    readonly prompt: PromptAllocation,
    index: number,
  ) {
    super(visibleControls(prompt.prompt_id), vscode.TreeItemCollapsibleState.None); // a prompt id is data
    this.id = `prefix:${run.id}/${step}/${index}/${prompt.prompt_id}`;
    const correct = prompt.stages.reduce((a, s) => a + s.correct, 0);
    const n = prompt.stages.reduce((a, s) => a + s.n, 0);
    this.description = `L${prompt.level} · ${correct}/${n} correct · ${stageSummary(prompt.stages)}`;
    this.tooltip = `${prompt.prompt_id} at step ${step}: guidance level ${prompt.level}\n${stageDetails(prompt.stages)}`;
    this.iconPath = new vscode.ThemeIcon(prompt.level === 0 ? 'circle-large-outline' : 'lightbulb');
    this.contextValue = 'prompt';
    this.command = {
      command: 'trapo.openPromptRollouts',
      title: 'Open Rollouts',
      arguments: [run.id, step, prompt.prompt_id],
    };
  }
  get runId(): string {
    return this.run.id;
  }
}

export type PrefixTreeNode = PrefixStepNode | PromptNode;

export class PrefixTreeProvider extends SelectedRunTreeProvider<PrefixTreeNode> {
  message(): string | undefined {
    const run = this.selectedRun();
    if (!run) return undefined;
    if (run.prefixSteps.length === 0) {
      return run.loading
        ? `Reading ${run.info.name}…`
        : `${run.info.name} (${run.info.algorithm}) has no prefix allocations yet: they are written by micro-group algorithms (trapo, prefix_context, prefix_sft) every step.`;
    }
    return `${run.info.name}: ${run.prefixSteps.length} steps`;
  }

  getChildren(node?: PrefixTreeNode): PrefixTreeNode[] {
    const run = this.selectedRun();
    if (!run) return [];
    if (!node) return [...run.prefixSteps].reverse().map((p) => new PrefixStepNode(run, p));
    if (node instanceof PrefixStepNode) {
      const entry = run.prefixSteps.find((p) => p.step === node.entry.step);
      return entry ? entry.prompts.map((p, i) => new PromptNode(run, entry.step, p, i)) : [];
    }
    return [];
  }
}
