// The live prompt in process with onnxruntime-node (no `vscode`, no Python): checkpoints with model.onnx, i.e. the
// embedded tiny model's. The chat template comes from the checkpoint; the trainer's prompt builder does not (that is
// the service's "training" mode), so this backend offers the chat and raw modes.
import * as path from 'node:path';
import type { LiveBackend, LiveSink } from '../core/liveSession';
import type { GenerateMessage, Side } from '../shared/compareProtocol';
import type { OrtModel } from '../ort/generate';

export class OrtBackend implements LiveBackend {
  readonly engine = 'onnx' as const;
  private readonly models = new Map<Side, Promise<OrtModel>>();
  private cancelled = false;

  constructor(private readonly checkpoints: Record<Side, string>) {}

  private model(side: Side): Promise<OrtModel> {
    let m = this.models.get(side);
    if (!m) {
      const dir = this.checkpoints[side];
      m = import('../ort/generate').then((g) => g.OrtModel.load(dir, path.join(dir, 'model.onnx')));
      m.catch(() => this.models.delete(side));
      this.models.set(side, m);
    }
    return m;
  }

  async prepare(sink: LiveSink): Promise<void> {
    await Promise.all(
      (['a', 'b'] as const).map((side) =>
        this.model(side).then(
          () => undefined,
          (e: Error) => sink.error(side, e.message),
        ),
      ),
    );
  }

  async generate(m: GenerateMessage, sink: LiveSink): Promise<void> {
    this.cancelled = false;
    const t0 = performance.now();
    // Both sides at once: onnxruntime runs each session on its own threads.
    await Promise.all(
      (['a', 'b'] as const).map(async (side) => {
        try {
          const model = await this.model(side);
          let first: number | null = null;
          const r = await model.generate(
            m.prompt,
            { maxTokens: m.maxTokens, temperature: m.temperature, seed: m.generation, chatTemplate: m.promptMode !== 'raw', isCancelled: () => this.cancelled },
            (t) => {
              first ??= (performance.now() - t0) / 1000;
              sink.token(side, t.text);
            },
          );
          sink.done(side, { stopped: r.stopped, tokens: r.ids.length, seconds: (performance.now() - t0) / 1000, firstTokenSeconds: first });
        } catch (e) {
          sink.error(side, (e as Error).message);
        }
      }),
    );
  }

  cancel(): void {
    this.cancelled = true;
  }

  async dispose(): Promise<void> {
    this.cancelled = true;
    const all = [...this.models.values()];
    this.models.clear();
    await Promise.all(all.map((m) => m.then((x) => x.dispose()).catch(() => undefined)));
  }
}
