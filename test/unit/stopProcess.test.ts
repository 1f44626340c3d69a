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

test('settlesWithin', async () => {
  assert.equal(await settlesWithin(Promise.resolve(), 0), true);
  assert.equal(await settlesWithin(new Promise(() => {}), 10), false);
  assert.equal(await settlesWithin(Promise.reject(new Error('x')), 0), true);
});
