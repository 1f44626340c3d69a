// One Compare Checkpoints panel: owns its webview, its disposables and its live prompt (the trainer's service or
// onnxruntime-node, see liveEngine.ts), whose models are loaded once and freed when the panel closes.
import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BenchmarkComparison, BenchmarkMeta, CheckpointRef, averageComparison, compareEvals, loadCheckpointEvals } from '../core/compare';
import { LiveSession } from '../core/liveSession';
import { runPaths } from '../core/runFormat';
import { AverageRow, BenchmarkRow, CompareSide, HostMessage, CompareInitMessage, Side, parseCompareWebviewMessage } from '../shared/compareProtocol';
import { compareHtml, compareNonce } from './compareHtml';
import { evalUri } from './evalDocuments';
import { chooseLiveEngine } from './liveEngine';

export async function onnxPathOf(ref: CheckpointRef): Promise<string | undefined> {
  const p = path.join(runPaths.checkpoint(ref.runDir, ref.step), 'model.onnx');
  return (await exists(p)) ? p : undefined;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Digests of a checkpoint's benchmarks, from the run store: the trainer's eval event and Evaluate Checkpoint's summary. */
export type MetaOf = (ref: CheckpointRef) => { trainer: BenchmarkMeta; checkpoint: BenchmarkMeta };

export class ComparePanel implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private init: CompareInitMessage | undefined;
  private rows: BenchmarkComparison[] = [];
  private files: Record<Side, Map<string, string | undefined>> = { a: new Map(), b: new Map() };
  private live: LiveSession | undefined;
  private makeLive: (() => LiveSession) | undefined;
  private disposed = false;

  static async open(context: vscode.ExtensionContext, a: CheckpointRef, b: CheckpointRef, metaOf: MetaOf, output: vscode.OutputChannel): Promise<ComparePanel> {
    const panel = vscode.window.createWebviewPanel('trapo.compare', `Compare ${a.label} ↔ ${b.label}`, vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'media')],
    });
    const p = new ComparePanel(panel, context.extensionUri, a, b);
    try {
      await p.load(context, metaOf, output);
    } catch (e) {
      panel.dispose();
      throw e;
    }
    return p;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly a: CheckpointRef,
    private readonly b: CheckpointRef,
  ) {
    const webview = panel.webview;
    webview.html = compareHtml({
      cspSource: webview.cspSource,
      nonce: compareNonce((n) => randomBytes(n)),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'dist', 'compare.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'compare.css')).toString(),
    });
    this.disposables.push(
      webview.onDidReceiveMessage((m) => this.onMessage(m)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  get onDidDispose(): vscode.Event<void> {
    return this.panel.onDidDispose;
  }

  private async load(context: vscode.ExtensionContext, metaOf: MetaOf, output: vscode.OutputChannel): Promise<void> {
    const ma = metaOf(this.a);
    const mb = metaOf(this.b);
    const dirA = runPaths.checkpoint(this.a.runDir, this.a.step);
    const dirB = runPaths.checkpoint(this.b.runDir, this.b.step);
    const [ea, eb, oa, ob, ca, cb] = await Promise.all([
      loadCheckpointEvals(this.a.runDir, this.a.step, ma.trainer, ma.checkpoint),
      loadCheckpointEvals(this.b.runDir, this.b.step, mb.trainer, mb.checkpoint),
      onnxPathOf(this.a),
      onnxPathOf(this.b),
      exists(path.join(dirA, 'config.json')),
      exists(path.join(dirB, 'config.json')),
    ]);
    this.rows = compareEvals(ea, eb);
    for (const [name, set] of ea) this.files.a.set(name, set.file);
    for (const [name, set] of eb) this.files.b.set(name, set.file);
    const rows: BenchmarkRow[] = this.rows.map((r) => {
      const row: BenchmarkRow = {
        benchmark: r.benchmark,
        presence: r.presence,
        a: r.a && { accuracy: r.a.accuracy, problems: r.a.problems, skipped: r.a.skipped, source: r.a.source },
        b: r.b && { accuracy: r.b.accuracy, problems: r.b.problems, skipped: r.b.skipped, source: r.b.source },
        paired: r.paired && {
          n: r.paired.n,
          difference: r.paired.difference,
          low: r.paired.low,
          high: r.paired.high,
          flipsToA: r.paired.flipsToA,
          flipsToB: r.paired.flipsToB,
        },
        unpairedA: r.unpairedA,
        unpairedB: r.unpairedB,
        flips: r.flips,
      };
      if (r.note) row.note = r.note;
      return row;
    });
    const avg = averageComparison(this.rows, ea, eb);
    const average: AverageRow | null = avg && {
      benchmarks: avg.benchmarks,
      n: avg.stats.n,
      accuracyA: avg.stats.accuracyA,
      accuracyB: avg.stats.accuracyB,
      difference: avg.stats.difference,
      low: avg.stats.low,
      high: avg.stats.high,
      flipsToA: avg.stats.flipsToA,
      flipsToB: avg.stats.flipsToB,
    };
    const side = (ref: CheckpointRef, onnx: string | undefined, hasCheckpoint: boolean): CompareSide => ({
      label: ref.label,
      runDir: ref.runDir,
      step: ref.step,
      hasOnnx: onnx !== undefined,
      hasCheckpoint,
    });
    const sides = { a: side(this.a, oa, ca), b: side(this.b, ob, cb) };
    const choice = await chooseLiveEngine(context, { a: dirA, b: dirB }, sides, output);
    const make = choice.backend;
    if (make) this.makeLive = () => new LiveSession(make(), (m) => this.post(m));
    this.init = { type: 'init', a: sides.a, b: sides.b, rows, average, live: choice.info };
  }

  private post(m: HostMessage): void {
    if (!this.disposed) void this.panel.webview.postMessage(m);
  }

  private session(): LiveSession | undefined {
    if (!this.live && this.makeLive && !this.disposed) this.live = this.makeLive();
    return this.live;
  }

  private async onMessage(raw: unknown): Promise<void> {
    const parsed = parseCompareWebviewMessage(raw);
    if (!parsed.ok) {
      console.warn(`[trapo] compare webview: ${parsed.reason}`);
      return;
    }
    const m = parsed.message;
    switch (m.type) {
      case 'ready':
        if (this.init) this.post(this.init);
        break;
      case 'openDiff':
        await this.openDiff(m.benchmark, m.problemId);
        break;
      case 'prepare':
        await this.session()?.prepare();
        break;
      case 'generate': {
        const live = this.session();
        if (!live) this.post({ type: 'error', side: null, generation: m.generation, message: this.init?.live.unavailable ?? 'the live prompt is unavailable' });
        else await live.generate(m);
        break;
      }
      case 'cancel':
        this.live?.cancel();
        break;
      default: {
        const never: never = m;
        void never;
      }
    }
  }

  private async openDiff(benchmark: string, problemId: string): Promise<void> {
    const row = this.rows.find((r) => r.benchmark === benchmark);
    const nameA = row?.a?.name ?? benchmark;
    const nameB = row?.b?.name ?? benchmark;
    const left = evalUri(this.a, nameA, problemId, this.files.a.get(nameA));
    const right = evalUri(this.b, nameB, problemId, this.files.b.get(nameB));
    await vscode.commands.executeCommand('vscode.diff', left, right, `${benchmark} · ${problemId}: ${this.a.label} ↔ ${this.b.label}`, { preview: true });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // unloads both models and ends the service (its GPU memory with it)
    void this.live?.dispose();
    this.live = undefined;
    this.disposables.forEach((d) => d.dispose());
    this.disposables.length = 0;
  }
}
