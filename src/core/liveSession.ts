// The live prompt of one Compare Checkpoints panel, without `vscode`: Generate / Cancel from the webview become a
// backend's work, and what the backend reports becomes messages to the webview. Two backends: the trainer's
// service (ServiceBackend, here: `python -m trapo serve`, every checkpoint, the run's device) and onnxruntime-node in
// process (src/compare/ortBackend.ts: checkpoints with model.onnx, no Python).
import type { GenerateMessage, HostMessage, LiveEngine, Side } from '../shared/compareProtocol';
import { GenerateEvent, LoadedInfo, ServeClient, ServeError } from './serveClient';

/** What a backend tells about one generation. */
export interface LiveSink {
  status(side: Side | null, text: string): void;
  token(side: Side, text: string): void;
  done(side: Side, r: { stopped: 'eos' | 'max_tokens' | 'cancelled'; tokens: number; seconds: number; firstTokenSeconds: number | null }): void;
  error(side: Side | null, message: string): void;
}

export interface LiveBackend {
  readonly engine: LiveEngine;
  /** Gets ready before the first Generate (the user is typing a prompt): start, load. Errors go to the sink. */
  prepare(sink: LiveSink): Promise<void>;
  /** Answers on both sides (each side ends with done or error); resolves when both have ended. */
  generate(m: GenerateMessage, sink: LiveSink): Promise<void>;
  /** Stops the generation in progress between two tokens. */
  cancel(): void;
  /** Frees the models (and ends the service). */
  dispose(): Promise<void>;
}

export class LiveSession {
  private busy = false;
  private disposed = false;

  constructor(
    private readonly backend: LiveBackend,
    private readonly post: (m: HostMessage) => void,
  ) {}

  get engine(): LiveEngine {
    return this.backend.engine;
  }

  /** Loads ahead of the first Generate; what it reports carries no generation. */
  async prepare(): Promise<void> {
    if (this.disposed) return;
    await this.backend.prepare({
      status: (side, text) => this.post({ type: 'liveStatus', side, generation: null, text }),
      token: () => undefined,
      done: () => undefined,
      error: (side, message) => this.post({ type: 'error', side, generation: null, message }),
    });
  }

  async generate(m: GenerateMessage): Promise<void> {
    if (this.disposed) return;
    if (this.busy) {
      this.post({ type: 'error', side: null, generation: m.generation, message: 'a generation is already running; cancel it first' });
      return;
    }
    this.busy = true;
    const g = m.generation;
    const ended = new Set<Side>();
    const sink: LiveSink = {
      status: (side, text) => this.post({ type: 'liveStatus', side, generation: g, text }),
      token: (side, text) => {
        if (text) this.post({ type: 'token', side, generation: g, text });
      },
      done: (side, r) => {
        ended.add(side);
        this.post({ type: 'done', side, generation: g, ...r });
      },
      error: (side, message) => {
        if (side) ended.add(side);
        else (['a', 'b'] as const).forEach((s) => ended.add(s));
        this.post({ type: 'error', side, generation: g, message });
      },
    };
    try {
      await this.backend.generate(m, sink);
    } catch (e) {
      // a backend failing as a whole: each side still gets its end, so the webview never waits forever
      for (const side of ['a', 'b'] as const) if (!ended.has(side)) sink.error(side, (e as Error).message);
    } finally {
      for (const side of ['a', 'b'] as const) if (!ended.has(side)) sink.error(side, 'the generation ended without an answer');
      this.busy = false;
    }
  }

  cancel(): void {
    this.backend.cancel();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.backend.cancel();
    await this.backend.dispose();
  }
}

/** "7,615,616,512 parameters" → "7.6B parameters". */
export function formatParameters(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)}k`;
  return String(n);
}

/**
 * The trainer's service as the live prompt's backend: started on first Generate, both checkpoints loaded once (slot a
 * and b) and kept until the panel closes; if the service dies it is started again at the next Generate.
 */
export class ServiceBackend implements LiveBackend {
  readonly engine = 'service' as const;
  private client: Promise<ServeClient> | undefined;
  private loaded: Partial<Record<Side, Promise<LoadedInfo>>> = {};
  private current: { client: ServeClient; id: number } | undefined;
  private cancelled = false;
  private disposed = false;

  constructor(
    /** Spawns `python -m trapo serve` and attaches a client (ServeClient.start). */
    private readonly startService: () => Promise<ServeClient>,
    private readonly checkpoints: Record<Side, string>,
    private readonly labels: Record<Side, string>,
  ) {}

  private ensureClient(sink: LiveSink): Promise<ServeClient> {
    if (!this.client) {
      sink.status(null, "starting the trainer's generation service…");
      const c = this.startService();
      this.client = c;
      this.loaded = {};
      c.then(
        (client) => {
          sink.status(null, `trainer's service ready on ${client.ready.device} (trapo ${client.ready.trapo})`);
          void client.waitForExit().then(() => {
            if (this.client === c) {
              this.client = undefined;
              this.loaded = {};
            }
          });
        },
        () => {
          if (this.client === c) this.client = undefined;
        },
      );
    }
    return this.client;
  }

  private load(client: ServeClient, side: Side, sink: LiveSink): Promise<LoadedInfo> {
    let p = this.loaded[side];
    if (!p) {
      sink.status(side, `loading ${this.labels[side]}…`);
      p = client.load(side, this.checkpoints[side]);
      this.loaded[side] = p;
      p.catch(() => {
        if (this.loaded[side] === p) delete this.loaded[side];
      });
      p.then(
        (info) =>
          sink.status(side, `${formatParameters(info.parameters)} parameters · ${info.dtype} on ${info.device} · loaded in ${info.seconds.toFixed(1)} s`),
        () => undefined,
      );
    }
    return p;
  }

  async prepare(sink: LiveSink): Promise<void> {
    let client: ServeClient;
    try {
      client = await this.ensureClient(sink);
    } catch (e) {
      sink.error(null, (e as Error).message);
      return;
    }
    for (const side of ['a', 'b'] as const) {
      try {
        await this.load(client, side, sink);
      } catch (e) {
        sink.error(side, `${this.labels[side]}: ${(e as Error).message}`);
      }
    }
  }

  async generate(m: GenerateMessage, sink: LiveSink): Promise<void> {
    this.cancelled = false;
    let client: ServeClient;
    try {
      client = await this.ensureClient(sink);
    } catch (e) {
      sink.error(null, (e as Error).message);
      return;
    }
    const sides: Side[] = [];
    const failed: Side[] = [];
    for (const side of ['a', 'b'] as const) {
      if (this.cancelled) break;
      try {
        await this.load(client, side, sink);
        sides.push(side);
      } catch (e) {
        failed.push(side);
        sink.error(side, `${this.labels[side]}: ${(e as Error).message}`);
      }
    }
    if (this.cancelled) {
      for (const side of ['a', 'b'] as const) {
        if (!failed.includes(side)) sink.done(side, { stopped: 'cancelled', tokens: 0, seconds: 0, firstTokenSeconds: null });
      }
      return;
    }
    if (!sides.length) return;
    const done = new Set<string>();
    const gen = client.generate(
      { slots: sides, prompt: m.prompt, max_tokens: m.maxTokens, temperature: m.temperature, seed: m.generation, prompt_mode: m.promptMode },
      (e: GenerateEvent) => {
        const side = e.slot as Side;
        if (e.type === 'token') sink.token(side, e.text);
        else if (e.stopped === 'error') {
          done.add(side);
          sink.error(side, e.error?.message ?? 'generation failed');
        } else {
          done.add(side);
          sink.done(side, { stopped: e.stopped, tokens: e.tokens, seconds: e.seconds, firstTokenSeconds: e.first_token_seconds });
        }
      },
    );
    this.current = { client, id: gen.id };
    try {
      await gen.result;
    } catch (e) {
      const err = e as ServeError;
      for (const side of sides) if (!done.has(side)) sink.error(side, err.message);
    } finally {
      this.current = undefined;
    }
  }

  cancel(): void {
    this.cancelled = true;
    const cur = this.current;
    if (cur) cur.client.cancel(cur.id).catch(() => undefined);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.cancel();
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    try {
      await (await c).shutdown();
    } catch {
      // it never started: nothing to end
    }
  }
}
