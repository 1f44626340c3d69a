// Notifications about runs seen live (not about runs that were already dead, or already diverged, when the window
// opened): a crash or a failure (Show Log, Resume, saying where Resume continues), and a NaN or infinite loss (an
// anomaly: Open Dashboard, Stop Run).
import * as vscode from 'vscode';
import { ANOMALY_TITLES, AlertWatch } from '../core/alerts';
import { NonFiniteLossWatch } from '../core/lossWarning';
import type { RunChange, RunStore } from '../core/runStore';
import { anomalyText, resumeSentence } from '../core/runText';
import { visibleControls } from '../core/visibleText';

/** A health alert of a watched run (the trainer's `anomaly` event): Open Dashboard, Open Rollout Table. */
function notifyAlerts(watch: AlertWatch, change: RunChange): void {
  const live = watch.live(change);
  if (!live) return;
  const { run, anomalies } = live;
  const last = anomalies[anomalies.length - 1];
  const more =
    anomalies.length > 1
      ? ` (and ${anomalies.length - 1} more: ${anomalies
          .slice(0, -1)
          .map((a) => ANOMALY_TITLES[a.kind])
          .join(', ')})`
      : '';
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
  const lossWatch = new NonFiniteLossWatch();
  const alerts = new AlertWatch();
  context.subscriptions.push(
    store.onDidChange((change) => {
      notifyAlerts(alerts, change);
      const diverged = lossWatch.warn(change);
      if (change.kind === 'removed') {
        seenRunning.delete(change.id);
        return;
      }
      const run = change.run;
      const name = visibleControls(run.info.name);
      if (run.loading) return;
      if (diverged) {
        const message = `TRAPO run ${name}: ${anomalyText(run)}. The training has likely diverged (lower the learning rate, check the data).`;
        void vscode.window.showWarningMessage(message, 'Open Dashboard', 'Stop Run').then((choice) => {
          if (choice === 'Open Dashboard') void vscode.commands.executeCommand('trapo.openDashboard', { runId: run.id });
          if (choice === 'Stop Run') void vscode.commands.executeCommand('trapo.stopRun', { runId: run.id });
        });
      }
      if (run.status === 'running') {
        seenRunning.add(run.id);
        return;
      }
      if (change.kind !== 'updated' || !change.statusChange || !seenRunning.has(run.id)) return;
      seenRunning.delete(run.id);
      let message: string | undefined;
      if (run.status === 'crashed') {
        message = `TRAPO run ${name} crashed: ${run.crash.crashed ? run.crash.detail : 'its process is gone'}.`;
      } else if (run.status === 'failed') {
        const e = run.finished?.error;
        message = `TRAPO run ${name} failed${e ? `: ${e.type}: ${e.message}` : ''}.`;
      }
      if (!message) return;
      void vscode.window.showErrorMessage(`${message} ${resumeSentence(run)}`, 'Show Log', 'Resume').then((choice) => {
        if (choice === 'Show Log') void vscode.commands.executeCommand('trapo.showRunLog', { runId: run.id });
        if (choice === 'Resume') void vscode.commands.executeCommand('trapo.resumeRun', { runId: run.id });
      });
    }),
  );
}
