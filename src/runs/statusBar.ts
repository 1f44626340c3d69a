// The status bar item: step/total, reward and ETA of the selected run while it runs (else of the newest running
// run); hidden when nothing runs. Clicking it opens the dashboard on that run.
import * as vscode from 'vscode';
import { preparingDetail, preparingOf, preparingText } from '../core/preparing';
import { describeRunJob, jobActivity } from '../core/jobStatus';
import { RunState, RunStore, etaSeconds } from '../core/runStore';
import { formatDuration } from '../core/time';
import type { RunSelection } from '../services';

export function statusBarText(run: RunState): string {
  // A Slurm job that is not training yet: what it waits for.
  const activity = run.job ? jobActivity(run.writtenStatus, run.job) : null;
  if (run.job && activity) {
    return `${activity === 'starting' ? '$(loading~spin)' : '$(clock)'} TRAPO ${run.info.name} ${activity === 'starting' ? `starting (job ${run.job.jobId})` : describeRunJob(run.job)}`;
  }
  const preparing = preparingOf(run);
  if (preparing) return `$(loading~spin) TRAPO ${preparingText(preparing)}`;
  const parts = [`$(sync~spin) TRAPO ${run.step ?? 0}${run.totalSteps !== null ? `/${run.totalSteps}` : ''}`];
  if (run.lastReward !== null) parts.push(`reward ${run.lastReward.toFixed(2)}`);
  const eta = etaSeconds(run);
  if (eta !== null) parts.push(`ETA ${formatDuration(eta)}`);
  return parts.join(' · ');
}

export function registerStatusBar(context: vscode.ExtensionContext, store: RunStore, selection: RunSelection): void {
  const item = vscode.window.createStatusBarItem('trapo.run', vscode.StatusBarAlignment.Left, 50);
  item.name = 'TRAPO Run';
  context.subscriptions.push(item);
  let timer: NodeJS.Timeout | undefined;
  const update = () => {
    timer = undefined;
    const selected = selection.runId !== undefined ? store.get(selection.runId) : undefined;
    const run = selected?.status === 'running' ? selected : store.runs().find((r) => r.status === 'running');
    if (!run) {
      item.hide();
      return;
    }
    item.text = statusBarText(run);
    const preparing = preparingOf(run);
    item.tooltip = `${run.info.name} (${run.id}): ${run.info.algorithm} on ${run.info.device || 'Slurm'}${run.job ? `, Slurm ${describeRunJob(run.job)}` : ''}${preparing ? `, ${preparingDetail(preparing)}` : ''}. Click for the dashboard.`;
    item.command = { command: 'trapo.openDashboard', title: 'Open Dashboard', arguments: [{ runId: run.id }] };
    item.show();
  };
  const schedule = () => {
    if (!timer) timer = setTimeout(update, 500);
  };
  context.subscriptions.push(store.onDidChange(schedule), selection.onDidChange(schedule), {
    dispose: () => timer && clearTimeout(timer),
  });
  update();
}
