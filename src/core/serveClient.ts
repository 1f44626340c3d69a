// A client of `python -m trapo serve` (trainer/trapo/serve.py: the protocol is described there): JSON lines to its
// stdin, JSON lines from its stdout, its stderr kept as a log. No `vscode` import; the process is given (spawned by
// the caller, or a fake one in tests).
//
// Every request gets exactly one final line (ok or error); a generate request streams token/done lines before it.
// When the process ends (exit, or a failed spawn), every pending request fails with the reason and the last lines
// of its log, so a caller never waits on a dead pipe.

export interface ServeProcess {
  readonly stdin: NodeJS.WritableStream | null;
  readonly stdout: NodeJS.ReadableStream | null;
  readonly stderr: NodeJS.ReadableStream | null;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

/** An error line of the service (code from the protocol), or `exited` / `timeout` / `protocol` from this client. */
export class ServeError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ServeError';
  }
}

export interface ReadyInfo {
  protocol: number;
  trapo: string;
  device: string;
  engines: string[];
  torch?: string;
  pid?: number;
}

export interface LoadedInfo {
  slot: string;
  model: string;
  parameters: number;
  dtype: string;
  device: string;
  seconds: number;
  stop_ids: number[];
  chat_template: boolean;
}

export interface GenerateParams {
  slots: string[];
  prompt: string;
  max_tokens: number;
  temperature: number;
  seed: number;
  prompt_mode: 'training' | 'chat' | 'raw';
}

export type GenerateEvent =
  | { type: 'token'; slot: string; text: string }
  | {
      type: 'done';
      slot: string;
      stopped: 'eos' | 'max_tokens' | 'cancelled' | 'error';
      tokens: number;
      prompt_tokens: number;
      seconds: number;
      first_token_seconds: number | null;
      error?: { code: string; message: string };
    };

export const SERVE_PROTOCOL = 1;

type Json = Record<string, unknown>;

interface Pending {
  resolve(m: Json): void;
  reject(e: Error): void;
  onEvent?: (e: GenerateEvent) => void;
}

const LOG_LINES = 40;

export class ServeClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly log: string[] = [];
  private buffer = '';
  private ended: ServeError | null = null;
  private readonly exitWaiters: (() => void)[] = [];
  /** Lines of stdout that were not protocol JSON (should stay 0: the service keeps stdout for the protocol). */
  strayLines = 0;
  ready!: ReadyInfo;

  private constructor(
    private readonly proc: ServeProcess,
    private readonly onLog?: (line: string) => void,
  ) {}

  /** Attaches to a started process and waits for its ready line. */
  static start(proc: ServeProcess, options: { readyTimeoutMs?: number; onLog?: (line: string) => void } = {}): Promise<ServeClient> {
    const client = new ServeClient(proc, options.onLog);
    return client.attach(options.readyTimeoutMs ?? 180_000);
  }

  private attach(readyTimeoutMs: number): Promise<ServeClient> {
    return new Promise<ServeClient>((resolve, reject) => {
      let readyDone = false;
      const timer = setTimeout(() => {
        if (readyDone) return;
        readyDone = true;
        reject(new ServeError('timeout', `the trainer's service did not start within ${Math.round(readyTimeoutMs / 1000)} s${this.logTail()}`));
        this.proc.kill('SIGKILL');
      }, readyTimeoutMs);
      this.onReady = (info) => {
        if (readyDone) return;
        readyDone = true;
        clearTimeout(timer);
        if (info.protocol !== SERVE_PROTOCOL) {
          reject(
            new ServeError(
              'protocol',
              `the trainer's service speaks protocol ${String(info.protocol)}, this extension ${SERVE_PROTOCOL}: update the trainer (pip install -e trainer) or the extension`,
            ),
          );
          this.proc.kill('SIGTERM');
          return;
        }
        this.ready = info;
        resolve(this);
      };
      this.onEnd = (err) => {
        if (readyDone) return;
        readyDone = true;
        clearTimeout(timer);
        reject(err);
      };
      this.proc.stdout?.setEncoding?.('utf8');
      this.proc.stdout?.on('data', (chunk: string | Buffer) => this.onData(String(chunk)));
      this.proc.stderr?.setEncoding?.('utf8');
      let errBuf = '';
      this.proc.stderr?.on('data', (chunk: string | Buffer) => {
        errBuf += String(chunk);
        const lines = errBuf.split(/\r?\n|\r/);
        errBuf = lines.pop() ?? '';
        for (const l of lines) this.addLog(l);
      });
      this.proc.stdin?.on?.('error', () => undefined); // EPIPE when it died: reported through 'exit'
      this.proc.once('error', (e) => this.end(new ServeError('exited', `the trainer's service could not be started: ${e.message}`)));
      this.proc.once('exit', (code, signal) => {
        if (errBuf) this.addLog(errBuf);
        const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
        this.end(new ServeError('exited', `the trainer's service ${how}${this.logTail()}`));
      });
    });
  }

  private onReady: (info: ReadyInfo) => void = () => undefined;
  private onEnd: (err: ServeError) => void = () => undefined;

  private addLog(line: string): void {
    if (!line.trim()) return;
    // progress bars redraw with \r: keep the log readable
    this.log.push(line);
    if (this.log.length > LOG_LINES) this.log.shift();
    this.onLog?.(line);
  }

  /** The last lines the service wrote to its log (stderr). */
  logLines(): readonly string[] {
    return this.log;
  }

  private logTail(): string {
    const tail = this.log.slice(-6).join('\n');
    return tail ? `:\n${tail}` : '';
  }

  get exited(): boolean {
    return this.ended !== null;
  }

  private end(err: ServeError): void {
    if (this.ended) return;
    this.ended = err;
    this.onEnd(err);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const w of this.exitWaiters.splice(0)) w();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let i: number;
    while ((i = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 1);
      if (line.trim()) this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let m: Json;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      m = parsed as Json;
    } catch {
      this.strayLines++;
      this.addLog(`(stdout) ${line}`);
      return;
    }
    if (m.type === 'ready') {
      this.onReady(m as unknown as ReadyInfo);
      return;
    }
    const id = m.id;
    const p = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!p) {
      // an error without an id: a request this client sent badly (should not happen); keep it in the log
      if (m.type === 'error') this.addLog(`(protocol) ${String(m.message)}`);
      return;
    }
    switch (m.type) {
      case 'ok':
        this.pending.delete(id as number);
        p.resolve(m);
        break;
      case 'error':
        this.pending.delete(id as number);
        p.reject(new ServeError(String(m.code ?? 'internal'), String(m.message ?? 'error')));
        break;
      case 'token':
      case 'done':
        p.onEvent?.(m as unknown as GenerateEvent);
        break;
      default:
        this.addLog(`(protocol) unknown line type ${JSON.stringify(m.type)}`);
    }
  }

  private request(op: string, fields: Json, onEvent?: (e: GenerateEvent) => void): { id: number; result: Promise<Json> } {
    const id = this.nextId++;
    const result = new Promise<Json>((resolve, reject) => {
      if (this.ended) {
        reject(this.ended);
        return;
      }
      this.pending.set(id, { resolve, reject, onEvent });
      try {
        this.proc.stdin?.write(JSON.stringify({ id, op, ...fields }) + '\n');
      } catch (e) {
        this.pending.delete(id);
        reject(new ServeError('exited', `cannot write to the trainer's service: ${(e as Error).message}`));
      }
    });
    return { id, result };
  }

  async load(slot: string, checkpoint: string, dtype = 'auto'): Promise<LoadedInfo> {
    return (await this.request('load', { slot, checkpoint, dtype }).result) as unknown as LoadedInfo;
  }

  /** Starts a generation; events stream to `onEvent`; `result` settles with the request's final line. */
  generate(params: GenerateParams, onEvent: (e: GenerateEvent) => void): { id: number; result: Promise<{ seconds: number }> } {
    const r = this.request('generate', { ...params }, onEvent);
    return { id: r.id, result: r.result as Promise<unknown> as Promise<{ seconds: number }> };
  }

  async cancel(target: number): Promise<void> {
    await this.request('cancel', { target }).result;
  }

  async unload(slot?: string): Promise<void> {
    await this.request('unload', slot ? { slot } : {}).result;
  }

  async status(): Promise<Json> {
    return this.request('status', {}).result;
  }

  /** Resolves once the process has ended (at once if it has). */
  waitForExit(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /**
   * Ends the service: a shutdown request and end of input, then SIGTERM after `graceMs` and SIGKILL after as long
   * again if it is still there. Frees the models (and the GPU memory) with the process.
   */
  async shutdown(graceMs = 5000): Promise<void> {
    if (this.ended) return;
    this.request('shutdown', {}).result.catch(() => undefined);
    try {
      this.proc.stdin?.end();
    } catch {
      // already closed
    }
    const exited = this.waitForExit();
    for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
      if (await settles(exited, graceMs)) return;
      this.proc.kill(sig);
    }
    await settles(exited, graceMs);
  }
}

/** True when `p` settles within `ms`; the timer is cleared either way. */
function settles(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(t);
      resolve(true);
    };
    p.then(done, done);
  });
}
