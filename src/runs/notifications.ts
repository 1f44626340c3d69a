// Notifications when a run that was seen running crashes or fails (not for runs that were already dead when the
// window opened): Show Log and Resume.
import * as vscode from 'vscode';
import { ANOMALY_TITLES, AlertWatch } from '../core/alerts';
import type { RunChange, RunStore } from '../core/runStore';

/** A health alert of a watched run (the trainer's `anomaly` event): Open Dashboard, Open Rollout Table. */
function notifyAlerts(watch: AlertWatch, change: RunChange): void {
  const live = watch.live(change);
  if (!live) return;
  const { run, anomalies } = live;
  const last = anomalies[anomalies.length - 1];
  const more = anomalies.length > 1 ? ` (and ${anomalies.length - 1} more: ${anomalies.slice(0, -1).map((a) => ANOMALY_TITLES[a.kind]).join(', ')})` : '';
  const at = last.step !== null ? ` at step ${last.step}` : '';
  const message = `TRAPO run ${run.info.name}: ${ANOMALY_TITLES[last.kind]}${at}. ${last.message}${more}`;
  void vscode.window.showWarningMessage(message, 'Open Dashboard', 'Open Rollout Table').then((choice) => {
    if (choice === 'Open Dashboard') void vscode.commands.executeCommand('trapo.openDashboard', { runId: run.id });
    if (choice === 'Open Rollout Table') {
      void vscode.commands.executeCommand('trapo.openRolloutTable', { runDir: run.dir, ...(last.step !== null ? { step: last.step } : {}) });
    }
  });
}

export function registerRunNotifications(context: vscode.ExtensionContext, store: RunStore): void {
  const seenRunning = new Set<string>();
  const alerts = new AlertWatch();
  context.subscriptions.push(
    store.onDidChange((change) => {
      notifyAlerts(alerts, change);
      if (change.kind === 'removed') {
        seenRunning.delete(change.id);
        return;
      }
      const run = change.run;
      if (run.loading) return;
      if (run.status === 'running') {
        seenRunning.add(run.id);
        return;
      }
      if (change.kind !== 'updated' || !change.statusChange || !seenRunning.has(run.id)) return;
      seenRunning.delete(run.id);
      let message: string | undefined;
      if (run.status === 'crashed') {
        message = `TRAPO run ${run.info.name} crashed: ${run.crash.crashed ? run.crash.detail : 'its process is gone'}.`;
      } else if (run.status === 'failed') {
        const e = run.finished?.error;
        message = `TRAPO run ${run.info.name} failed${e ? `: ${e.type}: ${e.message}` : ''}.`;
      }
      if (!message) return;
      void vscode.window.showErrorMessage(message, 'Show Log', 'Resume').then((choice) => {
        if (choice === 'Show Log') void vscode.commands.executeCommand('trapo.showRunLog', { runId: run.id });
        if (choice === 'Resume') void vscode.commands.executeCommand('trapo.resumeRun', { runId: run.id });
      });
    }),
  );
}
