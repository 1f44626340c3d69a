// The Dashboard webview panel: one panel at a time, owned by DashboardPanel with its own disposables.
// The host keeps the data (run store) and sends it after the webview's `ready`; the webview keeps its UI choices
// with vscode.setState, so `retainContextWhenHidden` stays off (a hidden dashboard costs no memory in the renderer).
import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import type { RunStore } from '../core/runStore';
import { DashboardSettings, ExportMessage } from '../shared/dashboardProtocol';
import { dashboardHtml, makeNonce } from './dashboardHtml';
import { DashboardSession } from './dashboardSession';
import { runStoreSource } from './runStoreSource';
import { exportFileName, runIdFromArg } from './dashboardData';
import { getRunSelection, getRunStore } from '../services';

export const DASHBOARD_VIEW_TYPE = 'trapo.dashboard';

function readDashboardSettings(): DashboardSettings {
  const c = vscode.workspace.getConfiguration('trapo.dashboard');
  const smoothing = c.get<number>('smoothing', 0.6);
  const maxPoints = c.get<number>('maxPointsPerSeries', 1200);
  return {
    smoothing: Number.isFinite(smoothing) ? Math.min(0.999, Math.max(0, smoothing)) : 0.6,
    maxPointsPerSeries: Number.isInteger(maxPoints) && maxPoints >= 100 ? maxPoints : 1200,
  };
}

export class DashboardPanel implements vscode.Disposable {
  private static current: DashboardPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly session: DashboardSession;
  private disposed = false;

  /** Opens (or reveals) the dashboard; with a run, that run is shown too. */
  static show(context: vscode.ExtensionContext, store: RunStore, runId?: string): DashboardPanel {
    if (DashboardPanel.current) {
      DashboardPanel.current.panel.reveal();
      if (runId) DashboardPanel.current.session.showRun(runId);
      return DashboardPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, 'TRAPO Dashboard', vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: false,
      localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'media')],
    });
    return new DashboardPanel(panel, context, store, runId);
  }

  /** Restores a panel after a window reload (the webview's own state carries the UI choices). */
  static revive(panel: vscode.WebviewPanel, context: vscode.ExtensionContext, store: RunStore): DashboardPanel {
    DashboardPanel.current?.dispose();
    return new DashboardPanel(panel, context, store, undefined);
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    store: RunStore,
    runId: string | undefined,
  ) {
    DashboardPanel.current = this;
    const webview = panel.webview;
    webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'media')] };
    this.session = new DashboardSession({
      source: runStoreSource(store),
      post: (m) => void webview.postMessage(m),
      settings: readDashboardSettings,
      // With no remembered selection: the run selected in the Runs view (else the newest running, else newest run).
      preferredRunId: selectedRunId,
      onBadMessage: (reason) => console.warn(`TRAPO dashboard: ignored a webview message: ${reason}`),
      onExport: (m) => void saveExport(m),
      onOpenRolloutTable: (runId, step) => void vscode.commands.executeCommand('trapo.openRolloutTable', { runId, step }),
    });
    this.disposables.push(
      { dispose: () => this.session.dispose() },
      webview.onDidReceiveMessage((m) => this.session.handleMessage(m)),
      panel.onDidChangeViewState((e) => {
        // Hidden without retained context: the page is gone; it posts `ready` again when shown.
        if (!e.webviewPanel.visible) this.session.webviewUnloaded();
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('trapo.dashboard')) this.session.settingsChanged();
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    if (runId) this.session.showRun(runId); // joins the selection when the webview is ready
    const media = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(context.extensionUri, 'media', ...p)).toString();
    webview.html = dashboardHtml({
      cspSource: webview.cspSource,
      scriptUri: media('dist', 'dashboard.js'),
      styleUri: media('dashboard.css'),
      nonce: makeNonce((n) => randomBytes(n)),
    });
  }

  static disposeCurrent(): void {
    DashboardPanel.current?.dispose();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (DashboardPanel.current === this) DashboardPanel.current = undefined;
    while (this.disposables.length) this.disposables.pop()!.dispose();
    this.panel.dispose();
  }
}

/** Asks where to save a chart's CSV or PNG (the dialog starts in the workspace) and writes it. */
async function saveExport(m: ExportMessage): Promise<void> {
  const name = exportFileName(m.name, m.format);
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const uri = await vscode.window.showSaveDialog({
    title: `Export chart as ${m.format.toUpperCase()}`,
    defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined,
    filters: m.format === 'csv' ? { CSV: ['csv'] } : { 'PNG image': ['png'] },
    saveLabel: 'Export',
  });
  if (!uri) return;
  try {
    const bytes = m.format === 'csv' ? Buffer.from(m.data, 'utf8') : Buffer.from(m.data, 'base64');
    await vscode.workspace.fs.writeFile(uri, bytes);
    void vscode.window.showInformationMessage(`TRAPO: chart exported to ${uri.fsPath || uri.toString()}`);
  } catch (e) {
    void vscode.window.showErrorMessage(`TRAPO: could not write ${uri.fsPath || uri.toString()}: ${(e as Error).message}`);
  }
}

function selectedRunId(): string | undefined {
  try {
    return getRunSelection().runId;
  } catch {
    return undefined; // no Runs view selection service (yet)
  }
}

/** Registers the panel serializer and returns the `trapo.openDashboard` handler (optional run argument from the tree). */
export function registerDashboard(context: vscode.ExtensionContext, getStore: () => RunStore = getRunStore) {
  context.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, {
      // The webview's state (its UI choices) comes back with its `ready` message; nothing to read here.
      async deserializeWebviewPanel(panel: vscode.WebviewPanel) {
        DashboardPanel.revive(panel, context, getStore());
      },
    }),
    { dispose: () => DashboardPanel.disposeCurrent() },
  );
  return {
    'trapo.openDashboard': (arg?: unknown) => {
      DashboardPanel.show(context, getStore(), runIdFromArg(arg));
    },
  };
}
