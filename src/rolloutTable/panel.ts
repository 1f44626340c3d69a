// TRAPO: Open Rollout Table — one webview panel per run listing its rollouts across steps (src/shared/rolloutTable.ts
// for the protocol, tableData.ts for the loading). A row opens its rollout document, two rows open in the diff editor,
// and a live run's new steps join the table as their files are written.
import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { rolloutSteps } from '../rollouts/rolloutDocuments';
import { rolloutUri } from '../rollouts/rolloutUri';
import { trsftAlpha } from '../core/rolloutText';
import { readRunInfo, runPaths } from '../core/runFormat';
import type { RunStore } from '../core/runStore';
import { makeNonce } from '../dashboard/dashboardHtml';
import { RowRef, TableHostMessage, parseTableMessage } from '../shared/rolloutTable';
import { RolloutTableLoader, StepFile } from './tableData';
import { rolloutTableHtml } from './tableHtml';

export const ROLLOUT_TABLE_VIEW_TYPE = 'trapo.rolloutTable';

export interface TableTarget {
  runDir: string;
  name: string;
  /** Start with these rows (a step from a chart point or the Runs tree). */
  query?: string;
}

export class RolloutTablePanel implements vscode.Disposable {
  private static readonly open = new Map<string, RolloutTablePanel>();
  private readonly disposables: vscode.Disposable[] = [];
  private loader: RolloutTableLoader | undefined;
  private loading: Promise<void> = Promise.resolve();
  private disposed = false;
  private ready = false;
  private pendingQuery: string | undefined;

  static show(context: vscode.ExtensionContext, store: RunStore | undefined, target: TableTarget): RolloutTablePanel {
    const existing = RolloutTablePanel.open.get(path.resolve(target.runDir));
    if (existing) {
      existing.panel.reveal();
      if (target.query !== undefined) existing.setQuery(target.query);
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(ROLLOUT_TABLE_VIEW_TYPE, `Rollouts · ${target.name}`, vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: true, // the rows of a thousand steps are not read again when the tab comes back
      localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'media')],
    });
    return new RolloutTablePanel(panel, context, store, target);
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    store: RunStore | undefined,
    private readonly target: TableTarget,
  ) {
    RolloutTablePanel.open.set(path.resolve(target.runDir), this);
    this.pendingQuery = target.query;
    const webview = panel.webview;
    this.disposables.push(
      webview.onDidReceiveMessage((m) => void this.onMessage(m)),
      panel.onDidDispose(() => this.dispose()),
    );
    if (store) {
      this.disposables.push(
        store.onDidChange((change) => {
          // A live run's new rollout files join the table.
          if (change.kind === 'updated' && path.resolve(change.run.dir) === path.resolve(target.runDir) && change.events.some((e) => e.type === 'rollouts')) {
            void this.loadNew();
          }
        }),
      );
    }
    const media = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(context.extensionUri, 'media', ...p)).toString();
    webview.html = rolloutTableHtml({
      cspSource: webview.cspSource,
      scriptUri: media('dist', 'rolloutTable.js'),
      styleUri: media('rolloutTable.css'),
      nonce: makeNonce((n) => randomBytes(n)),
    });
  }

  private post(m: TableHostMessage): void {
    if (!this.disposed) void this.panel.webview.postMessage(m);
  }

  setQuery(query: string): void {
    if (this.ready) this.post({ type: 'query', query });
    else this.pendingQuery = query;
  }

  private async stepFiles(): Promise<StepFile[]> {
    const steps = await rolloutSteps(this.target.runDir);
    return steps.map((step) => ({ step, file: runPaths.rollouts(this.target.runDir, step) }));
  }

  private async onMessage(raw: unknown): Promise<void> {
    const parsed = parseTableMessage(raw);
    if (!parsed.ok) {
      console.warn(`TRAPO rollout table: ignored a webview message: ${parsed.reason}`);
      return;
    }
    const msg = parsed.message;
    switch (msg.type) {
      case 'ready': {
        // A (re)loaded page has nothing: load everything again.
        this.ready = true;
        const files = await this.stepFiles();
        this.post({ type: 'init', run: { name: this.target.name, dir: this.target.runDir }, query: this.pendingQuery ?? '', files: files.length });
        this.pendingQuery = undefined;
        let alpha: number | undefined;
        try {
          alpha = trsftAlpha((await readRunInfo(this.target.runDir)).config);
        } catch {
          alpha = undefined;
        }
        this.loader = new RolloutTableLoader({ onChunk: (c) => this.post({ type: 'rows', ...c }), isCancelled: () => this.disposed, alpha });
        const loader = this.loader;
        this.loading = loader
          .load(files)
          .catch((e) => void vscode.window.showErrorMessage(`TRAPO: reading the rollouts of ${this.target.name} failed: ${(e as Error).message}`));
        if (files.length === 0) {
          void vscode.window.showInformationMessage(`TRAPO: ${this.target.name} has no rollouts yet (${path.join(this.target.runDir, 'rollouts')}).`);
        }
        break;
      }
      case 'open':
        await vscode.commands.executeCommand('trapo.openRollout', { runDir: this.target.runDir, ...msg.row });
        break;
      case 'diff':
        await vscode.commands.executeCommand('vscode.diff', this.uri(msg.a), this.uri(msg.b), `${describe(msg.a)} ↔ ${describe(msg.b)}`, { preview: true });
        break;
      case 'rendered':
        break;
      default: {
        const never: never = msg;
        void never;
      }
    }
  }

  private uri(r: RowRef): vscode.Uri {
    return rolloutUri({ runDir: this.target.runDir, ...r }, this.target.name);
  }

  private async loadNew(): Promise<void> {
    const loader = this.loader;
    if (!loader) return;
    await this.loading;
    const files = (await this.stepFiles()).filter((f) => !loader.loadedSteps.has(f.step));
    if (files.length) this.loading = loader.load(files);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    RolloutTablePanel.open.delete(path.resolve(this.target.runDir));
    while (this.disposables.length) this.disposables.pop()!.dispose();
    this.panel.dispose();
  }

  static disposeAll(): void {
    for (const p of [...RolloutTablePanel.open.values()]) p.dispose();
  }
}

function describe(r: RowRef): string {
  return `step ${r.step} · ${r.promptId} · sample ${r.sample}`;
}
