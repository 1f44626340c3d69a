// activate() only wires things together: each feature module returns the command handlers it implements.
// A command declared in package.json with no implementation yet says so plainly when run.
import * as vscode from 'vscode';
import { COMMAND_IDS, CommandId } from './commandIds';
import { registerRollouts, storeRuns } from './rollouts';
import { registerRolloutTable } from './rolloutTable';
import { registerCompare } from './compare';
import { registerDashboard } from './dashboard/panel';
import { registerRuns, shutdownRuns } from './runs';
import { createRunStore } from './runs/runStoreHost';
import { registerTrees } from './trees';
import { registerWalkthrough } from './walkthrough';

export type CommandHandler = (...args: unknown[]) => unknown;
export type CommandHandlers = Partial<Record<CommandId, CommandHandler>>;

export function activate(context: vscode.ExtensionContext): void {
  // The run store is created once; other features reach it through services.ts (getRunStore, getRunSelection).
  const { store, selection } = createRunStore(context);
  // Prompt nodes open rollout documents once `trapo.openRollout` is implemented (asked at each click).
  const trees = registerTrees(context, store, selection, () => handlers['trapo.openRollout'] !== undefined);
  const handlers: CommandHandlers = {
    ...registerRuns(context, store, selection, trees.revealRun),
    ...trees.handlers,
    ...registerRollouts(context, storeRuns),
    ...registerRolloutTable(context, storeRuns),
    ...registerCompare(context, storeRuns),
    ...registerDashboard(context),
    // Features register here, e.g. ...registerRuns(context), ...registerDashboard(context, store).
  };
  registerCommands(context, handlers);
  registerWalkthrough(context, store);
}

export function registerCommands(context: vscode.ExtensionContext, handlers: CommandHandlers): void {
  for (const id of COMMAND_IDS) {
    const handler = handlers[id] ?? notImplemented(id);
    context.subscriptions.push(vscode.commands.registerCommand(id, handler));
  }
}

function notImplemented(id: CommandId): CommandHandler {
  return () => {
    void vscode.window.showInformationMessage(`TRAPO: "${id}" is not implemented in this version yet.`);
  };
}

export function deactivate(): Promise<void> {
  // Features dispose through context.subscriptions; trainers started from this window are stopped here (unless
  // trapo.keepTrainersRunningOnExit), while the extension host still waits for us.
  return shutdownRuns();
}
