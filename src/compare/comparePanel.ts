// One Compare Checkpoints panel: owns its webview, its disposables and the ONNX sessions of its live prompt.
import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CheckpointRef, compareEvals, loadCheckpointEvals } from '../core/compare';
import { runPaths } from '../core/runFormat';
import { BenchmarkRow, CompareSide, HostMessage, Side, checkWebviewMessage, GenerateMessage } from '../shared/compareProtocol';
import { compareHtml, compareNonce } from './compareHtml';
import { evalUri } from './evalDocuments';
import type { OrtModel } from '../ort/generate';

export async function onnxPathOf(ref: CheckpointRef): Promise<string | undefined> {
  const p = path.join(runPaths.checkpoint(ref.runDir, ref.step), 'model.onnx');
  try {
    await fs.access(p);
    return p;
  } catch {
    return undefined;
  }
}

export class ComparePanel implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly models = new Map<Side, Promise<OrtModel>>();
  private cancelled = false;
  private busy = false;
  private init: HostMessage | undefined;

  static async open(extensionUri: vscode.Uri, a: CheckpointRef, b: CheckpointRef): Promise<ComparePanel> {
    const panel = vscode.window.createWebviewPanel('trapo.compare', `Compare ${a.label} ↔ ${b.label}`, vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media')],
    });
    const p = new ComparePanel(panel, extensionUri, a, b);
    await p.load();
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

  private async load(): Promise<void> {
    const [ea, eb, oa, ob] = await Promise.all([
      loadCheckpointEvals(this.a.runDir, this.a.step),
      loadCheckpointEvals(this.b.runDir, this.b.step),
      onnxPathOf(this.a),
      onnxPathOf(this.b),
    ]);
    const rows: BenchmarkRow[] = compareEvals(ea, eb).map((r) => ({
      benchmark: r.benchmark,
      presence: r.presence,
      a: r.a,
      b: r.b,
      paired: r.paired && { n: r.paired.n, difference: r.paired.difference, low: r.paired.low, high: r.paired.high, flipsToA: r.paired.flipsToA, flipsToB: r.paired.flipsToB },
      unpairedA: r.unpairedA,
      unpairedB: r.unpairedB,
      flips: r.flips,
    }));
    const side = (ref: CheckpointRef, onnx: string | undefined): CompareSide => ({ label: ref.label, runDir: ref.runDir, step: ref.step, hasOnnx: onnx !== undefined });
    const missing = [!oa && `A (${this.a.label})`, !ob && `B (${this.b.label})`].filter(Boolean);
    this.init = {
      type: 'init',
      a: side(this.a, oa),
      b: side(this.b, ob),
      rows,
      liveUnavailable: missing.length
        ? `The live prompt needs model.onnx in both checkpoints; ${missing.join(' and ')} has none. Export it with: python -m trapo export-onnx`
        : null,
    };
  }

  private post(m: HostMessage): void {
    void this.panel.webview.postMessage(m);
  }

  private async onMessage(raw: unknown): Promise<void> {
    const m = checkWebviewMessage(raw);
    if (typeof m === 'string') return; // not from our script: ignore
    switch (m.type) {
      case 'ready':
        if (this.init) this.post(this.init);
        break;
      case 'openDiff':
        await this.openDiff(m.benchmark, m.problemId);
        break;
      case 'generate':
        await this.generate(m);
        break;
      case 'cancel':
        this.cancelled = true;
        break;
    }
  }

  private async openDiff(benchmark: string, problemId: string): Promise<void> {
    const left = evalUri(this.a, benchmark, problemId);
    const right = evalUri(this.b, benchmark, problemId);
    await vscode.commands.executeCommand('vscode.diff', left, right, `${benchmark} · ${problemId}: ${this.a.label} ↔ ${this.b.label}`, { preview: true });
  }

  private model(side: Side): Promise<OrtModel> {
    let m = this.models.get(side);
    if (!m) {
      const ref = side === 'a' ? this.a : this.b;
      m = import('../ort/generate').then((g) => g.OrtModel.load(runPaths.checkpoint(ref.runDir, ref.step)));
      m.catch(() => this.models.delete(side));
      this.models.set(side, m);
    }
    return m;
  }

  private async generate(m: GenerateMessage): Promise<void> {
    if (this.busy) {
      this.post({ type: 'error', side: null, generation: m.generation, message: 'a generation is already running; cancel it first' });
      return;
    }
    this.busy = true;
    this.cancelled = false;
    try {
      // Both sides at once: onnxruntime runs each session on its own threads.
      await Promise.all(
        (['a', 'b'] as const).map(async (side) => {
          try {
            const model = await this.model(side);
            const r = await model.generate(
              m.prompt,
              { maxTokens: m.maxTokens, temperature: m.temperature, seed: m.generation, isCancelled: () => this.cancelled },
              (t) => this.post({ type: 'token', side, generation: m.generation, text: t.text }),
            );
            this.post({ type: 'done', side, generation: m.generation, stopped: r.stopped, tokens: r.ids.length, seconds: r.seconds });
          } catch (e) {
            this.post({ type: 'error', side, generation: m.generation, message: (e as Error).message });
          }
        }),
      );
    } finally {
      this.busy = false;
    }
  }

  dispose(): void {
    this.cancelled = true;
    for (const m of this.models.values()) void m.then((x) => x.dispose()).catch(() => undefined);
    this.models.clear();
    this.disposables.forEach((d) => d.dispose());
    this.disposables.length = 0;
  }
}
