// A fake `python -m trapo serve` in memory, speaking the protocol of trainer/trapo/serve.py: the Compare panel's
// live prompt (ServeClient, ServiceBackend, LiveSession) is tested against it without Python. It streams a
// checkpoint's "answer" (the characters of ANSWER) one token every `tokenMs`, honours cancel between tokens, answers
// a missing checkpoint with not_found and a bad request with bad_request, and can die on demand.
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ServeProcess } from '../../src/core/serveClient';

export const ANSWER: Record<string, string> = { a: 'The answer is 19.', b: '19' };

export interface FakeServeOptions {
  tokenMs?: number;
  /** Checkpoint paths that do not exist. */
  missing?: string[];
  /** Protocol version in the ready line. */
  protocol?: number;
  /** Never write the ready line. */
  silent?: boolean;
}

type Json = Record<string, unknown>;

export class FakeServe extends EventEmitter implements ServeProcess {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly requests: Json[] = [];
  readonly loaded = new Map<string, string>();
  killedWith: NodeJS.Signals[] = [];
  exited = false;
  private cancelled = new Set<unknown>();
  private queue: Promise<void> = Promise.resolve();
  private buf = '';

  constructor(private readonly opts: FakeServeOptions = {}) {
    super();
    this.stdin.setEncoding('utf8');
    this.stdin.on('data', (chunk: string) => {
      this.buf += chunk;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        this.onLine(line);
      }
    });
    this.stdin.on('end', () => this.exit(0, null));
    setImmediate(() => {
      this.stderr.write('Loading weights: 100%|██████████| 50/50\n');
      if (!opts.silent) this.send({ type: 'ready', protocol: opts.protocol ?? 1, trapo: '0.1.0', device: 'cpu', engines: ['torch'], pid: 4242 });
    });
  }

  send(m: Json): void {
    if (!this.exited) this.stdout.write(JSON.stringify(m) + '\n');
  }

  private onLine(line: string): void {
    let req: Json;
    try {
      req = JSON.parse(line) as Json;
    } catch {
      this.send({ id: null, type: 'error', code: 'bad_request', message: 'not JSON' });
      return;
    }
    this.requests.push(req);
    if (req.op === 'cancel') {
      this.cancelled.add(req.target);
      this.send({ id: req.id, type: 'ok' });
      return;
    }
    // like the service's worker: one request at a time, in order
    this.queue = this.queue.then(() => this.run(req));
  }

  private async run(req: Json): Promise<void> {
    const id = req.id;
    switch (req.op) {
      case 'load': {
        await sleep(5);
        if ((this.opts.missing ?? []).includes(String(req.checkpoint))) {
          this.send({ id, type: 'error', code: 'not_found', message: `checkpoint ${String(req.checkpoint)} does not exist (deleted, or not on this machine)` });
          return;
        }
        this.loaded.set(String(req.slot), String(req.checkpoint));
        this.send({
          id,
          type: 'ok',
          slot: req.slot,
          model: String(req.checkpoint),
          parameters: 832384,
          dtype: 'float32',
          device: 'cpu',
          seconds: 0.25,
          stop_ids: [3],
          chat_template: true,
        });
        return;
      }
      case 'generate': {
        const slots = req.slots as string[];
        const missing = slots.filter((s) => !this.loaded.has(s));
        if (missing.length) {
          this.send({ id, type: 'error', code: 'not_loaded', message: `generate: no model loaded in slot ${missing.join(', ')}` });
          return;
        }
        const t0 = Date.now();
        const pos: Record<string, number> = Object.fromEntries(slots.map((s) => [s, 0]));
        const first: Record<string, number | null> = Object.fromEntries(slots.map((s) => [s, null]));
        let active = [...slots];
        const max = Number(req.max_tokens);
        while (active.length) {
          for (const s of [...active]) {
            const end = (stopped: string) => {
              active = active.filter((x) => x !== s);
              const seconds = (Date.now() - t0) / 1000;
              this.send({ id, type: 'done', slot: s, stopped, tokens: pos[s], prompt_tokens: 30, seconds, first_token_seconds: first[s] });
            };
            if (this.cancelled.has(id) || this.exited) {
              end('cancelled');
              continue;
            }
            await sleep(this.opts.tokenMs ?? 2);
            if (pos[s] >= ANSWER[s].length) {
              end('eos');
              continue;
            }
            first[s] ??= (Date.now() - t0) / 1000;
            this.send({ id, type: 'token', slot: s, text: ANSWER[s][pos[s]] });
            pos[s]++;
            if (pos[s] >= max) end('max_tokens');
          }
        }
        this.send({ id, type: 'ok', seconds: (Date.now() - t0) / 1000 });
        return;
      }
      case 'unload':
        if (req.slot) this.loaded.delete(String(req.slot));
        else this.loaded.clear();
        this.send({ id, type: 'ok' });
        return;
      case 'shutdown':
        this.send({ id, type: 'ok' });
        this.exit(0, null);
        return;
      default:
        this.send({ id, type: 'error', code: 'bad_request', message: `unknown op ${JSON.stringify(req.op)}` });
    }
  }

  /** Ends the process as if it died (or exited). */
  exit(code: number | null, signal: NodeJS.Signals | null, lastWords?: string): void {
    if (this.exited) return;
    if (lastWords) this.stderr.write(lastWords + '\n');
    this.exited = true;
    setImmediate(() => {
      this.stdout.end();
      this.emit('exit', code, signal);
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.killedWith.push(signal);
    this.exit(null, signal);
    return true;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
