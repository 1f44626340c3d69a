// The Compare panel's live prompt without VS Code: LiveSession + ServiceBackend + ServeClient against a fake
// `trapo serve` (test/helpers/fakeServe.ts): what the webview receives for Generate, streaming, Cancel, a missing
// checkpoint, a service that dies, and the panel closing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LiveSession, ServiceBackend, formatParameters } from '../../src/core/liveSession';
import { ServeClient, ServeError } from '../../src/core/serveClient';
import type { GenerateMessage, HostMessage } from '../../src/shared/compareProtocol';
import { ANSWER, FakeServe, FakeServeOptions, sleep } from '../helpers/fakeServe';

const CKPT = { a: '/runs/r1/checkpoints/000002', b: '/runs/r2/checkpoints/000004' };
const LABELS = { a: 'r1 @ 2', b: 'r2 @ 4' };
const gen = (generation: number, over: Partial<GenerateMessage> = {}): GenerateMessage => ({
  type: 'generate',
  generation,
  prompt: 'What is 12 + 7?',
  maxTokens: 64,
  temperature: 0,
  promptMode: 'training',
  ...over,
});

function setup(opts: FakeServeOptions = {}) {
  const procs: FakeServe[] = [];
  const posted: HostMessage[] = [];
  const backend = new ServiceBackend(
    () => {
      const p = new FakeServe(opts);
      procs.push(p);
      return ServeClient.start(p, { readyTimeoutMs: 2000 });
    },
    CKPT,
    LABELS,
  );
  const session = new LiveSession(backend, (m) => posted.push(m));
  return { procs, posted, session };
}

const text = (posted: HostMessage[], side: 'a' | 'b', g: number) =>
  posted
    .filter((m): m is Extract<HostMessage, { type: 'token' }> => m.type === 'token' && m.side === side && m.generation === g)
    .map((m) => m.text)
    .join('');
const done = (posted: HostMessage[], g: number) => posted.filter((m): m is Extract<HostMessage, { type: 'done' }> => m.type === 'done' && m.generation === g);

describe('live prompt through the trainer service', () => {
  it('starts the service once, loads both checkpoints once, and streams both answers side by side', async () => {
    const { procs, posted, session } = setup();
    await session.generate(gen(1));
    assert.equal(text(posted, 'a', 1), ANSWER.a);
    assert.equal(text(posted, 'b', 1), ANSWER.b);
    const d = done(posted, 1);
    assert.deepEqual(d.map((m) => [m.side, m.stopped, m.tokens]).sort(), [
      ['a', 'eos', ANSWER.a.length],
      ['b', 'eos', ANSWER.b.length],
    ]);
    for (const m of d) assert.ok(m.firstTokenSeconds !== null && m.firstTokenSeconds <= m.seconds, JSON.stringify(m));
    // the two columns fill at once: b's first token comes before a's last
    const firstB = posted.findIndex((m) => m.type === 'token' && m.side === 'b');
    const lastA = posted.map((m) => m.type === 'token' && m.side === 'a').lastIndexOf(true);
    assert.ok(firstB < lastA, 'b streams while a does');
    const statuses = posted.filter((m) => m.type === 'liveStatus').map((m) => (m as { text: string }).text);
    assert.ok(statuses.includes("starting the trainer's generation service…"), statuses.join(' | '));
    assert.ok(
      statuses.some((s) => /^832k parameters · float32 on cpu · loaded in 0\.3 s$/.test(s)),
      statuses.join(' | '),
    );
    await session.generate(gen(2, { maxTokens: 3 }));
    assert.deepEqual(
      done(posted, 2)
        .map((m) => [m.side, m.stopped, m.tokens])
        .sort(),
      [
        ['a', 'max_tokens', 3],
        ['b', 'eos', 2],
      ],
    );
    const ops = procs[0].requests.map((r) => r.op);
    assert.equal(procs.length, 1, 'one service per panel');
    assert.deepEqual(ops, ['load', 'load', 'generate', 'generate'], 'the checkpoints are loaded once');
    assert.deepEqual(procs[0].requests[0], { id: 1, op: 'load', slot: 'a', checkpoint: CKPT.a, dtype: 'auto' });
    const g = procs[0].requests[2];
    assert.deepEqual(
      { ...g, id: 0 },
      { id: 0, op: 'generate', slots: ['a', 'b'], prompt: 'What is 12 + 7?', max_tokens: 64, temperature: 0, seed: 1, prompt_mode: 'training' },
    );
    await session.dispose();
    assert.equal(procs[0].requests.at(-1)?.op, 'shutdown', 'closing the panel ends the service');
    assert.ok(procs[0].exited);
  });

  it('prepare loads ahead of Generate; Cancel stops both sides between two tokens', async () => {
    const { procs, posted, session } = setup({ tokenMs: 30 });
    await session.prepare();
    assert.deepEqual(
      procs[0].requests.map((r) => r.op),
      ['load', 'load'],
    );
    const running = session.generate(gen(1));
    while (!posted.some((m) => m.type === 'token')) await sleep(5);
    session.cancel();
    await running;
    const d = done(posted, 1);
    assert.deepEqual(
      d.map((m) => m.stopped),
      ['cancelled', 'cancelled'],
    );
    assert.ok(
      d.every((m) => m.tokens < ANSWER[m.side].length),
      JSON.stringify(d),
    );
    assert.ok(procs[0].requests.some((r) => r.op === 'cancel' && r.target === procs[0].requests[2].id));
    // the service goes on after a cancel
    await session.generate(gen(2));
    assert.equal(text(posted, 'a', 2), ANSWER.a);
    await session.dispose();
  });

  it('a missing checkpoint is an error on its side only; the other side answers', async () => {
    const { posted, session } = setup({ missing: [CKPT.b] });
    await session.generate(gen(1));
    const errB = posted.find((m) => m.type === 'error' && m.side === 'b');
    assert.ok(errB && errB.type === 'error');
    assert.equal(errB.message, `r2 @ 4: checkpoint ${CKPT.b} does not exist (deleted, or not on this machine)`);
    assert.equal(text(posted, 'a', 1), ANSWER.a);
    assert.deepEqual(
      done(posted, 1).map((m) => m.side),
      ['a'],
    );
    await session.dispose();
  });

  it('a service that dies ends both sides with its last words, and the next Generate starts a new one', async () => {
    const { procs, posted, session } = setup({ tokenMs: 20 });
    const running = session.generate(gen(1));
    while (!posted.some((m) => m.type === 'token')) await sleep(5);
    procs[0].exit(null, 'SIGKILL', 'torch.OutOfMemoryError: CUDA out of memory');
    await running;
    const errs = posted.filter((m) => m.type === 'error' && m.generation === 1);
    assert.equal(errs.length, 2, JSON.stringify(errs));
    for (const e of errs) assert.match((e as { message: string }).message, /service was killed \(SIGKILL\):\n[\s\S]*CUDA out of memory/);
    await session.generate(gen(2));
    assert.equal(procs.length, 2, 'started again');
    assert.equal(text(posted, 'b', 2), ANSWER.b);
    await session.dispose();
  });

  it('a second Generate while one runs is refused with a message', async () => {
    const { posted, session } = setup({ tokenMs: 10 });
    const first = session.generate(gen(1));
    await session.generate(gen(2));
    assert.deepEqual(
      posted.find((m) => m.type === 'error' && m.generation === 2),
      {
        type: 'error',
        side: null,
        generation: 2,
        message: 'a generation is already running; cancel it first',
      },
    );
    await first;
    await session.dispose();
  });
});

describe('ServeClient', () => {
  it('rejects a service that speaks another protocol, or never says ready', async () => {
    await assert.rejects(ServeClient.start(new FakeServe({ protocol: 2 })), (e: ServeError) => e.code === 'protocol' && /protocol 2/.test(e.message));
    const silent = new FakeServe({ silent: true });
    await assert.rejects(
      ServeClient.start(silent, { readyTimeoutMs: 50 }),
      (e: ServeError) => e.code === 'timeout' && /did not start within 0 s:\nLoading weights/.test(e.message),
    );
    assert.deepEqual(silent.killedWith, ['SIGKILL']);
  });

  it('passes error lines through with their code, and fails requests sent after the service ended', async () => {
    const p = new FakeServe();
    const c = await ServeClient.start(p);
    await assert.rejects(
      c.generate({ slots: ['a'], prompt: 'x', max_tokens: 2, temperature: 0, seed: 0, prompt_mode: 'raw' }, () => undefined).result,
      (e: ServeError) => e.code === 'not_loaded',
    );
    p.exit(1, null, 'Traceback: boom');
    await c.waitForExit();
    assert.ok(c.exited);
    await assert.rejects(c.load('a', '/x'), (e: ServeError) => e.code === 'exited' && /exited with code 1:\n.*boom/s.test(e.message));
  });

  it('shutdown ends a service that ignores it with SIGTERM', async () => {
    const p = new FakeServe();
    const c = await ServeClient.start(p);
    p.stdin.removeAllListeners('data');
    p.stdin.removeAllListeners('end'); // deaf: neither the request nor end of input ends it
    await c.shutdown(30);
    assert.deepEqual(p.killedWith, ['SIGTERM']);
  });

  it('formats parameter counts', () => {
    assert.deepEqual(
      [formatParameters(832384), formatParameters(494_032_768), formatParameters(7_615_616_512), formatParameters(12)],
      ['832k', '494.0M', '7.6B', '12'],
    );
  });
});
