// activate() only wires things together: each feature module returns the command handlers it implements.
// A command declared in package.json with no implementation yet says so plainly when run.
import * as vscode from 'vscode';
import { COMMAND_IDS, CommandId } from './commandIds';

export type CommandHandler = (...args: unknown[]) => unknown;
export type CommandHandlers = Partial<Record<CommandId, CommandHandler>>;

export function activate(context: vscode.ExtensionContext): void {
  const handlers: CommandHandlers = {
    // Features register here, e.g. ...registerRuns(context), ...registerDashboard(context, store).
  };
  registerCommands(context, handlers);
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

export function deactivate(): void {
  // Features dispose through context.subscriptions.
}
