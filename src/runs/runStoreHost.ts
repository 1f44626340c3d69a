// Creates the one RunStore of the extension from the settings and keeps it in step with them (runs roots,
// heartbeat timeout, workspace folders). Registers it in services.ts for the other features.
import * as os from 'node:os';
import * as vscode from 'vscode';
import { systemCrashProbe } from '../core/crash';
import { RunStore } from '../core/runStore';
import { RunSelection, setRunSelection, setRunStore } from '../services';
import { readSettings, resolveRunsRoots } from './settings';

export function createRunStore(context: vscode.ExtensionContext): { store: RunStore; selection: RunSelection } {
  const settings = readSettings();
  const store = new RunStore({
    roots: resolveRunsRoots(settings.runsRoots),
    crashProbe: systemCrashProbe(os.hostname()),
    heartbeatTimeoutSeconds: settings.heartbeatTimeoutSeconds,
  });
  const selection = new RunSelection();
  setRunStore(store);
  setRunSelection(selection);
  const updateRoots = () => void store.setRoots(resolveRunsRoots(readSettings().runsRoots));
  context.subscriptions.push(
    store,
    selection,
    { dispose: () => (setRunStore(undefined), setRunSelection(undefined)) },
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('trapo.runsRoots')) updateRoots();
      if (e.affectsConfiguration('trapo.heartbeatTimeoutSeconds')) {
        store.setHeartbeatTimeout(readSettings().heartbeatTimeoutSeconds);
      }
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(updateRoots),
  );
  // Reading runs never blocks activation: the first scan and reads happen in the background.
  void store.start();
  return { store, selection };
}
