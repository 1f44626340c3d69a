// Read-only rollout documents: content provider, decorations (prefix vs continuation, tokens outside the trust
// region, all in the overview ruler too) and per-token hovers.
import * as vscode from 'vscode';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RolloutIndex } from '../core/rolloutIndex';
import { RolloutText, describeToken, renderRollout, tokenAt, trsftAlpha } from '../core/rolloutText';
import { readRunInfo, runPaths } from '../core/runFormat';
import { ROLLOUT_SCHEME, RolloutRef, parseRolloutUri } from './rolloutUri';

/** Files larger than this are indexed under a progress notification. */
const PROGRESS_BYTES = 32 << 20;
const MAX_INDEXES = 8;

/** Indexes of rollout files, newest use last; refreshed when the file grew or changed. */
export class RolloutIndexCache {
  private readonly entries = new Map<string, { index: RolloutIndex; size: number; mtimeMs: number }>();

  async get(file: string): Promise<RolloutIndex> {
    let st: { size: number; mtimeMs: number };
    try {
      st = await fs.stat(file);
    } catch {
      throw new Error(`no rollout file ${file}`);
    }
    const hit = this.entries.get(file);
    if (hit) {
      this.entries.delete(file);
      if (st.size === hit.size && st.mtimeMs === hit.mtimeMs) {
        this.entries.set(file, hit);
        return hit.index;
      }
      if (st.size > hit.size) {
        await hit.index.update();
        this.entries.set(file, { index: hit.index, size: st.size, mtimeMs: st.mtimeMs });
        return hit.index;
      }
    }
    const index = st.size > PROGRESS_BYTES ? await buildWithProgress(file, st.size) : await RolloutIndex.build(file);
    this.entries.set(file, { index, size: st.size, mtimeMs: st.mtimeMs });
    while (this.entries.size > MAX_INDEXES) this.entries.delete(this.entries.keys().next().value!);
    return index;
  }
}

function buildWithProgress(file: string, size: number): Promise<RolloutIndex> {
  return Promise.resolve(
    vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Indexing ${path.basename(file)} (${(size / 1e6).toFixed(0)} MB)`, cancellable: true },
      async (progress, token) => {
        let last = 0;
        return RolloutIndex.build(file, {
          isCancelled: () => token.isCancellationRequested,
          onProgress: (done, total) => {
            const pct = (100 * done) / total;
            progress.report({ increment: pct - last });
            last = pct;
          },
        });
      },
    ),
  );
}

/** Steps that have a rollouts file, ascending. */
export async function rolloutSteps(runDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await fs.readdir(path.join(runDir, 'rollouts'));
  } catch {
    return [];
  }
  return names
    .map((n) => /^(\d+)\.jsonl$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export class RolloutDocuments implements vscode.TextDocumentContentProvider, vscode.HoverProvider, vscode.Disposable {
  readonly indexes = new RolloutIndexCache();
  private readonly rendered = new Map<string, RolloutText>();
  private readonly alphas = new Map<string, number>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly prefixDeco = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('trapo.rollout.prefixBackground'),
    overviewRulerColor: new vscode.ThemeColor('trapo.rollout.prefixRuler'),
    overviewRulerLane: vscode.OverviewRulerLane.Left,
  });
  private readonly continuationDeco = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('trapo.rollout.continuationBackground'),
    overviewRulerColor: new vscode.ThemeColor('trapo.rollout.continuationRuler'),
    overviewRulerLane: vscode.OverviewRulerLane.Center,
  });
  private readonly outsideDeco = vscode.window.createTextEditorDecorationType({
    borderStyle: 'solid',
    borderWidth: '0 0 2px 0',
    borderColor: new vscode.ThemeColor('trapo.rollout.outsideTrustRegion'),
    overviewRulerColor: new vscode.ThemeColor('trapo.rollout.outsideTrustRegion'),
    overviewRulerLane: vscode.OverviewRulerLane.Right,
  });
  /** Every token with recorded figures: the help cursor says a hover is there (and splits the text into spans). */
  private readonly tokenDeco = vscode.window.createTextEditorDecorationType({ cursor: 'help' });
  private readonly headerDeco = vscode.window.createTextEditorDecorationType({
    color: new vscode.ThemeColor('descriptionForeground'),
    fontWeight: 'bold',
  });

  constructor(private readonly runName: (runDir: string) => string) {
    this.disposables.push(
      this.prefixDeco,
      this.continuationDeco,
      this.outsideDeco,
      this.headerDeco,
      this.tokenDeco,
      vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((e) => this.decorate(e))),
      vscode.workspace.onDidCloseTextDocument((d) => {
        if (d.uri.scheme === ROLLOUT_SCHEME) this.rendered.delete(d.uri.toString());
      }),
    );
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    let ref: RolloutRef;
    try {
      ref = parseRolloutUri(uri);
    } catch (e) {
      return `${(e as Error).message}\n`;
    }
    try {
      const index = await this.indexes.get(runPaths.rollouts(ref.runDir, ref.step));
      const k = index.find(ref.promptId, ref.sample);
      if (k === -1) return `No rollout of prompt ${ref.promptId}, sample ${ref.sample} at step ${ref.step} in ${ref.runDir}.\n`;
      const rec = await index.read(k);
      const r = renderRollout(rec, {
        alpha: await this.alpha(ref.runDir),
        groupSize: index.group(ref.promptId).length,
        runName: this.runName(ref.runDir),
      });
      this.rendered.set(uri.toString(), r);
      // The editor for this document may already be visible (a reload); decorate once it has the text.
      setTimeout(() => vscode.window.visibleTextEditors.forEach((e) => this.decorate(e)), 0);
      return r.text;
    } catch (e) {
      return `Cannot show this rollout: ${(e as Error).message}\n`;
    }
  }

  private async alpha(runDir: string): Promise<number> {
    let a = this.alphas.get(runDir);
    if (a === undefined) {
      try {
        a = trsftAlpha((await readRunInfo(runDir)).config);
      } catch {
        a = trsftAlpha(undefined);
      }
      this.alphas.set(runDir, a);
    }
    return a;
  }

  decorate(editor: vscode.TextEditor): void {
    const doc = editor.document;
    if (doc.uri.scheme !== ROLLOUT_SCHEME) return;
    const r = this.rendered.get(doc.uri.toString());
    if (!r || doc.getText() !== r.text) return;
    const range = (s: { start: number; end: number }) => new vscode.Range(doc.positionAt(s.start), doc.positionAt(s.end));
    editor.setDecorations(this.headerDeco, [range(r.header)]);
    editor.setDecorations(this.prefixDeco, r.prefix.end > r.prefix.start ? [range(r.prefix)] : []);
    editor.setDecorations(this.continuationDeco, r.continuation.end > r.continuation.start ? [range(r.continuation)] : []);
    editor.setDecorations(this.tokenDeco, r.tokens.map(range));
    editor.setDecorations(
      this.outsideDeco,
      r.outsideTrustRegion.map((t) => ({ range: range(t), hoverMessage: undefined })),
    );
  }

  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const r = this.rendered.get(doc.uri.toString());
    if (!r) return undefined;
    const offset = doc.offsetAt(pos);
    const t = tokenAt(r.tokens, offset);
    if (t) {
      const md = new vscode.MarkdownString();
      for (const line of describeToken(t, r.alpha).split('\n')) md.appendText(line).appendMarkdown('  \n');
      return new vscode.Hover(md, new vscode.Range(doc.positionAt(t.start), doc.positionAt(t.end)));
    }
    if (offset >= r.prefix.start && offset < r.prefix.end) return new vscode.Hover('Expert prefix (given to the model)');
    if (offset >= r.continuation.start && offset < r.continuation.end) return new vscode.Hover("Model's continuation");
    return undefined;
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
