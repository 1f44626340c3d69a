// Notifications when a run that was seen running crashes or fails (not for runs that were already dead when the
// window opened): Show Log and Resume.
import * as vscode from 'vscode';
import type { RunStore } from '../core/runStore';

export function registerRunNotifications(context: vscode.ExtensionContext, store: RunStore): void {
  const seenRunning = new Set<string>();
  context.subscriptions.push(
    store.onDidChange((change) => {
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
