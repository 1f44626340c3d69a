// What the Prefix Allocation and Benchmarks views share: they show the run selected in the Runs view (vscode adapter).
import * as vscode from 'vscode';
import type { RunState, RunStore } from '../core/runStore';
import type { RunSelection } from '../services';

export abstract class SelectedRunTreeProvider<T extends vscode.TreeItem> implements vscode.TreeDataProvider<T>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<T | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(
    protected readonly store: RunStore,
    protected readonly selection: RunSelection,
  ) {}

  refresh(): void {
    this.changed.fire(undefined);
  }

  /** A message for the view when the selected run has nothing to show (undefined: the viewsWelcome text). */
  abstract message(): string | undefined;

  abstract getChildren(node?: T): T[];

  getTreeItem(node: T): vscode.TreeItem {
    return node;
  }

  protected selectedRun(): RunState | undefined {
    const id = this.selection.runId;
    return id === undefined ? undefined : this.store.get(id);
  }

  dispose(): void {
    this.changed.dispose();
  }
}
