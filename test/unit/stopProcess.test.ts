import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { escalateStop, settlesWithin } from '../../src/core/stopProcess';

/** A child that handles SIGINT/SIGTERM as the script says, and reports readiness on stdout. */
function child(script: string) {
  const p = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve) => p.stdout!.once('data', () => resolve()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => p.on('exit', (code, sig) => resolve(sig ?? code)));
  const sent: string[] = [];
  const send = (sig: NodeJS.Signals) => {
    sent.push(sig);
    return p.kill(sig);
  };
  return { p, ready, exited, sent, send };
}

test('a trainer that saves and exits on SIGINT gets only SIGINT', async () => {
  const c = child("process.on('SIGINT', () => setTimeout(() => process.exit(0), 50)); console.log('up'); setInterval(() => {}, 1000);");
  await c.ready;
  assert.equal(await escalateStop(c.send, c.exited, 2000), 'stopped');
  assert.deepEqual(c.sent, ['SIGINT']);
  assert.equal(await c.exited, 0);
});

test('one that ignores SIGINT gets SIGTERM after the grace period', async () => {
  const c = child("process.on('SIGINT', () => {}); console.log('up'); setInterval(() => {}, 1000);");
  await c.ready;
  const t0 = Date.now();
  assert.equal(await escalateStop(c.send, c.exited, 300), 'stopped-sigterm');
  assert.ok(Date.now() - t0 >= 290, 'waited the grace period');
  assert.deepEqual(c.sent, ['SIGINT', 'SIGTERM']);
  assert.equal(await c.exited, 'SIGTERM');
});

test('one that ignores SIGINT and SIGTERM is killed', async () => {
  const c = child("process.on('SIGINT', () => {}); process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000);");
  await c.ready;
  assert.equal(await escalateStop(c.send, c.exited, 200), 'stopped-sigkill');
  assert.deepEqual(c.sent, ['SIGINT', 'SIGTERM', 'SIGKILL']);
  assert.equal(await c.exited, 'SIGKILL');
});

test('a process that has exited already is not signalled', async () => {
  const c = child("console.log('up')");
  await c.ready;
  await c.exited;
  assert.equal(await escalateStop(c.send, c.exited, 100), 'already-stopped');
  assert.deepEqual(c.sent, []);
});

test('a trainer that keeps its heartbeat while it saves gets no SIGTERM, however long past the grace period', async () => {
  // It takes 4 grace periods to save (an evaluation being dropped, a large checkpoint), beating every 50 ms.
  const c = child("process.on('SIGINT', () => setTimeout(() => process.exit(0), 800)); console.log('up'); setInterval(() => {}, 1000);");
  await c.ready;
  let beat = Date.now();
  const beating = setInterval(() => (beat = Date.now()), 50);
  const t0 = Date.now();
  try {
    assert.equal(await escalateStop(c.send, c.exited, 200, { signOfLife: () => beat, pollMs: 20 }), 'stopped');
  } finally {
    clearInterval(beating);
  }
  assert.ok(Date.now() - t0 >= 750, 'it was given the time it needed');
  assert.deepEqual(c.sent, ['SIGINT']);
});

test('SIGTERM comes a grace period after the heartbeat stopped, not after SIGINT', async () => {
  const c = child("process.on('SIGINT', () => {}); console.log('up'); setInterval(() => {}, 1000);");
  await c.ready;
  let beat = Date.now();
  const t0 = Date.now();
  const beating = setInterval(() => (beat = Date.now()), 50);
  setTimeout(() => clearInterval(beating), 500); // hangs after 500 ms
  const sigtermAt: number[] = [];
  const send = (sig: NodeJS.Signals) => {
    if (sig === 'SIGTERM') sigtermAt.push(Date.now() - t0);
    return c.send(sig);
  };
  assert.equal(await escalateStop(send, c.exited, 200, { signOfLife: () => beat, pollMs: 20 }), 'stopped-sigterm');
  assert.deepEqual(c.sent, ['SIGINT', 'SIGTERM']);
  assert.ok(sigtermAt[0] >= 650, `SIGTERM at ${sigtermAt[0]} ms: the last beat (about 500 ms) + the grace period (200 ms)`);
});

test('asked to stop now, SIGTERM goes at once', async () => {
  const c = child("process.on('SIGINT', () => {}); console.log('up'); setInterval(() => {}, 1000);");
  await c.ready;
  let force: () => void = () => undefined;
  const now = new Promise<void>((r) => (force = r));
  setTimeout(force, 100);
  const t0 = Date.now();
  assert.equal(await escalateStop(c.send, c.exited, 60_000, { signOfLife: () => Date.now(), now, pollMs: 20 }), 'stopped-now');
  assert.ok(Date.now() - t0 < 5000);
  assert.deepEqual(c.sent, ['SIGINT', 'SIGTERM']);
});

test('settlesWithin', async () => {
  assert.equal(await settlesWithin(Promise.resolve(), 0), true);
  assert.equal(await settlesWithin(new Promise(() => {}), 10), false);
  assert.equal(await settlesWithin(Promise.reject(new Error('x')), 0), true);
});
